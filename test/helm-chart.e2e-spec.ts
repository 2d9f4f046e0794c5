import assert from './support/assert.js';
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { type AppConfig, loadConfig } from '../src/config/app-config.js';
import { parseDuration } from '../src/config/duration.js';
import {
  CHART_DIR,
  ciValuesFiles,
  createHelm,
  type Helm,
  type K8sObject,
  NAMESPACE,
  type Render,
} from './support/helm.js';
import { type Problem, typecheckWithKubernetesTypes, validateWithModels } from './support/kubernetes-validation.js';
import { readDockerfile, readImageSpec } from './support/dockerfile.js';
import { jsonRequest } from './support/http.js';
import { freePort } from './support/ports.js';
import { runPromtool } from './support/prometheus.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { reachable, startRedisServer, stopRedisServer } from './support/redis.js';
import { PROJECT_ROOT, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const CI_FILES = ciValuesFiles();
const DEFAULT_FILE = 'ci/default-values.yaml';
const EXISTING_SECRET_FILE = 'ci/existing-secret-values.yaml';
const ALL_FEATURES_FILE = 'ci/ingress-servicemonitor-pdb-values.yaml';
const OPTIONAL_KINDS = ['Ingress', 'ServiceMonitor', 'PrometheusRule', 'PodDisruptionBudget', 'NetworkPolicy'];
/** The one copy of the rules and of the dashboard, which the chart embeds and compose mounts. */
const RULES_FILE = path.join(CHART_DIR, 'files/prometheus/items-service.rules.yml');
const DASHBOARD_FILE = path.join(CHART_DIR, 'files/grafana/items-service.json');
const isDashboard = (object: K8sObject) => object.kind === 'ConfigMap' && object.metadata.name.endsWith('-dashboard');
const POSTGRES_FILE = 'ci/postgres-values.yaml';
const POSTGRES_CHART_SECRET_FILE = 'ci/postgres-chart-secret-values.yaml';
const AUTOSCALING_FILE = 'ci/postgres-autoscaling-values.yaml';
const SECRET_MOUNT_PATH = '/var/run/secrets/items-service';
const DATABASE_URL_PATH = '/var/run/secrets/items-service-database/database-url';
const REDIS_URL_PATH = '/var/run/secrets/items-service-redis/redis-url';
const MIGRATION_JOB = 'Job/items-items-service-migrate';
const MIN_MARGIN_MS = 5_000;

// ---------------------------------------------------------------------------------------------------
// Reading the rendered objects

const byKind = (render: Render, kind: string) => render.objects.filter((object) => object.kind === kind);

function single(render: Render, kind: string): K8sObject {
  const found = byKind(render, kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

interface PodTemplate {
  owner: string;
  spec: any;
}

/** The pod specs of every workload: the Deployment's template and the `helm test` pod. */
function podTemplates(render: Render): PodTemplate[] {
  return render.objects.flatMap((object): PodTemplate[] => {
    const owner = `${object.kind}/${object.metadata.name}`;
    if (object.kind === 'Pod') return [{ owner, spec: object.spec }];
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind))
      return [{ owner, spec: object.spec.template.spec }];
    return [];
  });
}

function containersOf(spec: any): any[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** The service's container and the environment it starts with: its ConfigMap, then its own env. */
function serviceContainer(render: Render): { deployment: K8sObject; container: any; env: Record<string, string> } {
  const deployment = single(render, 'Deployment');
  const container = deployment.spec.template.spec.containers.find((c: any) => c.name === 'items-service');
  assert.ok(container, 'no items-service container');
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) continue;
    const configMap = byKind(render, 'ConfigMap').find((c) => c.metadata.name === source.configMapRef.name);
    assert.ok(configMap, `envFrom names ConfigMap ${source.configMapRef.name}, which the chart does not render`);
    Object.assign(env, configMap.data);
  }
  for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
  return { deployment, container, env };
}

/** Stand-ins for the files of Secrets the chart does not manage (the user's own). */
const SECRET_FILE_STAND_INS: Record<string, string> = {
  API_KEYS_FILE: 'stand-in-key-0123456789abcdef\n',
  ADMIN_API_KEYS_FILE: 'stand-in-key-0123456789abcdef\n',
  DATABASE_URL_FILE: 'postgres://stand-in@db.example.internal:5432/items\n',
  REDIS_URL_FILE: 'redis://:stand-in-password@redis.example.internal:6379\n',
};

/**
 * The configuration the service loads from the rendered Deployment's environment, with each `*_FILE`
 * written as the kubelet would mount it: from the chart's Secret, or a stand-in for the user's own.
 * Asserts that every such variable names a file of a mounted Secret.
 */
function loadRenderedConfig(render: Render): AppConfig {
  const { deployment, container, env } = serviceContainer(render);
  const secretFiles = makeTempDir('helm-keys-');
  try {
    const local = { ...env };
    for (const [variable, standIn] of Object.entries(SECRET_FILE_STAND_INS)) {
      if (local[variable] === undefined) continue;
      const mount = container.volumeMounts.find((m: any) => local[variable]!.startsWith(`${m.mountPath}/`));
      const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount?.name);
      const item = volume?.secret?.items?.find((i: any) => i.path === path.posix.basename(local[variable]!));
      assert.ok(item, `${variable}=${local[variable]} is not a file of a mounted Secret`);
      const ownSecret = byKind(render, 'Secret').find((s) => s.metadata.name === volume.secret.secretName);
      const stored = ownSecret?.data?.[item.key] as string | undefined;
      local[variable] = path.join(secretFiles.dir, variable);
      writeFileSync(local[variable], stored === undefined ? standIn : Buffer.from(stored, 'base64'));
    }
    return loadConfig(local);
  } finally {
    secretFiles.remove();
  }
}

function durationMs(env: Record<string, string>, variable: string): number {
  const text = env[variable];
  assert.ok(text !== undefined, `${variable} is not set`);
  const ms = parseDuration(text);
  assert.ok(ms !== undefined, `${variable}=${text} is not a duration the service accepts`);
  return ms;
}

interface CiValues {
  store?: { driver?: string };
  rateLimit?: { store?: string };
  auth?: { apiKeys?: string[]; adminApiKeys?: string[] };
  database?: { url?: string; existingSecret?: string; existingSecretKey?: string };
}

const valuesOf = (valuesFile: string) => parseYaml(readFileSync(path.join(CHART_DIR, valuesFile), 'utf8')) as CiValues;

/** The API keys and the database URL a values file gives the chart (the secrets that must not leak). */
function keysIn(valuesFile: string): string[] {
  const values = valuesOf(valuesFile);
  return [
    ...(values.auth?.apiKeys ?? []),
    ...(values.auth?.adminApiKeys ?? []),
    ...(values.database?.url ? [values.database.url] : []),
  ];
}

const isPostgres = (valuesFile: string) => valuesOf(valuesFile).store?.driver === 'postgres';

const hookOf = (object: K8sObject) => object.metadata.annotations?.['helm.sh/hook'];
const hookWeight = (object: K8sObject) => Number(object.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);

const base64 = (text: string) => Buffer.from(text).toString('base64');

function assertRestricted(template: PodTemplate): void {
  const pod = template.spec.securityContext ?? {};
  assert.equal(pod.runAsNonRoot, true, `${template.owner}: pod runAsNonRoot`);
  assert.equal(pod.runAsUser, 65534, `${template.owner}: pod runAsUser`);
  assert.equal(pod.runAsGroup, 65534, `${template.owner}: pod runAsGroup`);
  assert.equal(pod.fsGroup, 65534, `${template.owner}: pod fsGroup`);
  assert.equal(pod.seccompProfile?.type, 'RuntimeDefault', `${template.owner}: pod seccompProfile`);
  assert.equal(template.spec.automountServiceAccountToken, false, `${template.owner}: automountServiceAccountToken`);
  assert.equal(template.spec.hostNetwork ?? false, false, `${template.owner}: hostNetwork`);
  const containers = containersOf(template.spec);
  assert.ok(containers.length > 0, `${template.owner}: no containers`);
  for (const container of containers) {
    const where = `${template.owner} container ${container.name}`;
    const context = container.securityContext ?? {};
    assert.equal(context.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
    assert.equal(context.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
    assert.equal(context.runAsNonRoot, true, `${where}: runAsNonRoot`);
    assert.equal(context.privileged ?? false, false, `${where}: privileged`);
    assert.deepEqual(context.capabilities?.drop, ['ALL'], `${where}: capabilities.drop`);
    assert.deepEqual(context.capabilities?.add ?? [], [], `${where}: capabilities.add`);
    assert.ok(
      context.runAsUser === undefined || context.runAsUser !== 0,
      `${where}: runAsUser must not be root (${context.runAsUser})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------

describe('Helm chart helm/items-service', () => {
  let helm: Helm;
  const renders = new Map<string, Render>();

  beforeAll(async () => {
    helm = createHelm();
    for (const file of CI_FILES) renders.set(file, await helm.template([file]));
  });
  afterAll(() => helm?.remove());

  const rendered = (file: string) => {
    const render = renders.get(file);
    assert.ok(render, `${file} was not rendered`);
    return render;
  };

  it('when the ci directory is listed, then it has the default, all-features and existing-secret values files', () => {
    for (const file of [DEFAULT_FILE, ALL_FEATURES_FILE, EXISTING_SECRET_FILE]) assert.ok(CI_FILES.includes(file));
  });

  // helm lint turns the templates' `fail` into an info line, so values.yaml alone lints clean although
  // it does not render without a key (a test below); the renders are checked by `helm template`.
  describe('helm lint --strict', () => {
    for (const file of [undefined, ...CI_FILES]) {
      it(`when linted with ${file ?? 'values.yaml alone'}, then there is no warning or error`, async () => {
        const result = await helm.run(['lint', '.', '--strict', ...(file ? ['--values', file] : [])]);
        const output = result.stdout + result.stderr;
        assert.equal(result.code, 0, output);
        assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/);
        assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });
    }
  });

  describe('Kubernetes schemas', () => {
    /** An unknown field: no JSON schema of Kubernetes' rejects it; the compiler's excess property check does. */
    let unknownField: Render;
    /** A wrong type inside an object the chart passes through as it is: the chart's schema cannot see it. */
    let wrongType: Render;
    let typeProblems: Map<string, Problem[]>;

    beforeAll(async () => {
      unknownField = await helm.template([DEFAULT_FILE], { set: ['containerSecurityContext.readOnlyRootFS=true'] });
      wrongType = await helm.template([DEFAULT_FILE], { set: ['podSecurityContext.runAsUser=abc'] });
      const sets = new Map(CI_FILES.map((file) => [file, rendered(file).objects]));
      sets.set('unknown-field', unknownField.objects);
      typeProblems = await typecheckWithKubernetesTypes(sets);
    });

    for (const file of CI_FILES) {
      it(`when ${file} is rendered, then every object is valid for kubernetes-models`, () => {
        const render = rendered(file);
        assert.ok(render.objects.length >= 5, `only ${render.objects.length} objects`);
        assert.deepEqual(validateWithModels(render.objects), []);
      });

      it(`when ${file} is rendered, then every object type-checks against kubernetes-types`, () => {
        assert.deepEqual(typeProblems.get(file), []);
      });
    }

    it('when a security context has an unknown key, then the type check names it (the JSON schemas let it through)', () => {
      assert.deepEqual(validateWithModels(unknownField.objects), []);
      const problems = typeProblems.get('unknown-field') ?? [];
      // The Deployment's container and the test pod's.
      assert.equal(problems.length, 2, JSON.stringify(problems, null, 2));
      for (const problem of problems) {
        assert.match(problem.message, /TS2353: .*'"?readOnlyRootFS"?' does not exist in type 'SecurityContext'/);
      }
      assert.deepEqual(problems.map((problem) => problem.object).sort(), [
        'Deployment/items-items-service',
        'Pod/items-items-service-test-connection',
      ]);
    });

    it('when a security context field has the wrong type, then kubernetes-models names the field', () => {
      const problems = validateWithModels(wrongType.objects);
      assert.equal(problems.length, 2, JSON.stringify(problems, null, 2));
      assert.match(problems[0]!.message, /spec\/template\/spec\/securityContext\/runAsUser must be integer/);
      assert.match(problems[1]!.message, /spec\/securityContext\/runAsUser must be integer/);
    });
  });

  describe('policies', () => {
    for (const file of CI_FILES) {
      describe(`with ${file}`, () => {
        const keys = keysIn(file);

        it('then every container of every pod, the test pod and the migration Job included, has the restricted security context', () => {
          const templates = podTemplates(rendered(file));
          assert.deepEqual(templates.map((t) => t.owner).sort(), [
            'Deployment/items-items-service',
            ...(isPostgres(file) ? [MIGRATION_JOB] : []),
            'Pod/items-items-service-test-connection',
          ]);
          for (const template of templates) assertRestricted(template);
        });

        it('then /tmp is writable, and /data too with the JSON file (no volume at all with PostgreSQL), and the root file system is read-only', () => {
          const render = rendered(file);
          const { deployment, container } = serviceContainer(render);
          const volumes = new Map<string, any>(
            deployment.spec.template.spec.volumes.map((volume: any) => [volume.name, volume]),
          );
          const mountAt = (mountPath: string) => container.volumeMounts.find((m: any) => m.mountPath === mountPath);
          assert.ok(volumes.get(mountAt('/tmp')?.name)?.emptyDir, '/tmp is not an emptyDir');
          if (isPostgres(file)) {
            assert.equal(mountAt('/data'), undefined, '/data is mounted with PostgreSQL');
            for (const volume of volumes.values()) assert.equal(volume.persistentVolumeClaim, undefined, volume.name);
            assert.equal(byKind(render, 'PersistentVolumeClaim').length, 0);
          } else {
            const data = volumes.get(mountAt('/data')?.name);
            assert.ok(data?.persistentVolumeClaim ?? data?.emptyDir, '/data has no volume');
          }
        });

        it('then the probes ask /startupz, /healthz and /readyz on the port named http, which is PORT', () => {
          const { container, env } = serviceContainer(rendered(file));
          const http = container.ports.find((port: any) => port.name === 'http');
          assert.ok(http, 'no container port named http');
          assert.equal(http.containerPort, Number(env.PORT), 'the http port is not PORT');
          const probes = { startupProbe: '/startupz', livenessProbe: '/healthz', readinessProbe: '/readyz' };
          for (const [probe, probePath] of Object.entries(probes)) {
            assert.deepEqual(container[probe]?.httpGet, { path: probePath, port: 'http' }, probe);
          }
          const metrics = container.ports.find((port: any) => port.name === 'metrics');
          assert.equal(metrics?.containerPort, env.METRICS_PORT === undefined ? undefined : Number(env.METRICS_PORT));
        });

        it('then terminationGracePeriodSeconds covers the drain delay, the shutdown timeout and 5 s', () => {
          const { deployment, env } = serviceContainer(rendered(file));
          const graceMs = deployment.spec.template.spec.terminationGracePeriodSeconds * 1000;
          const needed = durationMs(env, 'SHUTDOWN_DRAIN_DELAY') + durationMs(env, 'SHUTDOWN_TIMEOUT') + MIN_MARGIN_MS;
          assert.ok(graceMs >= needed, `grace ${graceMs} ms < ${needed} ms`);
        });

        it('then no API key or database URL appears anywhere but base64-encoded in a Secret', () => {
          const render = rendered(file);
          for (const key of keys) {
            assert.ok(!render.text.includes(key), 'a secret appears in clear in the rendered manifests');
            for (const object of render.objects) {
              if (object.kind === 'Secret') continue;
              const text = JSON.stringify(object);
              assert.ok(!text.includes(key) && !text.includes(base64(key)), `a secret appears in ${object.kind}`);
            }
          }
          // Not even a URL without its password: no postgres:// or redis:// outside a Secret.
          for (const object of render.objects) {
            if (object.kind !== 'Secret') assert.doesNotMatch(JSON.stringify(object), /(postgres(ql)?|rediss?):\/\//);
          }
          const stored: string[] = [];
          for (const secret of byKind(render, 'Secret')) {
            assert.equal(secret.stringData, undefined, 'stringData holds secrets in clear');
            for (const value of Object.values<string>(secret.data ?? {}))
              stored.push(...Buffer.from(value, 'base64').toString('utf8').split('\n'));
          }
          for (const key of keys) assert.ok(stored.includes(key), 'a secret is missing from the Secrets');
        });

        it('then API_KEYS_FILE and ADMIN_API_KEYS_FILE name files of the mounted key Secret', () => {
          const render = rendered(file);
          const { deployment, container, env } = serviceContainer(render);
          for (const variable of ['API_KEYS', 'ADMIN_API_KEYS']) {
            assert.equal(env[variable], undefined, `${variable} is set in clear`);
            const keysFile = env[`${variable}_FILE`];
            if (keysFile === undefined) continue;
            const mount = container.volumeMounts.find((m: any) => keysFile.startsWith(`${m.mountPath}/`));
            assert.ok(mount, `${variable}_FILE=${keysFile} is not in a mounted volume`);
            assert.equal(mount.mountPath, SECRET_MOUNT_PATH);
            assert.equal(mount.readOnly, true);
            const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
            const item = volume?.secret?.items?.find((i: any) => i.path === path.posix.basename(keysFile));
            assert.ok(item, `${variable}_FILE=${keysFile}: the Secret volume has no such item`);
            assert.equal(volume.secret.defaultMode, 0o440);
            const ownSecret = byKind(render, 'Secret').find((s) => s.metadata.name === volume.secret.secretName);
            if (ownSecret) assert.ok(item.key in ownSecret.data, `the Secret has no key ${item.key}`);
          }
        });

        it('then the service accepts the environment the chart gives it, with the keys mounted as files', () => {
          const render = rendered(file);
          const { container, env } = serviceContainer(render);
          const config = loadRenderedConfig(render);
          assert.equal(config.http.port, container.ports.find((p: any) => p.name === 'http').containerPort);
          if (isPostgres(file)) {
            assert.equal(config.store.driver, 'postgres');
            assert.match(config.store.database?.url ?? '', /^postgres:\/\//);
          } else {
            assert.equal(config.store.driver, 'json-file');
            assert.equal(config.store.path, '/data/items.json');
          }
          assert.equal(config.rateLimit.store, valuesOf(file).rateLimit?.store ?? 'memory');
          if (config.rateLimit.store === 'redis') assert.match(config.rateLimit.redis?.url ?? '', /^redis:\/\//);
          if (env.API_KEYS_FILE !== undefined) assert.ok(config.auth.apiKeys.length > 0, 'no API key was read');
          for (const key of keys) assert.ok(config.secrets.includes(key), 'a key was not read');
        });

        it('then no selector holds helm.sh/chart, and the Service selects the service pod, not the test pod', () => {
          const render = rendered(file);
          const { deployment } = serviceContainer(render);
          const selectors = [
            deployment.spec.selector.matchLabels,
            single(render, 'Service').spec.selector,
            ...byKind(render, 'PodDisruptionBudget').map((pdb) => pdb.spec.selector.matchLabels),
            ...byKind(render, 'NetworkPolicy')
              .filter((policy) => hookOf(policy) === undefined)
              .map((policy) => policy.spec.podSelector.matchLabels),
            ...byKind(render, 'ServiceMonitor').map((monitor) => monitor.spec.selector.matchLabels),
          ];
          const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
            Object.entries(selector).every(([name, value]) => labels[name] === value);
          const migrationPods = byKind(render, 'Job').map((job) => job.spec.template.metadata.labels);
          for (const selector of selectors) {
            assert.ok(!('helm.sh/chart' in selector), 'a selector holds helm.sh/chart');
            assert.ok(selects(selector, deployment.spec.template.metadata.labels), 'a selector misses the pod');
            assert.ok(!selects(selector, single(render, 'Pod').metadata.labels), 'a selector takes the test pod');
            for (const labels of migrationPods)
              assert.ok(!selects(selector, labels), 'a selector takes the migration pod');
          }
          // The migration Job's own NetworkPolicy (a hook) takes its pod and no other.
          for (const policy of byKind(render, 'NetworkPolicy').filter((p) => hookOf(p) !== undefined)) {
            const selector = policy.spec.podSelector.matchLabels;
            assert.ok(!('helm.sh/chart' in selector), 'a selector holds helm.sh/chart');
            assert.equal(migrationPods.length, 1);
            assert.ok(selects(selector, migrationPods[0]), "the Job's policy misses its pod");
            assert.ok(
              !selects(selector, deployment.spec.template.metadata.labels),
              "the Job's policy takes the service",
            );
            assert.ok(!selects(selector, single(render, 'Pod').metadata.labels), "the Job's policy takes the test pod");
          }
        });

        it('then the ServiceMonitor scrapes /metrics on a Service port that leads to the serving container port', () => {
          const render = rendered(file);
          const { container, env } = serviceContainer(render);
          for (const monitor of byKind(render, 'ServiceMonitor')) {
            const [endpoint] = monitor.spec.endpoints;
            assert.equal(endpoint.path, '/metrics');
            assert.equal(endpoint.port, env.METRICS_PORT === undefined ? 'http' : 'metrics');
            const servicePort = single(render, 'Service').spec.ports.find((p: any) => p.name === endpoint.port);
            assert.ok(servicePort, `the Service has no port named ${endpoint.port}`);
            assert.ok(container.ports.some((p: any) => p.name === servicePort.targetPort));
          }
        });
      });
    }

    it('when the shutdown timings are not the defaults, then the grace period is their sum plus the margin', async () => {
      const render = await helm.template([DEFAULT_FILE], {
        set: ['shutdown.drainDelaySeconds=30', 'shutdown.timeoutSeconds=120', 'shutdown.marginSeconds=7'],
      });
      const { deployment, env } = serviceContainer(render);
      assert.equal(env.SHUTDOWN_DRAIN_DELAY, '30s');
      assert.equal(env.SHUTDOWN_TIMEOUT, '120s');
      assert.equal(deployment.spec.template.spec.terminationGracePeriodSeconds, 157);
    });

    it('when replicaCount is 2, then rendering fails and says why', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], { set: ['replicaCount=2'] });
      assert.match(
        stderr,
        /replicaCount must be 1: the JSON-file store is owned by one process \(strategy Recreate, ReadWriteOnce volume\)/,
      );
      // store.driver json-file is the default, and said explicitly it is refused the same way.
      const explicit = await helm.templateFailure([DEFAULT_FILE], {
        set: ['replicaCount=3', 'store.driver=json-file'],
      });
      assert.match(explicit, /replicaCount must be 1: .*got 3\. Set store\.driver=postgres to run several replicas/);
    });

    it('when replicaCount is 0, then it renders (the service is stopped, the data kept)', async () => {
      const render = await helm.template([DEFAULT_FILE], { set: ['replicaCount=0'] });
      assert.equal(single(render, 'Deployment').spec.replicas, 0);
      assert.equal(byKind(render, 'PersistentVolumeClaim').length, 1);
    });

    for (const [flag, value, message] of [
      ['set', 'replicaCount=abc', /replicaCount: Invalid type. Expected: integer, given: string/],
      ['setString', 'service.port=x', /service\.port: Invalid type. Expected: integer, given: string/],
      ['set', 'replicaCont=1', /\(root\): Additional property replicaCont is not allowed/],
      ['set', 'persistence.enabeld=false', /persistence: Additional property enabeld is not allowed/],
      ['set', 'auth.apiKeys[0]=short', /auth\.apiKeys\.0: Does not match pattern/],
      ['set', 'shutdown.marginSeconds=0', /shutdown\.marginSeconds: Must be greater than or equal to 5/],
      [
        'set',
        'livenessProbe.successThreshold=2',
        /livenessProbe\.successThreshold: livenessProbe\.successThreshold does not match: 1/,
      ],
    ] as const) {
      it(`when --${flag === 'set' ? 'set' : 'set-string'} ${value}, then values.schema.json rejects it`, async () => {
        const stderr = await helm.templateFailure([DEFAULT_FILE], { [flag]: [value] });
        assert.match(stderr, /values don't meet the specifications of the schema/);
        assert.match(stderr, message);
      });
    }

    it('when the defaults are rendered, then no optional feature is on, and the store is one pod on a volume', () => {
      const render = rendered(DEFAULT_FILE);
      for (const kind of [...OPTIONAL_KINDS, 'HorizontalPodAutoscaler'])
        assert.equal(byKind(render, kind).length, 0, `${kind} is on by default`);
      assert.equal(render.objects.filter(isDashboard).length, 0, 'the dashboard ConfigMap is on by default');
      const { deployment, container, env } = serviceContainer(render);
      assert.equal(deployment.spec.replicas, 1);
      assert.deepEqual(deployment.spec.strategy, { type: 'Recreate' });
      const claim = single(render, 'PersistentVolumeClaim');
      assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
      assert.equal(claim.spec.resources.requests.storage, '1Gi');
      const data = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'data');
      assert.equal(data.persistentVolumeClaim.claimName, claim.metadata.name);
      assert.ok(container.volumeMounts.some((m: any) => m.name === 'data' && m.mountPath === '/data'));
      assert.equal(env.DB_PATH, '/data/items.json');
      assert.equal(env.APP_ENV, 'prod');
      assert.equal(container.resources, undefined, 'resources are chosen for the user');
      assert.equal(single(render, 'Service').spec.type, 'ClusterIP');
      assert.equal(single(render, 'Service').spec.ports[0].port, 80);
      assert.equal(single(render, 'Service').spec.ports[0].targetPort, 'http');
      assert.equal(single(render, 'ServiceAccount').automountServiceAccountToken, false);
      assert.equal(single(render, 'Pod').metadata.annotations?.['helm.sh/hook'], 'test');
    });

    it('when every optional feature is on, then Ingress, ServiceMonitor, PodDisruptionBudget and NetworkPolicy are rendered', () => {
      const render = rendered(ALL_FEATURES_FILE);
      for (const kind of OPTIONAL_KINDS) assert.equal(byKind(render, kind).length, 1, kind);
      const pdb = single(render, 'PodDisruptionBudget');
      // One replica: maxUnavailable 0 (or minAvailable 1) would block every node drain.
      assert.equal(pdb.spec.maxUnavailable, 1);
      assert.equal(pdb.spec.minAvailable, undefined);
      const ingress = single(render, 'Ingress');
      assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, single(render, 'Service').metadata.name);
      assert.equal(single(render, 'ServiceMonitor').metadata.namespace, NAMESPACE);
      assert.equal(serviceContainer(render).env.TRUST_PROXY, '1');
      assert.equal(render.objects.filter(isDashboard).length, 1, 'the dashboard ConfigMap');
    });

    it('when the PrometheusRule and the dashboard are on, then they hold the repo’s rule file (runbook links at the address given) and dashboard as they are, for the job the ServiceMonitor names', () => {
      const render = rendered(ALL_FEATURES_FILE);
      const rule = single(render, 'PrometheusRule');
      // As it is, but for the runbooks' address (metrics.prometheusRule.runbookBaseUrl).
      const placeholder = 'https://git.example.com/items-service/blob/main/docs/runbooks/';
      const served = 'https://git.acme.example/platform/items-service/blob/main/docs/runbooks/';
      const file = readFileSync(RULES_FILE, 'utf8');
      assert.ok(file.includes(placeholder));
      // And each selector narrowed to the release's namespace: another release's series are not its own.
      const scoped = file.replaceAll('job="items-service"', `job="items-service", namespace="${NAMESPACE}"`);
      assert.deepEqual(rule.spec, parseYaml(scoped.replaceAll(placeholder, served)));
      assert.equal(rule.metadata.labels?.release, 'prometheus');
      assert.equal(rule.metadata.namespace, NAMESPACE);
      // The rules select job="items-service": the ServiceMonitor makes the job the Service's name label.
      assert.equal(single(render, 'ServiceMonitor').spec.jobLabel, 'app.kubernetes.io/name');
      assert.equal(single(render, 'Service').metadata.labels?.['app.kubernetes.io/name'], 'items-service');
      const dashboard = render.objects.find(isDashboard)!;
      assert.deepEqual(
        JSON.parse(dashboard.data['items-service.json']),
        JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')),
      );
      assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1', 'the label the Grafana sidecar looks for');
      assert.equal(dashboard.metadata.annotations?.grafana_folder, 'Services');
    });

    it('when other SLOs are set, then the burn-rate thresholds, the latency bucket and the alerts’ texts follow, and promtool accepts the rules', async () => {
      const render = await helm.template([ALL_FEATURES_FILE], {
        set: ['metrics.prometheusRule.slo.availability=99.5', 'metrics.prometheusRule.slo.latency.target=95'],
        setString: ['metrics.prometheusRule.slo.latency.threshold=0.5'],
      });
      const { spec } = single(render, 'PrometheusRule');
      const alerts = new Map<string, { expr: string; annotations: Record<string, string> }>(
        spec.groups.flatMap((group: any) =>
          group.rules.filter((rule: any) => rule.alert).map((rule: any) => [rule.alert, rule]),
        ),
      );
      const thresholds = (alert: string) =>
        [...alerts.get(alert)!.expr.matchAll(/> \(?(?:[\d.]+ \* )?([\d.e-]+)\)?/g)].map((match) => match[1]);
      assert.deepEqual(thresholds('ItemsServiceAvailabilityBudgetBurnFast'), ['0.005', '0.005', '0.005', '0.005']);
      assert.deepEqual(thresholds('ItemsServiceAvailabilityBudgetBurnSlow'), ['0.005', '0.005', '0.005', '0.005']);
      assert.deepEqual(thresholds('ItemsServiceLatencyBudgetBurnFast'), ['0.05', '0.05', '0.05', '0.05']);
      assert.deepEqual(thresholds('ItemsServiceLatencyBudgetBurnSlow'), ['0.05', '0.05', '0.05', '0.05']);
      const text = JSON.stringify(spec);
      assert.doesNotMatch(text, /le=\\"0\.25\\"|0\.001\b|\* 0\.01\)|99\.9%|250 ms|0\.25 s/);
      assert.equal(text.match(/le=\\"0\.5\\"/g)?.length, 7, 'each window of the latency SLI');
      assert.match(
        alerts.get('ItemsServiceAvailabilityBudgetBurnFast')!.annotations.description!,
        /0\.5% the 99\.5% availability SLO/,
      );
      assert.match(
        alerts.get('ItemsServiceLatencyBudgetBurnSlow')!.annotations.description!,
        /the 5% the latency SLO \(95% within 0\.5 s\)/,
      );
      const rules = path.join(PROJECT_ROOT, 'build', `slo-rules-${randomBytes(4).toString('hex')}.yml`);
      writeFileSync(rules, JSON.stringify(spec));
      try {
        const checked = await runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', rules]);
        assert.equal(checked.code, 0, checked.stdout + checked.stderr);
        assert.match(checked.stdout, /SUCCESS: \d+ rules found/);
      } finally {
        rmSync(rules, { force: true });
      }
    });

    it('when the chart is renamed (nameOverride), then the PrometheusRule selects the job the ServiceMonitor gives it', async () => {
      const render = await helm.template([ALL_FEATURES_FILE], { set: ['nameOverride=shop-items'] });
      const rules = JSON.stringify(single(render, 'PrometheusRule').spec);
      assert.doesNotMatch(rules, /job=\\"items-service\\"/);
      assert.match(rules, new RegExp(`job=\\\\"shop-items\\\\", namespace=\\\\"${NAMESPACE}\\\\"`));
      assert.equal(single(render, 'Service').metadata.labels?.['app.kubernetes.io/name'], 'shop-items');
      assert.equal(single(render, 'ServiceMonitor').spec.jobLabel, 'app.kubernetes.io/name');
    });

    it('when an existing Secret is named, then the chart creates none and mounts that one', () => {
      const render = rendered(EXISTING_SECRET_FILE);
      assert.equal(byKind(render, 'Secret').length, 0);
      const { deployment, env } = serviceContainer(render);
      const volume = deployment.spec.template.spec.volumes.find((v: any) => v.secret);
      assert.equal(volume.secret.secretName, 'items-api-keys');
      assert.deepEqual(volume.secret.items, [
        { key: 'client-keys', path: 'api-keys' },
        { key: 'admin-keys', path: 'admin-api-keys' },
      ]);
      assert.equal(env.API_KEYS_FILE, `${SECRET_MOUNT_PATH}/api-keys`);
      assert.equal(env.ADMIN_API_KEYS_FILE, `${SECRET_MOUNT_PATH}/admin-api-keys`);
      assert.equal(deployment.spec.template.metadata.annotations['checksum/secret'], undefined);
      assert.equal(byKind(render, 'PersistentVolumeClaim').length, 0, 'a claim is created beside the existing one');
    });

    it('when no API key is given with APP_ENV=prod, then rendering fails and names the three ways out', async () => {
      const stderr = await helm.templateFailure([]);
      assert.match(stderr, /config\.appEnv=prod the service refuses to start without API keys/);
      for (const option of ['auth.apiKeys', 'auth.existingSecret', 'auth.disabled=true']) {
        assert.ok(stderr.includes(option), `the message does not mention ${option}`);
      }
    });

    it('when auth is disabled on purpose, then it renders with AUTH_DISABLED=true and no key Secret', async () => {
      const render = await helm.template([], { set: ['auth.disabled=true'] });
      const { container, env } = serviceContainer(render);
      assert.equal(env.AUTH_DISABLED, 'true');
      assert.equal(env.API_KEYS_FILE, undefined);
      assert.equal(byKind(render, 'Secret').length, 0);
      assert.ok(!container.volumeMounts.some((m: any) => m.mountPath === SECRET_MOUNT_PATH));
    });

    it('when auth is disabled and keys are given too, then rendering fails (the service would refuse both)', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], { set: ['auth.disabled=true'] });
      assert.match(stderr, /auth\.disabled=true and API keys .* are both set/);
    });

    it('when a setting or a key changes, then the pod template checksum changes (the pod restarts)', async () => {
      const annotations = async (set: string[]) =>
        single(await helm.template([DEFAULT_FILE], { set }), 'Deployment').spec.template.metadata.annotations;
      const before = single(rendered(DEFAULT_FILE), 'Deployment').spec.template.metadata.annotations;
      const config = await annotations(['config.logLevel=debug']);
      const key = await annotations(['auth.apiKeys[0]=another-ci-api-key-0123456789']);
      assert.match(before['checksum/config'], /^[0-9a-f]{64}$/);
      assert.notEqual(config['checksum/config'], before['checksum/config']);
      assert.equal(config['checksum/secret'], before['checksum/secret']);
      assert.notEqual(key['checksum/secret'], before['checksum/secret']);
    });

    it('when persistence is off, then the store is an emptyDir and no claim is made', async () => {
      const render = await helm.template([DEFAULT_FILE], { set: ['persistence.enabled=false'] });
      assert.equal(byKind(render, 'PersistentVolumeClaim').length, 0);
      const data = single(render, 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'data');
      assert.deepEqual(data.emptyDir, {});
    });

    it('when installed with the defaults, then NOTES says how to reach the service and where the keys are, and warns of nothing', async () => {
      const notes = await helm.notes([DEFAULT_FILE]);
      assert.match(notes, /port-forward svc\/items-items-service 8080:80/);
      assert.match(notes, /get secret items-items-service -o jsonpath='\{\.data\.api-keys\}' \| base64 -d/);
      assert.match(notes, /helm test items/);
      assert.doesNotMatch(notes, /WARNING/);
    });

    it('when persistence is off, then NOTES warns that the items are lost with the pod', async () => {
      assert.match(await helm.notes(['ci/metrics-port-values.yaml']), /WARNING: persistence is disabled\..*LOST/);
    });

    it('when the Ingress is on without metrics.port, then NOTES warns that /metrics is exposed', async () => {
      const notes = await helm.notes([DEFAULT_FILE], { set: ['ingress.enabled=true'] });
      assert.match(notes, /http:\/\/items\.example\.local\//);
      assert.match(notes, /\/metrics is served on the API port, so the Ingress exposes it too/);
      const configured = await helm.notes([ALL_FEATURES_FILE]);
      assert.match(configured, /https:\/\/items\.example\.com\//);
      assert.doesNotMatch(configured, /ONE rate-limit bucket/);
    });

    it('when the alerts are on without a ServiceMonitor or with the placeholder runbook links, then NOTES warns of each', async () => {
      const bare = await helm.notes([DEFAULT_FILE], { set: ['metrics.prometheusRule.enabled=true'] });
      assert.match(bare, /selects job="items-service", namespace="items-test"/);
      assert.match(bare, /metrics\.serviceMonitor\.enabled is false: .*\n.*ItemsServiceTargetMissing fires/);
      assert.match(bare, /metrics\.prometheusRule\.runbookBaseUrl is empty/);
      const configured = await helm.notes([ALL_FEATURES_FILE]);
      assert.match(configured, /selects job="items-service"/);
      assert.doesNotMatch(configured, /serviceMonitor\.enabled is false|runbookBaseUrl is empty/);
    });

    it('when the keys come from an existing Secret or auth is off, then NOTES says so', async () => {
      assert.match(await helm.notes([EXISTING_SECRET_FILE]), /From your Secret items-api-keys, key "client-keys"/);
      assert.match(await helm.notes([], { set: ['auth.disabled=true'] }), /Authentication is DISABLED/);
    });

    it('when the helm test pod is rendered, then it runs the health check of the image, with its node, against the Service', () => {
      // The image is distroless: no shell, and node only at the path the Dockerfile's ENTRYPOINT uses.
      const pod = single(rendered(DEFAULT_FILE), 'Pod');
      const [container] = pod.spec.containers;
      const image = readImageSpec(readDockerfile());
      assert.equal(container.command[0], image.entrypoint[0]);
      assert.deepEqual(container.command.slice(0, 2), image.healthcheck);
      assert.ok(
        existsSync(path.join(PROJECT_ROOT, 'src/health/container-healthcheck.ts')),
        'the health check script is gone',
      );
      assert.equal(container.command[2], `http://items-items-service:80/readyz`);
      assert.equal(
        container.image,
        single(rendered(DEFAULT_FILE), 'Deployment').spec.template.spec.containers[0].image,
      );
    });
  });

  describe('store.driver=postgres', () => {
    const job = (render: Render) => single(render, 'Job');
    const jobContainer = (render: Render) => {
      const [container, ...others] = job(render).spec.template.spec.containers;
      assert.equal(others.length, 0, 'the Job runs one container');
      return container;
    };
    /** The Secret volume behind a file variable of a container (where the kubelet puts the file). */
    const secretBehind = (podSpec: any, container: any, file: string) => {
      const mount = container.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${file} is not in a mounted volume`);
      assert.equal(mount.readOnly, true, `${file}: the mount is writable`);
      const volume = podSpec.volumes.find((v: any) => v.name === mount.name);
      const item = volume?.secret?.items?.find((i: any) => i.path === path.posix.basename(file));
      assert.ok(item, `${file}: the Secret volume has no such item`);
      assert.equal(volume.secret.defaultMode, 0o440);
      return { secretName: volume.secret.secretName as string, key: item.key as string };
    };

    it('when rendered with 3 replicas and an existing Secret, then the Deployment rolls (maxUnavailable 0) with no volume, and reads the URL from a file of that Secret', () => {
      const render = rendered(POSTGRES_FILE);
      const { deployment, container, env } = serviceContainer(render);
      assert.equal(deployment.spec.replicas, 3);
      assert.deepEqual(deployment.spec.strategy, {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
      });
      assert.equal(byKind(render, 'PersistentVolumeClaim').length, 0);
      assert.ok(!deployment.spec.template.spec.volumes.some((v: any) => v.persistentVolumeClaim || v.name === 'data'));
      assert.equal(deployment.spec.template.spec.volumeClaimTemplates, undefined);
      assert.equal(env.STORE_DRIVER, 'postgres');
      assert.equal(env.DB_PATH, undefined);
      assert.equal(env.DATABASE_URL, undefined, 'DATABASE_URL is set in clear');
      assert.ok(!container.env.some((e: any) => e.name === 'DATABASE_URL'), 'DATABASE_URL from a secretKeyRef');
      assert.equal(env.DATABASE_URL_FILE, DATABASE_URL_PATH);
      assert.deepEqual(secretBehind(deployment.spec.template.spec, container, DATABASE_URL_PATH), {
        secretName: 'items-database',
        key: 'url',
      });
      assert.equal(byKind(render, 'Secret').length, 0, 'the chart creates a Secret beside the existing ones');
      assert.equal(env.DATABASE_POOL_MAX, '20');
      assert.equal(durationMs(env, 'DATABASE_CONNECT_TIMEOUT'), 3_000);
      assert.equal(durationMs(env, 'DATABASE_STATEMENT_TIMEOUT'), 10_000);
    });

    it('when rendered with several replicas, then a PodDisruptionBudget lets one pod go at a time and the pods spread over nodes', () => {
      const { deployment } = serviceContainer(rendered(POSTGRES_FILE));
      const pdb = single(rendered(POSTGRES_FILE), 'PodDisruptionBudget');
      assert.equal(pdb.spec.maxUnavailable, 1);
      const spread = deployment.spec.template.spec.topologySpreadConstraints;
      const byNode = spread.find((c: any) => c.topologyKey === 'kubernetes.io/hostname');
      assert.equal(byNode?.whenUnsatisfiable, 'ScheduleAnyway');
      assert.deepEqual(byNode.labelSelector.matchLabels, deployment.spec.selector.matchLabels);
    });

    it('when replicas are 1 or the budget is off, then no PodDisruptionBudget; when it is on, one', async () => {
      const one = await helm.template([POSTGRES_FILE], { set: ['replicaCount=1'] });
      assert.equal(byKind(one, 'PodDisruptionBudget').length, 0);
      assert.equal(single(one, 'Deployment').spec.template.spec.topologySpreadConstraints, undefined);
      const off = await helm.template([POSTGRES_FILE], { set: ['podDisruptionBudget.enabled=false'] });
      assert.equal(byKind(off, 'PodDisruptionBudget').length, 0);
      const on = await helm.template([POSTGRES_FILE], { set: ['replicaCount=1', 'podDisruptionBudget.enabled=true'] });
      assert.equal(byKind(on, 'PodDisruptionBudget').length, 1);
    });

    it('when the operator sets maxUnavailable or its own spread, then the chart uses them', async () => {
      const render = await helm.template([POSTGRES_FILE], {
        set: [
          'rollingUpdate.maxUnavailable=1',
          'topologySpreadConstraints[0].maxSkew=2',
          'topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone',
          'topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule',
        ],
      });
      const { deployment } = serviceContainer(render);
      assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 1);
      assert.deepEqual(deployment.spec.template.spec.topologySpreadConstraints, [
        {
          maxSkew: 2,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'DoNotSchedule',
          labelSelector: { matchLabels: deployment.spec.selector.matchLabels },
        },
      ]);
      assert.deepEqual(validateWithModels(render.objects), []);
    });

    for (const file of [POSTGRES_FILE, POSTGRES_CHART_SECRET_FILE]) {
      describe(`with ${file}`, () => {
        it('then the migration Job is a pre-install,pre-upgrade hook that runs dist/migrate.js with the node of the image', () => {
          const migration = job(rendered(file));
          assert.equal(hookOf(migration), 'pre-install,pre-upgrade');
          assert.equal(
            migration.metadata.annotations?.['helm.sh/hook-delete-policy'],
            'before-hook-creation,hook-succeeded',
          );
          const container = jobContainer(rendered(file));
          const image = readImageSpec(readDockerfile());
          assert.deepEqual(container.command, [image.entrypoint[0], 'dist/migrate.js']);
          assert.equal(container.args, undefined);
          assert.ok(image.entrypoint.includes('dist/main.js'), 'the image no longer starts dist/main.js');
          assert.equal(image.workdir, '/app');
          assert.ok(existsSync(path.join(PROJECT_ROOT, 'src/migrate.ts')), 'the migration script is gone');
          assert.equal(container.image, serviceContainer(rendered(file)).container.image);
          assert.equal(migration.spec.template.spec.restartPolicy, 'Never');
          assert.ok(migration.spec.backoffLimit >= 0);
          assert.ok(migration.spec.activeDeadlineSeconds > 0 && migration.spec.activeDeadlineSeconds < 300);
          assert.ok(container.resources?.requests?.memory && container.resources?.limits?.memory);
        });

        it('then the Job reads the same database URL as the service, from a Secret that exists before it runs, and no API key', () => {
          const render = rendered(file);
          const { deployment, container } = serviceContainer(render);
          const migration = job(render);
          const migrate = jobContainer(render);
          const env = Object.fromEntries(migrate.env.map((e: any) => [e.name, e.value]));
          assert.equal(migrate.envFrom, undefined, 'the Job reads the ConfigMap, which a pre-install hook precedes');
          assert.equal(env.DATABASE_URL, undefined);
          assert.equal(env.DATABASE_URL_FILE, DATABASE_URL_PATH);
          for (const name of Object.keys(env)) assert.doesNotMatch(name, /API_KEYS/);
          assert.deepEqual(
            Object.keys(env).sort(),
            [
              'DATABASE_URL_FILE',
              'LOG_LEVEL',
              'STORE_DRIVER',
              ...(env.DATABASE_CONNECT_TIMEOUT === undefined ? [] : ['DATABASE_CONNECT_TIMEOUT']),
            ].sort(),
          );
          assert.ok(!migrate.volumeMounts.some((m: any) => m.mountPath === SECRET_MOUNT_PATH), 'the API keys');

          const used = secretBehind(migration.spec.template.spec, migrate, DATABASE_URL_PATH);
          const served = secretBehind(deployment.spec.template.spec, container, DATABASE_URL_PATH);
          const ownSecret = (name: string) => byKind(render, 'Secret').find((s) => s.metadata.name === name);
          const existing = valuesOf(file).database?.existingSecret;
          if (existing) {
            // The user's Secret: the same one, read by both.
            assert.deepEqual(used, served);
            assert.equal(used.secretName, existing);
            assert.equal(ownSecret(used.secretName), undefined);
          } else {
            // The chart's: an ordinary Secret for the pods, a hook Secret made before the Job for the Job.
            const forJob = ownSecret(used.secretName);
            const forPods = ownSecret(served.secretName);
            assert.ok(forJob && forPods, 'the chart does not render the Secrets it names');
            assert.equal(hookOf(forPods), undefined, 'the pods read a hook Secret, which uninstall leaves behind');
            assert.equal(hookOf(forJob), 'pre-install,pre-upgrade');
            assert.ok(hookWeight(forJob) < hookWeight(migration), 'the Job may start before its Secret');
            assert.equal(forJob.data[used.key], forPods.data[served.key]);
            assert.equal(Buffer.from(forJob.data[used.key], 'base64').toString(), valuesOf(file).database?.url);
          }
          // Nothing else of the release exists at pre-install: the Job must not need it.
          const spec = migration.spec.template.spec;
          assert.equal(spec.serviceAccountName, undefined, 'the chart-made ServiceAccount does not exist yet');
          assert.equal(spec.automountServiceAccountToken, false);
        });

        it("then the Job's environment and Secret file load as the configuration of a postgres migration", () => {
          const render = rendered(file);
          const migrate = jobContainer(render);
          const env: Record<string, string> = Object.fromEntries(migrate.env.map((e: any) => [e.name, e.value]));
          const { secretName, key } = secretBehind(job(render).spec.template.spec, migrate, DATABASE_URL_PATH);
          const stored = byKind(render, 'Secret').find((s) => s.metadata.name === secretName)?.data?.[key];
          const url = stored ? Buffer.from(stored, 'base64').toString() : 'postgres://stand-in@db:5432/items';
          const files = makeTempDir('helm-database-url-');
          try {
            env.DATABASE_URL_FILE = path.join(files.dir, 'database-url');
            writeFileSync(env.DATABASE_URL_FILE, `${url}\n`);
            const config = loadConfig(env);
            assert.equal(config.store.driver, 'postgres');
            assert.equal(config.store.database?.url, url);
            const { env: serviceEnv } = serviceContainer(render);
            if (serviceEnv.DATABASE_CONNECT_TIMEOUT !== undefined)
              assert.equal(env.DATABASE_CONNECT_TIMEOUT, serviceEnv.DATABASE_CONNECT_TIMEOUT);
          } finally {
            files.remove();
          }
        });
      });
    }

    it('when the URL is given as a value, then a change of it restarts the pods (checksum)', async () => {
      const before = single(rendered(POSTGRES_CHART_SECRET_FILE), 'Deployment').spec.template.metadata.annotations;
      const after = single(
        await helm.template([POSTGRES_CHART_SECRET_FILE], {
          set: ['database.url=postgres://items:another-password@db.example.internal:5432/items'],
        }),
        'Deployment',
      ).spec.template.metadata.annotations;
      assert.match(before['checksum/database-secret'], /^[0-9a-f]{64}$/);
      assert.notEqual(after['checksum/database-secret'], before['checksum/database-secret']);
    });

    it('when egress is restricted, then the service and the migration Job may reach DNS and the database, the Job through a hook policy made before it', () => {
      const render = rendered(POSTGRES_FILE);
      const policies = byKind(render, 'NetworkPolicy');
      const database = { ports: [{ port: 5432, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.20.0.0/16' } }] };
      const service = policies.find((p) => hookOf(p) === undefined);
      assert.ok(service, 'no NetworkPolicy for the service');
      assert.ok(service.spec.policyTypes.includes('Egress'));
      assert.ok(service.spec.egress.some((rule: any) => JSON.stringify(rule) === JSON.stringify(database)));
      const forJob = policies.find((p) => hookOf(p) === 'pre-install,pre-upgrade');
      assert.ok(forJob, 'no NetworkPolicy for the migration Job');
      assert.ok(hookWeight(forJob) < hookWeight(job(render)));
      assert.deepEqual(forJob.spec.podSelector.matchLabels, {
        'app.kubernetes.io/name': job(render).spec.template.metadata.labels['app.kubernetes.io/name'],
        'app.kubernetes.io/instance': 'items',
      });
      assert.deepEqual(forJob.spec.policyTypes, ['Ingress', 'Egress']);
      assert.deepEqual(forJob.spec.ingress, []);
      assert.deepEqual(
        forJob.spec.egress[0].ports.map((p: any) => p.port),
        [53, 53],
      );
      assert.deepEqual(forJob.spec.egress[1], database);
      assert.equal(forJob.spec.egress.length, 2);
    });

    it('when egress is not restricted, then no policy is made for the Job', () => {
      assert.equal(byKind(rendered(POSTGRES_CHART_SECRET_FILE), 'NetworkPolicy').length, 0);
    });

    it('when the migration Job is off, then neither it nor its hook Secret is rendered', async () => {
      const render = await helm.template([POSTGRES_CHART_SECRET_FILE], { set: ['database.migration.enabled=false'] });
      assert.equal(byKind(render, 'Job').length, 0);
      assert.ok(byKind(render, 'Secret').every((secret) => hookOf(secret) === undefined));
      assert.match(
        await helm.notes([POSTGRES_CHART_SECRET_FILE], { set: ['database.migration.enabled=false'] }),
        /run `node dist\/migrate\.js` yourself/,
      );
    });

    it('when installed, then NOTES names the Job and how to read its logs, and does not warn about persistence', async () => {
      const notes = await helm.notes([POSTGRES_FILE]);
      assert.match(notes, /PostgreSQL \(3 replicas\), the URL from the Secret items-database/);
      assert.match(notes, /logs job\/items-items-service-migrate/);
      assert.doesNotMatch(notes, /WARNING/);
    });

    it('when store.driver=postgres has no database URL, then rendering fails and names both ways to give one', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], { set: ['store.driver=postgres'] });
      assert.match(stderr, /store\.driver=postgres needs the database URL/);
      for (const option of ['database.existingSecret', 'database.url']) assert.ok(stderr.includes(option), option);
    });

    it('when both database.url and database.existingSecret are set, then rendering fails', async () => {
      const stderr = await helm.templateFailure([POSTGRES_FILE], { set: ['database.url=postgres://a:b@c:5432/d'] });
      assert.match(stderr, /database\.url and database\.existingSecret are both set/);
    });

    it('when a database is given but store.driver stays json-file, then rendering fails instead of ignoring it', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], { set: ['database.existingSecret=items-database'] });
      assert.match(stderr, /database\.url or database\.existingSecret is set but store\.driver is json-file/);
    });

    it('when store.driver is not json-file or postgres, then values.schema.json rejects it', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], { set: ['store.driver=mysql'] });
      assert.match(stderr, /store\.driver: store\.driver must be one of the following: "json-file", "postgres"/);
    });
  });

  describe('client addresses behind the Ingress (TRUST_PROXY)', () => {
    const trustProxyOf = async (set: string[], setString: string[] = []) =>
      serviceContainer(await helm.template([DEFAULT_FILE], { set, setString })).env.TRUST_PROXY;

    it('when the Ingress is off and config.trustProxy is empty, then TRUST_PROXY is unset: the client is the connection peer', () => {
      const render = rendered(DEFAULT_FILE);
      assert.equal(serviceContainer(render).env.TRUST_PROXY, undefined);
      assert.equal(loadRenderedConfig(render).http.trustProxy, false);
    });

    it('when the Ingress is on and config.trustProxy is empty, then the service trusts one hop, the ingress controller', async () => {
      const render = await helm.template([DEFAULT_FILE], { set: ['ingress.enabled=true'] });
      assert.equal(serviceContainer(render).env.TRUST_PROXY, '1');
      assert.equal(loadRenderedConfig(render).http.trustProxy, 1);
      // The autoscaling file has the Ingress and no trust setting of its own.
      assert.equal(serviceContainer(rendered(AUTOSCALING_FILE)).env.TRUST_PROXY, '1');
    });

    it('when config.trustProxy is given, then it wins, with the Ingress on or off', async () => {
      for (const ingress of ['true', 'false']) {
        const on = `ingress.enabled=${ingress}`;
        assert.equal(await trustProxyOf([on, 'config.trustProxy=2']), '2', ingress);
        assert.equal(
          await trustProxyOf([on], ['config.trustProxy=10.0.0.0/8\\,192.168.0.0/16']),
          '10.0.0.0/8,192.168.0.0/16',
        );
        assert.equal(await trustProxyOf([on, 'config.trustProxy=uniquelocal']), 'uniquelocal', ingress);
      }
      const render = await helm.template([DEFAULT_FILE], {
        set: ['ingress.enabled=true'],
        setString: ['config.trustProxy=10.0.0.0/8\\,loopback'],
      });
      assert.deepEqual(loadRenderedConfig(render).http.trustProxy, ['10.0.0.0/8', 'loopback']);
    });

    it('when config.trustProxy is false, then no proxy is trusted, even behind the Ingress', async () => {
      const render = await helm.template([DEFAULT_FILE], { set: ['ingress.enabled=true', 'config.trustProxy=false'] });
      assert.equal(serviceContainer(render).env.TRUST_PROXY, undefined);
      assert.equal(loadRenderedConfig(render).http.trustProxy, false);
    });

    it('when config.trustProxy is true or out of range, then rendering fails (the service would believe any X-Forwarded-For, or refuse it)', async () => {
      assert.match(
        await helm.templateFailure([DEFAULT_FILE], { set: ['config.trustProxy=true'] }),
        /config\.trustProxy=true would believe any X-Forwarded-For/,
      );
      assert.match(
        await helm.templateFailure([DEFAULT_FILE], { set: ['config.trustProxy=11'] }),
        /config\.trustProxy: Must be less than or equal to 10/,
      );
    });

    it('when installed behind the Ingress, then NOTES says what is trusted and when to change it; with trust off, it warns', async () => {
      const notes = await helm.notes([DEFAULT_FILE], { set: ['ingress.enabled=true'] });
      assert.match(notes, /TRUST_PROXY=1, the chart's default behind its Ingress/);
      assert.match(notes, /config\.trustProxy=2/);
      assert.match(notes, /networkPolicy\.from/);
      assert.doesNotMatch(notes, /ONE rate-limit bucket/);
      const off = await helm.notes([DEFAULT_FILE], { set: ['ingress.enabled=true', 'config.trustProxy=false'] });
      assert.match(off, /WARNING: the Ingress is enabled but config\.trustProxy=false.*\n.*ONE rate-limit bucket/);
      const given = await helm.notes([ALL_FEATURES_FILE]);
      assert.match(given, /TRUST_PROXY=1 \(config\.trustProxy\)/);
      assert.doesNotMatch(await helm.notes([DEFAULT_FILE]), /TRUST_PROXY/);
    });

    // The service as the chart starts it, with a budget of 2: behind the Ingress (the socket's peer is the
    // controller, here 127.0.0.1, and the client is what it appends to X-Forwarded-For) each client has a
    // budget of its own; without trust they all share the controller's. Needs dist/ (npm run build).
    it("when the service runs with the rendered environment behind the Ingress, then each client has its own rate-limit budget, and without the Ingress's trust they share one", async () => {
      const image = readImageSpec(readDockerfile());
      const files = makeTempDir('helm-trust-');
      const servers: ServerProcess[] = [];
      try {
        const statuses = async (ingress: boolean) => {
          // No key: GET needs none, and no Secret has to be mounted.
          const render = await helm.template([], {
            set: [
              'auth.disabled=true',
              `ingress.enabled=${ingress}`,
              'config.rateLimitMax=2',
              'config.rateLimitWindow=1h',
            ],
          });
          const { env } = serviceContainer(render);
          // On loopback and a free port, the data in a temp dir, no drain delay at stop; the rest as rendered.
          const server = await startServer(
            {
              ...image.env,
              ...env,
              HOST: '127.0.0.1',
              PORT: '0',
              DB_PATH: path.join(files.dir, `ingress-${ingress}`, 'items.json'),
              SHUTDOWN_DRAIN_DELAY: '0s',
            },
            30_000,
          );
          servers.push(server);
          const get = async (client: string) =>
            (await jsonRequest(`${server.url}/items`, 'GET', undefined, { 'x-forwarded-for': client })).status;
          // Client A spends its budget, then B asks.
          return [
            await get('203.0.113.10'),
            await get('203.0.113.10'),
            await get('203.0.113.10'),
            await get('198.51.100.7'),
          ];
        };
        assert.deepEqual(await statuses(true), [200, 200, 429, 200]);
        assert.deepEqual(await statuses(false), [200, 200, 429, 429]);
      } finally {
        for (const server of servers) await server.stop();
        files.remove();
      }
    });
  });

  describe('autoscaling', () => {
    const hpaOf = (render: Render) => single(render, 'HorizontalPodAutoscaler');

    it('when on with postgres, then an autoscaling/v2 HPA scales the Deployment on CPU and memory, and the Deployment has no replicas of its own', () => {
      const render = rendered(AUTOSCALING_FILE);
      const hpa = hpaOf(render);
      const { deployment } = serviceContainer(render);
      assert.equal(hpa.apiVersion, 'autoscaling/v2');
      assert.deepEqual(hpa.spec.scaleTargetRef, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.metadata.name,
      });
      assert.equal(hpa.spec.minReplicas, 2);
      assert.equal(hpa.spec.maxReplicas, 6);
      assert.deepEqual(hpa.spec.metrics, [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } },
      ]);
      assert.ok(!('replicas' in deployment.spec), 'the Deployment sets replicas, which the HPA owns');
      assert.equal(deployment.spec.strategy.type, 'RollingUpdate');
      assert.deepEqual(validateWithModels([hpa]), []);
    });

    it('when minReplicas is above 1, then the PodDisruptionBudget and the spread are on; at 1, the budget is off and the spread stays', async () => {
      const render = rendered(AUTOSCALING_FILE);
      assert.equal(single(render, 'PodDisruptionBudget').spec.maxUnavailable, 1);
      assert.ok(single(render, 'Deployment').spec.template.spec.topologySpreadConstraints.length > 0);
      // replicaCount no longer counts: 1 (the default) does not turn the budget off, nor 5 on.
      const five = await helm.template([AUTOSCALING_FILE], { set: ['replicaCount=5', 'autoscaling.minReplicas=1'] });
      assert.equal(byKind(five, 'PodDisruptionBudget').length, 0);
      assert.ok(single(five, 'Deployment').spec.template.spec.topologySpreadConstraints.length > 0);
      assert.ok(!('replicas' in single(five, 'Deployment').spec));
    });

    it('when a PodDisruptionBudget would keep every pod at minReplicas, then rendering fails', async () => {
      const stderr = await helm.templateFailure([AUTOSCALING_FILE], {
        set: ['podDisruptionBudget.minAvailable=2', 'podDisruptionBudget.maxUnavailable=null'],
      });
      assert.match(stderr, /podDisruptionBudget\.minAvailable \(2\) must be below autoscaling\.minReplicas \(2\)/);
      const below = await helm.template([AUTOSCALING_FILE], {
        set: ['podDisruptionBudget.minAvailable=1', 'podDisruptionBudget.maxUnavailable=null'],
      });
      assert.equal(single(below, 'PodDisruptionBudget').spec.minAvailable, 1);
    });

    it('when on with the JSON-file store, then rendering fails and says why', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], {
        set: ['autoscaling.enabled=true', 'resources.requests.cpu=100m'],
      });
      assert.match(
        stderr,
        /autoscaling\.enabled=true needs store\.driver=postgres: the JSON-file store is owned by one process/,
      );
    });

    for (const [what, set, message] of [
      [
        'no CPU request',
        ['resources=null'],
        /a CPU target is a percentage of resources\.requests\.cpu, which is not set/,
      ],
      [
        'no memory request',
        ['resources.requests.memory=null'],
        /a memory target is a percentage of resources\.requests\.memory, which is not set/,
      ],
      [
        'no target',
        ['autoscaling.targetCPUUtilizationPercentage=null', 'autoscaling.targetMemoryUtilizationPercentage=null'],
        /the autoscaler needs a metric/,
      ],
      [
        'minReplicas above maxReplicas',
        ['autoscaling.minReplicas=7'],
        /autoscaling\.minReplicas \(7\) must not be above autoscaling\.maxReplicas \(6\)/,
      ],
    ] as const) {
      it(`when on with ${what}, then rendering fails and says what to set`, async () => {
        assert.match(await helm.templateFailure([AUTOSCALING_FILE], { set: [...set] }), message);
      });
    }

    it('when minReplicas is 0, then values.schema.json rejects it', async () => {
      const stderr = await helm.templateFailure([AUTOSCALING_FILE], { set: ['autoscaling.minReplicas=0'] });
      assert.match(stderr, /autoscaling\.minReplicas: Must be greater than or equal to 1/);
    });

    it('when installed, then NOTES gives the range the autoscaler keeps the replicas in', async () => {
      const notes = await helm.notes([AUTOSCALING_FILE]);
      assert.match(notes, /PostgreSQL \(2 to 6 replicas, set by the HorizontalPodAutoscaler items-items-service\)/);
    });
  });

  describe('rate limits in Redis', () => {
    const redisFiles = CI_FILES.filter((file) => valuesOf(file).rateLimit?.store === 'redis');

    it('when the ci files are listed, then two count the rate limit in Redis', () => {
      assert.deepEqual(redisFiles, [AUTOSCALING_FILE, POSTGRES_FILE]);
    });

    for (const file of redisFiles) {
      it(`when rendered with ${file}, then REDIS_URL_FILE names a file of the existing Secret, mounted read-only, and REDIS_URL is nowhere`, () => {
        const render = rendered(file);
        const { deployment, container, env } = serviceContainer(render);
        assert.equal(env.RATE_LIMIT_STORE, 'redis');
        assert.equal(env.REDIS_URL_FILE, REDIS_URL_PATH);
        assert.equal(env.REDIS_URL, undefined);
        assert.ok(!container.env.some((e: any) => e.name === 'REDIS_URL'), 'REDIS_URL from a secretKeyRef');
        const mount = container.volumeMounts.find((m: any) => REDIS_URL_PATH.startsWith(`${m.mountPath}/`));
        assert.equal(mount?.readOnly, true);
        const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
        assert.equal(volume.secret.secretName, 'items-redis');
        assert.equal(volume.secret.defaultMode, 0o440);
        assert.deepEqual(volume.secret.items, [
          { key: file === AUTOSCALING_FILE ? 'url' : 'redis-url', path: path.posix.basename(REDIS_URL_PATH) },
        ]);
        assert.ok(!byKind(render, 'Secret').some((s) => s.metadata.name === 'items-redis'), 'the chart makes it');
        const config = loadRenderedConfig(render);
        assert.equal(config.rateLimit.redis?.url, SECRET_FILE_STAND_INS.REDIS_URL_FILE!.trim());
        assert.ok(config.secrets.includes('stand-in-password'), 'the password is not scrubbed from logs');
      });
    }

    it('when keyPrefix is empty, then each release and namespace has its own, which the service accepts; a given one wins', () => {
      assert.equal(
        serviceContainer(rendered(AUTOSCALING_FILE)).env.REDIS_KEY_PREFIX,
        `${NAMESPACE}:items-items-service:`,
      );
      assert.equal(
        loadRenderedConfig(rendered(AUTOSCALING_FILE)).rateLimit.redis?.keyPrefix,
        `${NAMESPACE}:items-items-service:`,
      );
      assert.equal(loadRenderedConfig(rendered(POSTGRES_FILE)).rateLimit.redis?.keyPrefix, 'items-prod:');
    });

    it('when the rate limit stays in memory, then the chart sets neither the store nor anything of Redis', () => {
      const { container, env } = serviceContainer(rendered(POSTGRES_CHART_SECRET_FILE));
      for (const variable of ['RATE_LIMIT_STORE', 'REDIS_URL_FILE', 'REDIS_KEY_PREFIX'])
        assert.equal(env[variable], undefined);
      assert.ok(!container.volumeMounts.some((m: any) => m.name === 'redis-url'));
    });

    it('when egress is restricted, then the service may reach the Redis port (at the given peers), and without Redis no such rule', async () => {
      const policy = byKind(rendered(POSTGRES_FILE), 'NetworkPolicy').find((p) => hookOf(p) === undefined);
      assert.ok(policy, 'no NetworkPolicy for the service');
      assert.deepEqual(
        policy.spec.egress.find((rule: any) => rule.ports?.[0]?.port === 6380),
        { ports: [{ port: 6380, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.30.0.0/16' } }] },
      );
      // The migration Job never talks to Redis.
      const forJob = byKind(rendered(POSTGRES_FILE), 'NetworkPolicy').find((p) => hookOf(p) !== undefined);
      assert.ok(!JSON.stringify(forJob?.spec.egress).includes('6380'));
      const memory = await helm.template([POSTGRES_FILE], {
        set: ['rateLimit.store=memory', 'rateLimit.redis.existingSecret='],
      });
      const withoutRedis = byKind(memory, 'NetworkPolicy').find((p) => hookOf(p) === undefined);
      assert.ok(!JSON.stringify(withoutRedis?.spec.egress).includes('6380'));
      const anywhere = await helm.template([POSTGRES_FILE], { set: ['networkPolicy.egress.redis.to=null'] });
      const open = byKind(anywhere, 'NetworkPolicy').find((p) => hookOf(p) === undefined);
      assert.ok(
        open?.spec.egress.some(
          (rule: any) => JSON.stringify(rule) === JSON.stringify({ ports: [{ port: 6380, protocol: 'TCP' }] }),
        ),
      );
    });

    // The rendered environment, run: two service processes (two replicas) with the URL mounted as the
    // kubelet would, behind the Ingress (TRUST_PROXY=1), count one budget in a real Redis: the machine's
    // (REDIS_TEST_URL, or 127.0.0.1:6379), else a throwaway redis-server. Needs dist/ (npm run build).
    it('when two replicas run with the rendered environment on one Redis, then a client has one budget across both', async () => {
      const redisChildren: ChildProcess[] = [];
      let redisUrl = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
      if (!(await reachable(redisUrl))) {
        const port = await freePort();
        redisChildren.push(await startRedisServer(port));
        redisUrl = `redis://127.0.0.1:${port}`;
      }
      const prefix = `items-helm-test-${randomBytes(6).toString('hex')}:`;
      const image = readImageSpec(readDockerfile());
      const files = makeTempDir('helm-redis-');
      const servers: ServerProcess[] = [];
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      try {
        const render = await helm.template([], {
          set: [
            'auth.disabled=true',
            'ingress.enabled=true',
            'config.rateLimitMax=2',
            'config.rateLimitWindow=1h',
            'rateLimit.store=redis',
            'rateLimit.redis.existingSecret=items-redis',
            `rateLimit.redis.keyPrefix=${prefix}`,
          ],
        });
        const { env } = serviceContainer(render);
        const urlFile = path.join(files.dir, 'redis-url');
        writeFileSync(urlFile, `${redisUrl}\n`);
        for (const replica of [0, 1]) {
          servers.push(
            await startServer(
              {
                ...image.env,
                ...env,
                REDIS_URL_FILE: urlFile,
                HOST: '127.0.0.1',
                PORT: '0',
                DB_PATH: path.join(files.dir, `replica-${replica}`, 'items.json'),
                SHUTDOWN_DRAIN_DELAY: '0s',
              },
              30_000,
            ),
          );
        }
        const get = async (server: ServerProcess, client: string) =>
          (await jsonRequest(`${server.url}/items`, 'GET', undefined, { 'x-forwarded-for': client })).status;
        const [first, second] = servers as [ServerProcess, ServerProcess];
        assert.deepEqual(
          [await get(first, '203.0.113.10'), await get(second, '203.0.113.10'), await get(first, '203.0.113.10')],
          [200, 200, 429],
        );
        assert.equal(await get(second, '198.51.100.7'), 200, 'another client has a budget of its own');
        assert.ok((await redis.keys(`${prefix}*`)).length > 0, 'nothing was counted under the key prefix');
      } finally {
        for (const server of servers) await server.stop();
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
        await Promise.all(redisChildren.map(stopRedisServer));
        files.remove();
      }
    });

    it('when rateLimit.store=redis has no Secret, then rendering fails and says how to make one', async () => {
      const stderr = await helm.templateFailure([POSTGRES_CHART_SECRET_FILE], { set: ['rateLimit.store=redis'] });
      assert.match(stderr, /rateLimit\.store=redis needs the Redis URL/);
      assert.ok(stderr.includes('rateLimit.redis.existingSecret'));
      assert.ok(stderr.includes('kubectl create secret generic'));
    });

    it('when a Redis Secret is named but the store stays memory, then rendering fails instead of ignoring it', async () => {
      const stderr = await helm.templateFailure([DEFAULT_FILE], {
        set: ['rateLimit.redis.existingSecret=items-redis'],
      });
      assert.match(stderr, /rateLimit\.redis\.existingSecret is set but rateLimit\.store is memory/);
    });

    for (const [value, message] of [
      [
        'rateLimit.store=memcached',
        /rateLimit\.store: rateLimit\.store must be one of the following: "memory", "redis"/,
      ],
      ['rateLimit.redis.keyPrefix=items service', /rateLimit\.redis\.keyPrefix: Does not match pattern/],
    ] as const) {
      it(`when --set ${value}, then values.schema.json rejects it`, async () => {
        const stderr = await helm.templateFailure([POSTGRES_FILE], { set: [value] });
        assert.match(stderr, /values don't meet the specifications of the schema/);
        assert.match(stderr, message);
      });
    }

    it('when several replicas (or the autoscaler) count the rate limit in memory, then NOTES warns that each has its own budget', async () => {
      const replicas = await helm.notes([POSTGRES_CHART_SECRET_FILE]);
      assert.match(
        replicas,
        /WARNING: the rate limit is counted in each pod \(rateLimit\.store=memory\), and 2 replicas run/,
      );
      assert.match(replicas, /RATE_LIMIT_MAX x replicas/);
      const autoscaled = await helm.notes([AUTOSCALING_FILE], {
        set: ['rateLimit.store=memory', 'rateLimit.redis.existingSecret='],
      });
      assert.match(
        autoscaled,
        /WARNING: the rate limit is counted in each pod .*the autoscaler runs up\nto 6 replicas/,
      );
      // One replica, or no limit at all: nothing to warn of.
      assert.doesNotMatch(await helm.notes([DEFAULT_FILE]), /counted in each pod/);
      assert.doesNotMatch(
        await helm.notes([POSTGRES_CHART_SECRET_FILE], { set: ['config.rateLimitMax=0'] }),
        /counted in each pod/,
      );
    });

    it('when the rate limit is in Redis, then NOTES names the Secret and the prefix, and says what an outage does', async () => {
      const notes = await helm.notes([POSTGRES_FILE]);
      assert.match(
        notes,
        /Rate limits are counted in Redis \(the URL from the Secret items-redis, keys\nprefixed "items-prod:"\)/,
      );
      assert.match(notes, /served without a limit/);
      assert.doesNotMatch(notes, /WARNING/);
    });
  });

  // The chart's contract with the image, run for real: the Job's command and environment (over the
  // image's ENV) against a real PostgreSQL, then the service with the Deployment's environment on the
  // database the Job migrated. Needs dist/ (npm run build) and a PostgreSQL (test/support/postgres.ts).
  describe('the rendered migration Job and Deployment, run with the built dist/ against a real PostgreSQL', () => {
    let database: TestDatabase;
    let render: Render;
    let files: ReturnType<typeof makeTempDir>;
    let server: ServerProcess | undefined;

    beforeAll(async () => {
      database = await createTestDatabase();
      files = makeTempDir('helm-run-');
      render = await helm.template([POSTGRES_CHART_SECRET_FILE], { set: [`database.url=${database.url}`] });
    });
    afterAll(async () => {
      await server?.stop();
      await database?.drop();
      files?.remove();
    });

    /** The files a pod's Secret volumes hold, written under `files` as the kubelet would mount them. */
    function mountSecrets(podSpec: any, container: any, env: Record<string, string>, variables: string[]) {
      const local = { ...env };
      for (const variable of variables) {
        const file = local[variable];
        if (file === undefined) continue;
        const mount = container.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`));
        const volume = podSpec.volumes.find((v: any) => v.name === mount?.name);
        const item = volume?.secret?.items?.find((i: any) => i.path === path.posix.basename(file));
        const secret = byKind(render, 'Secret').find((s) => s.metadata.name === volume?.secret?.secretName);
        assert.ok(item && secret, `${variable}=${file}: no rendered Secret behind it`);
        local[variable] = path.join(files.dir, `${variable}-${container.name}`);
        writeFileSync(local[variable], Buffer.from(secret.data[item.key], 'base64'));
      }
      return local;
    }

    it("when the Job runs, then it migrates the database, and the service started with the Deployment's environment is ready on it", async () => {
      const image = readImageSpec(readDockerfile());
      const migration = single(render, 'Job');
      const [migrate] = migration.spec.template.spec.containers;
      const jobEnv = mountSecrets(
        migration.spec.template.spec,
        migrate,
        { ...image.env, ...Object.fromEntries(migrate.env.map((e: any) => [e.name, e.value])) },
        ['DATABASE_URL_FILE'],
      );
      // The image's WORKDIR is the project's root; run from an empty directory (no developer's .env).
      const [, script, ...args] = migrate.command as string[];
      const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(PROJECT_ROOT, script!), ...args],
          { cwd: files.dir, env: { PATH: process.env.PATH, ...jobEnv }, timeout: 60_000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /migration 0001_create_items: applied/);
      assert.ok(!(run.stdout + run.stderr).includes(database.url), 'the migration printed the URL');

      const { deployment, container, env } = serviceContainer(render);
      const serviceEnv = mountSecrets(deployment.spec.template.spec, container, { ...image.env, ...env }, [
        'API_KEYS_FILE',
        'ADMIN_API_KEYS_FILE',
        'DATABASE_URL_FILE',
      ]);
      // On loopback and a free port rather than the container's 8080; everything else as rendered.
      server = await startServer({ ...serviceEnv, HOST: '127.0.0.1', PORT: '0' }, 30_000);
      const ready = await jsonRequest(`${server.url}/readyz`, 'GET');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      const created = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'through the chart' },
        {
          authorization: `Bearer ${keysIn(POSTGRES_CHART_SECRET_FILE)[0]}`,
        },
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
    });
  });
});
