import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { type K8sObject } from './helm.js';
import { PROJECT_ROOT } from './server-process.js';
import { makeTempDir } from './temp-dir.js';
import { typecheck } from './tsc.js';

/** What is wrong with one rendered object, named `Kind/name`. */
export interface Problem {
  object: string;
  message: string;
}

interface KindSchemas {
  /** kubernetes-models' class: its validate() checks types, required fields and formats. */
  model: new (data: any) => { validate: () => void };
  /** The TypeScript type of the same object, for the compiler's excess property checks. */
  typeModule: string;
  typeName: string;
}

/**
 * Every kind the chart renders, by `apiVersion/kind`. kubernetes-types has no CRDs: the ServiceMonitor's
 * and the PrometheusRule's models and types both come from @kubernetes-models/prometheus-operator
 * (generated from the CRDs).
 */
const KINDS: Record<string, KindSchemas> = {
  'v1/ConfigMap': { model: ConfigMap, typeModule: 'kubernetes-types/core/v1', typeName: 'ConfigMap' },
  'v1/PersistentVolumeClaim': {
    model: PersistentVolumeClaim,
    typeModule: 'kubernetes-types/core/v1',
    typeName: 'PersistentVolumeClaim',
  },
  'v1/Pod': { model: Pod, typeModule: 'kubernetes-types/core/v1', typeName: 'Pod' },
  'v1/Secret': { model: Secret, typeModule: 'kubernetes-types/core/v1', typeName: 'Secret' },
  'v1/Service': { model: Service, typeModule: 'kubernetes-types/core/v1', typeName: 'Service' },
  'v1/ServiceAccount': { model: ServiceAccount, typeModule: 'kubernetes-types/core/v1', typeName: 'ServiceAccount' },
  'apps/v1/Deployment': { model: Deployment, typeModule: 'kubernetes-types/apps/v1', typeName: 'Deployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    typeModule: 'kubernetes-types/autoscaling/v2',
    typeName: 'HorizontalPodAutoscaler',
  },
  'batch/v1/Job': { model: Job, typeModule: 'kubernetes-types/batch/v1', typeName: 'Job' },
  'networking.k8s.io/v1/Ingress': { model: Ingress, typeModule: 'kubernetes-types/networking/v1', typeName: 'Ingress' },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    typeModule: 'kubernetes-types/networking/v1',
    typeName: 'NetworkPolicy',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    typeModule: 'kubernetes-types/policy/v1',
    typeName: 'PodDisruptionBudget',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    model: PrometheusRule,
    typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    typeName: 'IPrometheusRule',
  },
};

const nameOf = (object: K8sObject) => `${object.kind}/${object.metadata?.name}`;
const kindOf = (object: K8sObject) => `${object.apiVersion}/${object.kind}`;

/** Validates each object with its kubernetes-models class; an unknown kind is a problem too. */
export function validateWithModels(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const object of objects) {
    const schemas = KINDS[kindOf(object)];
    if (!schemas) {
      problems.push({ object: nameOf(object), message: `no schema for ${kindOf(object)}` });
      continue;
    }
    try {
      new schemas.model(object).validate();
    } catch (err) {
      problems.push({ object: nameOf(object), message: err instanceof Error ? err.message : String(err) });
    }
  }
  return problems;
}

/**
 * Type-checks each set of objects against kubernetes-types: every object becomes a typed object literal
 * (`const o0: Deployment = {...}`), so that the compiler flags a wrong type, a missing required field and
 * (what the JSON schemas let through) an unknown field. One compiler run for all the sets; the problems
 * come back by set name.
 */
export async function typecheckWithKubernetesTypes(
  sets: ReadonlyMap<string, readonly K8sObject[]>,
): Promise<Map<string, Problem[]>> {
  const temp = makeTempDir('k8s-typecheck-');
  try {
    const files: string[] = [];
    /** Per file, the object each line belongs to (lines of the typed literal). */
    const objectAtLine = new Map<string, string[]>();
    let index = 0;
    for (const [setName, objects] of sets) {
      const file = path.join(temp.dir, `set-${files.length}.ts`);
      const imports = new Map<string, string>();
      const declarations: string[] = [];
      const lineOwners: string[] = [];
      for (const object of objects) {
        const schemas = KINDS[kindOf(object)];
        if (!schemas) throw new Error(`${setName}: no TypeScript type for ${kindOf(object)}`);
        const key = `${schemas.typeModule}#${schemas.typeName}`;
        if (!imports.has(key)) imports.set(key, `T${imports.size}`);
        const declaration = `export const o${index++}: ${imports.get(key)} = ${JSON.stringify(object, null, 2)};`;
        declarations.push(declaration);
        for (let i = 0; i < declaration.split('\n').length; i++) lineOwners.push(nameOf(object));
      }
      const importLines = [...imports].map(([key, alias]) => {
        const [module, typeName] = key.split('#');
        return `import type { ${typeName} as ${alias} } from '${module}';`;
      });
      writeFileSync(file, [...importLines, ...declarations].join('\n') + '\n');
      objectAtLine.set(file, [...importLines.map(() => 'import'), ...lineOwners]);
      files.push(file);
    }

    const tsconfig = path.join(temp.dir, 'tsconfig.json');
    writeFileSync(
      tsconfig,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          target: 'es2023',
          module: 'preserve',
          moduleResolution: 'bundler',
          types: [],
          // The generated files live outside the project: resolve packages from its node_modules.
          paths: { '*': [path.join(PROJECT_ROOT, 'node_modules/*')] },
        },
        files,
      }),
    );
    const diagnostics = await typecheck(tsconfig);

    const problems = new Map<string, Problem[]>([...sets.keys()].map((name) => [name, []]));
    const setNames = [...sets.keys()];
    for (const { file, line, message } of diagnostics) {
      const setName = setNames[files.indexOf(file)];
      if (setName === undefined) throw new Error(`tsc reported on an unexpected file: ${file}: ${message}`);
      problems.get(setName)!.push({ object: objectAtLine.get(file)?.[line - 1] ?? 'unknown', message });
    }
    return problems;
  } finally {
    temp.remove();
  }
}
