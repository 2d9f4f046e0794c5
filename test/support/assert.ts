import { AssertionError, strict } from 'node:assert';

/**
 * node:assert's strict mode, for suites that run under Jest. Jest runs each suite in a realm of its own,
 * so an array that node:fs returns or a body that fetch parses (both made in Node's realm) has another
 * prototype than an array or object literal in the test, and deepStrictEqual reports "no visual
 * difference". The deep comparisons here first compare as node:assert does; only when that fails are
 * the arrays and plain objects on both sides (and only those: class instances, Maps, Buffers, Errors,
 * URLs stay as they are) rebuilt in one realm and compared again, so that the one difference forgiven
 * is the realm an array or a plain object was made in.
 */
function oneRealm(value: unknown): unknown {
  if (Array.isArray(value)) return Array.from(value as unknown[], oneRealm);
  if (!isPlainObject(value)) return value;
  const copy: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if (descriptor.enumerable) copy[key] = oneRealm((value as Record<PropertyKey, unknown>)[key]);
  }
  return copy;
}

/** An object made by `{}` or JSON.parse in any realm: its prototype is a realm's Object.prototype. */
function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return (
    prototype !== null &&
    Object.getPrototypeOf(prototype) === null &&
    (prototype as { constructor?: { name?: string } }).constructor?.name === 'Object'
  );
}

type Compare = (actual: unknown, expected: unknown, message?: string | Error) => void;

const deepEqual =
  (compare: Compare): Compare =>
  (actual, expected, message) => {
    try {
      compare(actual, expected, message);
    } catch (err) {
      if (!(err instanceof AssertionError)) throw err;
      compare(oneRealm(actual), oneRealm(expected), message);
    }
  };

/** "Not equal" holds only when the values differ by more than the realms they were made in. */
const notDeepEqual =
  (compare: Compare): Compare =>
  (actual, expected, message) =>
    compare(oneRealm(actual), oneRealm(expected), message);

const assert: typeof strict = Object.assign(
  (value: unknown, message?: string | Error) => strict(value, message),
  strict,
  {
    deepEqual: deepEqual(strict.deepEqual),
    deepStrictEqual: deepEqual(strict.deepStrictEqual),
    notDeepEqual: notDeepEqual(strict.notDeepEqual),
    notDeepStrictEqual: notDeepEqual(strict.notDeepStrictEqual),
  },
);

export default assert;
