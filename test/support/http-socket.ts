import net from 'node:net';
import { parseResponseHead, type RawResponse } from './http.js';

export interface SocketClosed {
  /** `end`: the server closed the connection in an orderly way; `error`: a reset or other error. */
  how: 'end' | 'error';
  error?: string;
  at: number;
  /** Whether a request was waiting for its response when the connection closed. */
  requestInFlight: boolean;
}

/**
 * One HTTP/1.1 connection driven by hand, so that a test sees exactly what a keep-alive client sees:
 * which response said `Connection: close`, and whether the connection closed under a request.
 */
export class HttpSocket {
  readonly closed: Promise<SocketClosed>;
  private buffer = Buffer.alloc(0);
  private waiting?: { resolve: (response: RawResponse) => void; reject: (err: Error) => void };

  private constructor(private readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => {
      let error: string | undefined;
      socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
      socket.on('close', () => {
        const requestInFlight = this.waiting !== undefined;
        this.waiting?.reject(new Error(`connection closed before the response (${error ?? 'end'})`));
        this.waiting = undefined;
        resolve({ how: error ? 'error' : 'end', error, at: performance.now(), requestInFlight });
      });
    });
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.deliver();
    });
  }

  static connect(url: string): Promise<HttpSocket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname);
      socket.once('connect', () => resolve(new HttpSocket(socket)));
      socket.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete response; rejects if the connection closes first. */
  response(): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(new Error('connection already closed'));
      this.waiting = { resolve, reject };
      this.deliver();
    });
  }

  request(head: string, body = ''): Promise<RawResponse> {
    const response = this.response();
    this.write(head + body);
    return response;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private deliver(): void {
    if (!this.waiting) return;
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const { status, headers } = parseResponseHead(this.buffer.subarray(0, headerEnd).toString('latin1'));
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < headerEnd + 4 + length) return;
    const body = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(headerEnd + 4 + length);
    const { resolve } = this.waiting;
    this.waiting = undefined;
    resolve({ status, headers, body });
  }
}

/** A request head for `path`, keeping the connection open unless told otherwise. */
export function requestHead(method: string, path: string, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A POST /items head and its JSON body. */
export function createItemRequest(item: Record<string, unknown>): { head: string; body: string } {
  const body = JSON.stringify(item);
  const head = requestHead('POST', '/items', {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  return { head, body };
}
