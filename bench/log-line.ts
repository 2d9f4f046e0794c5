/**
 * What one request line costs pino with each stdout destination (bench/README.md, Full observability):
 * `node build/bench/log-line.js > /dev/null`, or `| cat > /dev/null` for a pipe. Lines are written 50
 * per event-loop turn, as a busy server writes them; CPU time per line goes to stderr.
 */
import { pino, type DestinationStream } from 'pino';

const LINES = 300_000;
const PER_TURN = 50;
const destinations: Record<string, () => DestinationStream> = {
  'asynchronous, writes up to 16 KB (sonic-boom default)': () => pino.destination({ dest: 1, sync: false }),
  'asynchronous, writes up to 4 KB (the service)': () => pino.destination({ dest: 1, sync: false, maxWrite: 4096 }),
  synchronous: () => pino.destination({ dest: 1, sync: true }),
};
const line = {
  msg: 'request completed',
  request_id: '3f1c8d2e-4b5a-4c6d-9e7f-0a1b2c3d4e5f',
  trace_id: '0af7651916cd43dd8448eb211c80319c',
  span_id: 'b7ad6b7169203331',
  method: 'GET',
  route: '/items/{id}',
  status_code: 200,
  duration_ms: 1.23,
  bytes: 161,
};

for (const [name, destination] of Object.entries(destinations)) {
  const logger = pino(
    {
      base: { service: 'items-service', version: '0.1.0' },
      messageKey: 'msg',
      formatters: { level: (label: string) => ({ level: label }) },
    },
    destination(),
  );
  const started = process.cpuUsage();
  for (let written = 0; written < LINES; written += PER_TURN) {
    for (let i = 0; i < PER_TURN; i++) logger.info(line);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  const used = process.cpuUsage(started);
  process.stderr.write(`${name}: ${((used.user + used.system) / LINES).toFixed(2)} us of CPU a line\n`);
}
