import { strict } from 'node:assert';
import { deserialize, serialize } from 'node:v8';

/**
 * node:assert's strict mode, for suites that run under Jest. Jest runs each suite in a realm of its own,
 * so an array that node:fs returns or a body that fetch parses (both made in Node's realm) has another
 * prototype than an array literal in the test, and deepStrictEqual reports "no visual difference".
 * The deep comparisons here copy both sides into one realm first (v8's structured clone), which keeps
 * every difference deepStrictEqual would find except class identity; values it cannot copy (functions)
 * are compared as they are.
 */
function oneRealm(value: unknown): unknown {
  try {
    return deserialize(serialize(value));
  } catch {
    return value;
  }
}

const deep =
  (compare: (actual: unknown, expected: unknown, message?: string | Error) => void) =>
  (actual: unknown, expected: unknown, message?: string | Error): void =>
    compare(oneRealm(actual), oneRealm(expected), message);

const assert: typeof strict = Object.assign(
  (value: unknown, message?: string | Error) => strict(value, message),
  strict,
  {
    deepEqual: deep(strict.deepEqual),
    deepStrictEqual: deep(strict.deepStrictEqual),
    notDeepEqual: deep(strict.notDeepEqual),
    notDeepStrictEqual: deep(strict.notDeepStrictEqual),
  },
);

export default assert;
