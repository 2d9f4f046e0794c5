import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The server's connections and the requests it is answering on them, so that a shutdown can wait
 * for the requests, tell their clients to close, close the connections that have nothing to do,
 * and say how many requests it had to cut.
 *
 * Node keeps a keep-alive connection open after a response that was started before `server.close()`,
 * until its idle timeout: a shutdown would wait that long for nothing. So once stopping, every
 * response, including those already being prepared, carries `Connection: close`.
 */
export class InFlightRequests {
  private readonly responses = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private stopping = false;
  private closingIdle = false;

  /**
   * Tracks the raw server's requests, before Fastify sees them: requests Fastify answers without
   * running its hooks (a bad URL, a route error) are counted too.
   */
  register(server: Server): void {
    const responses = this.responses;
    const sockets = this.sockets;
    // One function for all requests, with `this` as the response: no closure per request.
    const afterResponse = this.afterResponse.bind(this);
    const forget = function (this: ServerResponse) {
      responses.delete(this);
      afterResponse(this);
    };
    server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
      responses.add(response);
      response.on('close', forget);
      if (this.stopping) response.setHeader('connection', 'close');
    });
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }

  get count(): number {
    return this.responses.size;
  }

  /** Asks every client to close its connection after the response it is waiting for. */
  closeConnectionsAfterResponse(): void {
    this.stopping = true;
    for (const response of this.responses) {
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
  }

  /**
   * Closes, gracefully (pending bytes are sent first), every connection without a request in
   * progress, and from now on each connection whose last request ends. Node's own
   * `closeIdleConnections()` would destroy a connection whose last response is still being sent.
   */
  closeIdleConnections(): void {
    this.closingIdle = true;
    const busy = new Set<Socket | null>([...this.responses].map((response) => response.req.socket));
    for (const socket of this.sockets) if (!busy.has(socket)) socket.end();
  }

  private afterResponse(response: ServerResponse): void {
    if (this.closingIdle) {
      const socket = response.req.socket;
      // A pipelined request may still be waiting on the same connection.
      if (socket && ![...this.responses].some((other) => other.req.socket === socket)) socket.end();
    }
  }
}
