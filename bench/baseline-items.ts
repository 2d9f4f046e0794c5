/**
 * The baselines' items, held in memory: `ITEMS` of them (like the service's store in the same round),
 * the first with the id the benchmark asks for.
 */
export const FIRST_ITEM_ID = '00000000-0000-4000-8000-000000000000';

export function baselineItems() {
  const count = Number(process.env.ITEMS ?? 1);
  const items = Array.from({ length: count }, (_, n) => ({
    id: n === 0 ? FIRST_ITEM_ID : `item-${n}`,
    name: 'benchmark item',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    version: 1,
  }));
  return { items, byId: new Map(items.map((item) => [item.id, item])) };
}
