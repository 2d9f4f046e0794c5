import assert from './support/assert.js';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import ts from 'typescript';
import { DomainError } from '../src/common/domain-error.js';
import { PROBLEM_CODES, type ProblemCode } from '../src/common/problem-details.schema.js';
import { startApp, type RunningApp } from './support/in-process-app.js';
import { PROJECT_ROOT } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const CODE_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * Every problem code written under src/ (specs aside), each with the files it is in. Read from the syntax,
 * not the types, so that a code the compiler never checks (a file compiled alone, as the mutant check
 * does) is seen too. A code is a string literal given to something named `code` (`readonly code = '...'`,
 * `{ code: '...' }`, `this.code = '...'`), or in a declaration, return type or `satisfies`/`as` whose
 * type names ProblemCode (`const CODES: Record<Probe, ProblemCode> = {...}`).
 */
function codesInSource(root: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const collect = (node: ts.Node, file: string): void => {
    const visit = (child: ts.Node): void => {
      const isKey = ts.isPropertyAssignment(child.parent) && child.parent.name === child;
      if ((ts.isStringLiteral(child) || ts.isNoSubstitutionTemplateLiteral(child)) && !isKey) {
        if (CODE_SHAPE.test(child.text)) found.set(child.text, [...(found.get(child.text) ?? []), file]);
      }
      ts.forEachChild(child, visit);
    };
    visit(node);
  };
  const namesCode = (name: ts.Node | undefined) =>
    name !== undefined && (ts.isIdentifier(name) || ts.isStringLiteral(name)) && name.text === 'code';
  const typedAsCode = (type: ts.TypeNode | undefined, file: ts.SourceFile) =>
    type !== undefined && /\bProblemCode\b/.test(type.getText(file));

  for (const entry of readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.spec.ts')) continue;
    const full = path.join(entry.parentPath, entry.name);
    const file = path.relative(root, full);
    const source = ts.createSourceFile(full, readFileSync(full, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        (ts.isPropertyDeclaration(node) || ts.isVariableDeclaration(node) || ts.isParameter(node)) &&
        node.initializer !== undefined &&
        (namesCode(node.name) || typedAsCode(node.type, source))
      ) {
        collect(node.initializer, file);
      } else if (ts.isPropertyAssignment(node) && namesCode(node.name)) {
        collect(node.initializer, file);
      } else if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
        (ts.isPropertyAccessExpression(node.left) || ts.isIdentifier(node.left)) &&
        namesCode(ts.isPropertyAccessExpression(node.left) ? node.left.name : node.left)
      ) {
        collect(node.right, file);
      } else if ((ts.isSatisfiesExpression(node) || ts.isAsExpression(node)) && typedAsCode(node.type, source)) {
        collect(node.expression, file);
      } else if (
        (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node)) &&
        node.body !== undefined &&
        typedAsCode(node.type, source)
      ) {
        collect(node.body, file);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('Problem codes: the enum in the document against the codes in the source', () => {
  const temp = makeTempDir();
  let app: RunningApp;
  let document: {
    components: { schemas: Record<string, { enum?: string[]; properties?: Record<string, { allOf?: unknown }> }> };
  };
  beforeAll(async () => {
    app = await startApp({ DB_PATH: temp.dbPath });
    document = (await (await fetch(`${app.url}/openapi.json`)).json()) as typeof document;
  });
  afterAll(async () => {
    await app.close();
    temp.remove();
  });

  it('when the served document is read, then Problem.code is the ProblemCode enum, made from PROBLEM_CODES', () => {
    const { schemas } = document.components;
    assert.deepEqual(schemas.Problem!.properties!.code!.allOf, [{ $ref: '#/components/schemas/ProblemCode' }]);
    assert.deepEqual(schemas.ProblemCode!.enum, [...PROBLEM_CODES]);
  });

  it('when every code under src/ is collected, then it is exactly the enum the served document lists', () => {
    const inSource = codesInSource(PROJECT_ROOT);
    const documented = new Set(document.components.schemas.ProblemCode!.enum);

    const undocumented = [...inSource].filter(([code]) => !documented.has(code));
    assert.deepEqual(
      undocumented.map(([code, files]) => `${code} (${[...new Set(files)].join(', ')})`),
      [],
      'codes emitted under src/ but missing from the ProblemCode enum: add them to PROBLEM_CODES',
    );
    const neverEmitted = [...documented].filter((code) => !inSource.has(code));
    assert.deepEqual(
      neverEmitted,
      [],
      'codes in the enum that nothing under src/ emits: remove them from PROBLEM_CODES',
    );
  });

  it('when the scan is given the shapes a code is written in, then it finds each one', () => {
    // The scan itself, on a throwaway tree: a scan that saw nothing would make the comparison above vacuous.
    const tree = makeTempDir();
    try {
      const dir = path.join(tree.dir, 'src/x');
      mkdirSync(dir, { recursive: true });
      const write = (name: string, text: string) => writeFileSync(path.join(dir, name), text);
      write('a.errors.ts', "class A extends DomainError { readonly code = 'A_CODE'; readonly kind = 'invalid'; }");
      write('b.ts', "const E = { X: { code: 'B_CODE', detail: 'NOT_A_CODE is not one' } };");
      write('c.ts', "class C { constructor() { this.code = 'C_CODE'; } }");
      write('d.ts', "const CODES: Record<P, ProblemCode> = { one: 'D_CODE', 'E_KEY': 'E_CODE' };");
      write('f.ts', "function f(s: number): ProblemCode { return s > 1 ? 'F_CODE' : 'G_CODE'; }");
      write('h.ts', "const h = { status: 400, code: 'H_CODE' } satisfies { code: ProblemCode };");
      write('i.spec.ts', "const code = 'IN_A_SPEC';");
      write('j.ts', "if (error.code === 'ECONNRESET') throw new Error('NOT_A_CODE');");
      assert.deepEqual([...codesInSource(tree.dir).keys()].sort(), [
        'A_CODE',
        'B_CODE',
        'C_CODE',
        'D_CODE',
        'E_CODE',
        'F_CODE',
        'G_CODE',
        'H_CODE',
      ]);
    } finally {
      tree.remove();
    }
  });

  it('when a code outside PROBLEM_CODES is written, then it does not compile', () => {
    // Checked by tsc when the tests are built: each @ts-expect-error fails the build if its line compiles.
    // @ts-expect-error: not a ProblemCode
    const unknown: ProblemCode = 'NO_SUCH_CODE';
    class UnlistedError extends DomainError {
      // @ts-expect-error: DomainError.code is a ProblemCode
      readonly code = 'NO_SUCH_CODE';
      readonly kind = 'invalid';
    }
    assert.ok(!(PROBLEM_CODES as readonly string[]).includes(unknown));
    assert.equal(new UnlistedError('x').code, 'NO_SUCH_CODE');
  });
});
