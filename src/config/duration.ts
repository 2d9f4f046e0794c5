const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/;

/**
 * Parses a duration such as `10s`, `1m30s`, `500ms`, `1h` or plain seconds (`30`, `2.5`) into
 * milliseconds. Returns undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const value = text.trim();
  if (PLAIN_SECONDS.test(value)) return Math.round(Number(value) * 1000);
  if (!DURATION.test(value)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

const SIZE = /^(\d+)\s*(b|kb|kib|mb|mib)?$/i;
const SIZE_UNIT: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2 };

/** Parses a byte size such as `65536`, `64kb` or `1mb` (binary multiples). */
export function parseByteSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNIT[(match[2] ?? 'b').toLowerCase()]!;
}
