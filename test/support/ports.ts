import { once } from 'node:events';
import net from 'node:net';

/**
 * A port that was free on 127.0.0.1 a moment ago. Another process may take it before it is used; the
 * kernel hands out ephemeral ports in turn, so that is rare (startPrometheus retries when it happens).
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}
