import { type IncomingHttpHeaders, request } from 'node:http';
import { WebSocket } from 'ws';

/** A response read to its end. */
export interface Reply {
  /** Status code. */
  readonly status: number;
  /** Response headers. */
  readonly headers: IncomingHttpHeaders;
  /** The body. */
  readonly body: Buffer;
  /** The body as UTF-8 text. */
  readonly text: string;
}

/** What {@link send} sends. */
export interface Outgoing {
  /** Request method. Default GET. */
  method?: string;
  /** Request target. */
  path: string;
  /** The `Host` header (the connection always goes to 127.0.0.1). */
  host?: string;
  /** More headers. */
  headers?: Record<string, string>;
  /** The body: one buffer (sent with its length) or parts (sent chunked, without a length). */
  body?: string | Buffer | readonly Buffer[];
}

/** Sends one request to `127.0.0.1:port` on a fresh connection and reads the whole response. */
export function send(port: number, outgoing: Outgoing): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...outgoing.headers };
    if (outgoing.host !== undefined) headers.host = outgoing.host;
    const body = outgoing.body;
    if (typeof body === 'string' || Buffer.isBuffer(body))
      headers['content-length'] = String(Buffer.byteLength(body));
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: outgoing.method ?? 'GET',
        path: outgoing.path,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString() });
        });
      },
    );
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const part of body) req.write(part);
      req.end();
    } else req.end(body);
  });
}

/**
 * Opens a WebSocket through `127.0.0.1:port`; rejects with `status <code>` when refused. A message
 * the server sends as the socket opens may be emitted before the caller's listener is on: wait
 * for messages the test provokes after opening.
 */
export function openWebSocket(
  port: number,
  path: string,
  options: { host?: string; headers?: Record<string, string> } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.host === undefined ? {} : { host: options.host }) };
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => {
      reject(new Error(`status ${res.statusCode}`));
      res.resume();
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

/** Sends one message and resolves with the next message received. */
export function echoOnce(socket: WebSocket, message: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data: Buffer) => resolve(Buffer.from(data)));
    socket.once('error', reject);
    socket.send(message);
  });
}
