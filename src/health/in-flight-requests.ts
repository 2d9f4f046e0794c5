import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';

/**
 * The requests the server is answering right now, so that a shutdown can wait for them, tell their
 * clients to close the connection, and say how many it had to cut.
 *
 * Node keeps a keep-alive connection open after a response that was started before `server.close()`,
 * until its idle timeout: a shutdown would wait that long for nothing. So once stopping, every
 * response, including those already being prepared, carries `Connection: close`.
 */
export class InFlightRequests {
  private readonly responses = new Set<ServerResponse>();
  private closeConnections = false;
  private settledListener?: () => void;

  /** Counts requests from Fastify's first hook to the response's `close` (sent or aborted). */
  register(fastify: FastifyInstance): void {
    const responses = this.responses;
    // One function for all requests, with `this` as the response: no closure per request.
    const forget = function (this: ServerResponse) {
      responses.delete(this);
      onSettled();
    };
    const onSettled = () => this.settledListener?.();
    fastify.addHook('onRequest', (_request, reply, done) => {
      const response = reply.raw;
      responses.add(response);
      response.on('close', forget);
      if (this.closeConnections) response.setHeader('connection', 'close');
      done();
    });
  }

  get count(): number {
    return this.responses.size;
  }

  /** Asks every client to close its connection after the response it is waiting for. */
  closeConnectionsAfterResponse(): void {
    this.closeConnections = true;
    for (const response of this.responses) {
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
  }

  /** Called after each request ends, while someone is waiting (a shutdown). */
  onSettled(listener: (() => void) | undefined): void {
    this.settledListener = listener;
  }
}
