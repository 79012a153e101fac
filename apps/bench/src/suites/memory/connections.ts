/**
 * Client connections held open against a proxy: keep-alive HTTP connections that made one
 * request each and then sit idle, or WebSockets that echoed one message and then sit idle.
 * Opened in waves, so no proxy sees more than `wave` handshakes at once.
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';

/** Connections held open; `open()` counts those the proxy has not closed. */
export interface HeldConnections {
  open(): number;
  closeAll(): Promise<void>;
}

/** Where a complete HTTP/1.1 response with a Content-Length ends in `data`, or -1 while incomplete. */
export function responseEnd(data: string): number {
  const headersEnd = data.indexOf('\r\n\r\n');
  if (headersEnd === -1) return -1;
  const length = /^content-length:\s*(\d+)\s*$/im.exec(data.slice(0, headersEnd));
  if (length === null) throw new Error(`a response without Content-Length: ${data.slice(0, 200)}`);
  const end = headersEnd + 4 + Number(length[1]);
  return data.length >= end ? end : -1;
}

/** One keep-alive GET of `url` on a new connection; resolves with the connection once answered 200. */
function keepAliveRequest(url: URL): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = '';
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.setEncoding('latin1');
    socket.on('connect', () =>
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n\r\n`),
    );
    const onData = (chunk: string) => {
      data += chunk;
      let end: number;
      try {
        end = responseEnd(data);
      } catch (error) {
        fail(error as Error);
        return;
      }
      if (end === -1) return;
      socket.off('data', onData);
      socket.off('error', fail);
      if (!data.startsWith('HTTP/1.1 200')) fail(new Error(`expected 200, got ${data.split('\r\n')[0]}`));
      else resolve(socket);
    };
    socket.on('data', onData);
  });
}

/** One WebSocket that has echoed one message. */
function echoedWebSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send('hello, proxy'));
    ws.once('message', () => {
      ws.off('error', reject);
      resolve(ws);
    });
  });
}

async function inWaves<T>(count: number, wave: number, open: () => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let opened = 0; opened < count; opened += wave) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(wave, count - opened) }, open))));
  }
  return all;
}

/** Counts the closes of `connections`; `close` closes one that is still open and resolves once it has. */
function held<
  T extends { on(event: 'error', f: () => void): unknown; once(event: 'close', f: () => void): unknown },
>(connections: readonly T[], close: (connection: T) => Promise<unknown> | undefined): HeldConnections {
  let closed = 0;
  for (const connection of connections) {
    connection.on('error', () => {});
    connection.once('close', () => closed++);
  }
  return {
    open: () => connections.length - closed,
    closeAll: async () => {
      await Promise.all(connections.map(close));
    },
  };
}

/** `count` idle keep-alive connections to `url`, each after one answered GET. */
export async function holdKeepAlive(url: string, count: number, wave = 50): Promise<HeldConnections> {
  const target = new URL(url);
  return held(await inWaves(count, wave, () => keepAliveRequest(target)), (socket) =>
    socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve).destroy()),
  );
}

/** `count` idle WebSockets to `url`, each after one echoed message. */
export async function holdWebSockets(url: string, count: number, wave = 50): Promise<HeldConnections> {
  return held(await inWaves(count, wave, () => echoedWebSocket(url)), (ws) =>
    ws.readyState === WebSocket.CLOSED
      ? undefined
      : new Promise((resolve) => {
          ws.once('close', resolve);
          ws.terminate();
        }),
  );
}
