import Fastify from 'fastify';

/**
 * The baseline: bare Fastify serving the same item from a Map, with no validation, logging, metrics
 * or store. What the framework alone costs on this machine; the service is compared with it.
 */
const items = new Map<string, unknown>();
const item = {
  id: '00000000-0000-4000-8000-000000000000',
  name: 'benchmark item',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
};
items.set(item.id, item);

const app = Fastify({ logger: false });
app.get<{ Params: { id: string } }>('/items/:id', async (request, reply) => {
  const found = items.get(request.params.id);
  if (!found) return reply.code(404).send({ status: 404 });
  return found;
});
app.get('/readyz', () => Promise.resolve({ status: 'ok' }));

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ msg: 'listening', address: address.replace('http://', ''), id: item.id })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
