import Fastify from 'fastify';

/**
 * The baseline: bare Fastify serving the same items from memory, with no validation, logging, metrics
 * or store. What the framework alone costs on this machine; the service is compared with it.
 * `ITEMS` items, like the service's store in the same round; `GET /items/{id}` of the first one.
 */
const count = Number(process.env.ITEMS ?? 1);
const items = Array.from({ length: count }, (_, n) => ({
  id: n === 0 ? '00000000-0000-4000-8000-000000000000' : `item-${n}`,
  name: 'benchmark item',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
}));
const byId = new Map(items.map((item) => [item.id, item]));

const app = Fastify({ logger: false });
app.get<{ Params: { id: string } }>('/items/:id', async (request, reply) => {
  const found = byId.get(request.params.id);
  if (!found) return reply.code(404).send({ status: 404 });
  return found;
});
app.get<{ Querystring: { limit?: string } }>('/items', (request) =>
  Promise.resolve({ items: items.slice(0, Number(request.query.limit ?? 50)), next_cursor: null }),
);
app.get('/readyz', () => Promise.resolve({ status: 'ok' }));

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ msg: 'listening', address: address.replace('http://', '') })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
