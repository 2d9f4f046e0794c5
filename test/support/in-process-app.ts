import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp, startListening } from '../../src/app.factory.js';

export interface RunningApp {
  app: NestFastifyApplication;
  url: string;
  close: () => Promise<void>;
}

/** Starts the real app (as main.ts wires it) on 127.0.0.1, port 0, with the given environment. */
export async function startApp(env: Record<string, string>): Promise<RunningApp> {
  // The rate limit is off unless a test sets it: the suites send thousands of requests from one address.
  const { app } = await createApp({
    env: { LOG_LEVEL: 'silent', SHUTDOWN_DRAIN_DELAY: '0', RATE_LIMIT_MAX: '0', ...env },
  });
  const address = await startListening(app, '127.0.0.1', 0);
  return { app, url: `http://${address}`, close: () => app.close() };
}
