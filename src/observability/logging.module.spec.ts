import assert from '../../test/support/assert.js';
import { Writable } from 'node:stream';
import { describe, it } from '@jest/globals';
import { pino } from 'pino';
import { loadConfig } from '../config/app-config.js';
import { loggerOptions } from './logging.module.js';

const KEY = 'canary-key-0123456789abcdef';
const TOKEN = 'otlp-token-9876543210';

/** A logger with the service's options writing to memory, as it would to stdout. */
function capture(env: Record<string, string>) {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino(loggerOptions(loadConfig(env)), stream);
  return { logger, output: () => lines.join('') };
}

describe('loggerOptions', () => {
  it('when a configured secret ends up in any field or message, then the line carries [redacted] instead', () => {
    const { logger, output } = capture({
      API_KEYS: KEY,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${TOKEN}`,
    });
    logger.info({ msg: `failed with key ${KEY}`, detail: { nested: [KEY] }, err: `token ${TOKEN} refused` });
    const line = JSON.parse(output()) as Record<string, any>;
    assert.doesNotMatch(output(), new RegExp(`${KEY}|${TOKEN}`));
    assert.equal(line.msg, 'failed with key [redacted]');
    assert.deepEqual(line.detail.nested, ['[redacted]']);
    assert.equal(line.err, 'token [redacted] refused');
  });

  it('when a request or response object is logged, then credentials in its headers are redacted by path', () => {
    const { logger, output } = capture({});
    logger.info({
      req: { headers: { authorization: 'Bearer someone-elses-key', cookie: 'session=abc', 'x-api-key': 'k' } },
      res: { headers: { 'set-cookie': 'session=def' } },
    });
    const line = JSON.parse(output()) as Record<string, any>;
    assert.deepEqual(line.req.headers, {
      authorization: '[redacted]',
      cookie: '[redacted]',
      'x-api-key': '[redacted]',
    });
    assert.equal(line.res.headers['set-cookie'], '[redacted]');
  });

  it('when logging, then lines are JSON with level as a label, an ISO time, service and version', () => {
    const { logger, output } = capture({ LOG_LEVEL: 'debug' });
    logger.debug({ msg: 'hello' });
    const line = JSON.parse(output()) as Record<string, any>;
    assert.equal(line.level, 'debug');
    assert.equal(line.service, 'items-service');
    assert.equal(line.msg, 'hello');
    assert.ok(!Number.isNaN(Date.parse(line.time as string)));
  });
});
