import { type Dispatcher, request } from 'undici';

export interface StoredItem {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  version: number;
}

/** Every item the running service holds, read page by page. */
export async function readAllItems(url: string, dispatcher?: Dispatcher): Promise<Map<string, StoredItem>> {
  const items = new Map<string, StoredItem>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${cursor}`;
    const response = await request(`${url}/items?limit=1000${query}`, { dispatcher });
    if (response.statusCode !== 200) throw new Error(`GET /items answered ${response.statusCode}`);
    const page = (await response.body.json()) as { items: StoredItem[]; next_cursor: string | null };
    for (const item of page.items) {
      if (items.has(item.id)) throw new Error(`item ${item.id} listed twice`);
      items.set(item.id, item);
    }
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}

/** Compares what the service holds with what acknowledged writes say it must hold. */
export function diffStore(
  expected: ReadonlyMap<string, StoredItem>,
  actual: ReadonlyMap<string, StoredItem>,
): string[] {
  const problems: string[] = [];
  for (const [id, item] of expected) {
    const found = actual.get(id);
    if (!found) problems.push(`acknowledged item ${id} (version ${item.version}) is missing`);
    else if (JSON.stringify(found) !== JSON.stringify(item))
      problems.push(
        `item ${id} is ${JSON.stringify(found)}, but the last acknowledged write made it ${JSON.stringify(item)}`,
      );
  }
  for (const id of actual.keys())
    if (!expected.has(id)) problems.push(`item ${id} exists, but no acknowledged write created it (phantom)`);
  return problems;
}
