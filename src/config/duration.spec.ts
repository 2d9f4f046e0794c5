import assert from '../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import { parseByteSize, parseDuration } from './duration.js';

describe('parseDuration', () => {
  const cases: Array<[string, number | undefined]> = [
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['30', 30_000],
    ['2.5', 2_500],
    ['1.5s', 1_500],
    ['0', 0],
    ['', undefined],
    ['10x', undefined],
    ['-5s', undefined],
    ['s', undefined],
    ['1m 30s', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`when given ${JSON.stringify(text)}, then returns ${expected}`, () => {
      assert.equal(parseDuration(text), expected);
    });
  }
});

describe('parseByteSize', () => {
  const cases: Array<[string, number | undefined]> = [
    ['65536', 65_536],
    ['64kb', 65_536],
    ['1mb', 1_048_576],
    ['1MiB', 1_048_576],
    ['12b', 12],
    ['1gb', undefined],
    ['-1', undefined],
    ['ten', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`when given ${JSON.stringify(text)}, then returns ${expected}`, () => {
      assert.equal(parseByteSize(text), expected);
    });
  }
});
