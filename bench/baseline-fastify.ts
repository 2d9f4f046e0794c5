import Fastify from 'fastify';
import { baselineItems } from './baseline-items.js';

/**
 * The baseline: bare Fastify serving the same items from memory, with no validation, logging, metrics
 * or store. What the framework alone costs on this machine; the service is compared with it.
 */
const { items, byId } = baselineItems();

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
