import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { PROJECT_ROOT } from './server-process.js';

/** The Dockerfile's text. */
export function readDockerfile(): string {
  return readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
}

/** What the Dockerfile's runtime stage says about how the image runs, read from the Dockerfile itself. */
export interface ImageSpec {
  baseImages: { stage: string | null; image: string }[];
  args: Map<string, string>;
  env: Record<string, string>;
  user: string;
  workdir: string;
  volumes: string[];
  entrypoint: string[];
  healthcheck: string[];
  /** What any stage copies from the build context (COPY and ADD without `--from`). */
  contextSources: string[];
  /** `COPY --from=<stage> <source> <destination>` of the runtime stage, with their `--chown`. */
  copies: { from: string; source: string; destination: string; chown?: string }[];
}

/** Reads the last stage of the Dockerfile, substituting `buildArgs` (and the ARG defaults) into ENV. */
export function readImageSpec(dockerfile: string, buildArgs: Record<string, string> = {}): ImageSpec {
  const parsed = DockerfileParser.parse(dockerfile);
  const froms = parsed.getFROMs();
  const baseImages = froms.map((from) => ({ stage: from.getBuildStage(), image: from.getImage() ?? '' }));
  const lastFrom = froms.at(-1);
  if (!lastFrom) throw new Error('Dockerfile has no FROM');
  const runtime = parsed.getInstructions().filter((i) => i.getRange().start.line > lastFrom.getRange().start.line);
  const spec: ImageSpec = {
    baseImages,
    args: new Map(),
    env: {},
    user: 'root',
    workdir: '/',
    volumes: [],
    entrypoint: [],
    healthcheck: [],
    contextSources: parsed
      .getInstructions()
      .filter((i) => ['COPY', 'ADD'].includes(i.getKeyword()) && !flagsOf(i).has('from'))
      .flatMap((i) => pathsOf(i).slice(0, -1)),
    copies: [],
  };
  const substitute = (value: string) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => spec.args.get(braced ?? bare!) ?? '');
  for (const instruction of runtime) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArguments().map((argument) => argument.getValue());
    if (keyword === 'ARG') {
      const [name = '', fallback = ''] = args[0]!.split('=');
      spec.args.set(name, buildArgs[name] ?? unquote(fallback));
    } else if (keyword === 'ENV') {
      for (const property of (instruction as unknown as { getProperties(): PropertyLike[] }).getProperties())
        spec.env[property.getName()] = substitute(unquote(property.getValue() ?? ''));
    } else if (keyword === 'USER') spec.user = args[0]!;
    else if (keyword === 'WORKDIR') spec.workdir = path.posix.resolve(spec.workdir, args[0]!);
    else if (keyword === 'VOLUME') spec.volumes.push(...jsonStrings(instruction));
    else if (keyword === 'ENTRYPOINT') spec.entrypoint = jsonStrings(instruction);
    else if (keyword === 'HEALTHCHECK') spec.healthcheck = jsonStrings(instruction);
    else if (keyword === 'COPY') {
      const flags = flagsOf(instruction);
      const paths = pathsOf(instruction);
      spec.copies.push({
        from: flags.get('from') ?? '',
        source: paths[0]!,
        // Into the directory when the destination ends with a slash, as Docker does.
        destination: path.posix.resolve(
          spec.workdir,
          paths[1]!.endsWith('/') ? path.posix.join(paths[1]!, path.posix.basename(paths[0]!)) : paths[1]!,
        ),
        ...(flags.get('chown') ? { chown: flags.get('chown')! } : {}),
      });
    }
  }
  return spec;
}

function flagsOf(instruction: Instruction): Map<string, string | null> {
  const flags = (instruction as unknown as { getFlags(): FlagLike[] }).getFlags();
  return new Map(flags.map((flag) => [flag.getName(), flag.getValue()]));
}

function pathsOf(instruction: Instruction): string[] {
  return instruction
    .getArguments()
    .map((argument) => argument.getValue())
    .filter((arg) => !arg.startsWith('--'));
}

interface PropertyLike {
  getName(): string;
  getValue(): string | null;
}
interface FlagLike {
  getName(): string;
  getValue(): string | null;
}

function unquote(value: string): string {
  return /^".*"$/.test(value) ? value.slice(1, -1) : value;
}

/** The exec form's array (`["a", "b"]`), after any `--flag`s and, for HEALTHCHECK, `CMD`. */
function jsonStrings(instruction: Instruction): string[] {
  const content = (instruction.getArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ');
  const array = /\[.*\]\s*$/s.exec(content);
  if (!array) throw new Error(`${instruction.getKeyword()} is not in exec form: ${content}`);
  return JSON.parse(array[0]) as string[];
}
