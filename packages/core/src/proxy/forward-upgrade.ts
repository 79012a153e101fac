import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { History } from '../history/history.ts';
import type { Route } from '../manager/route-table.ts';
import { writeSocketResponse } from './pages.ts';

/** Everything one forwarded upgrade (WebSocket) needs. */
export interface ForwardUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly route: Route;
  /** Upstream path and query. */
  readonly path: string;
  /** Request headers for the upstream, flat (with `Upgrade` and `Connection: upgrade`). */
  readonly headers: readonly string[];
  /** How long the container may take to answer the handshake, in ms. */
  readonly timeoutMs: number;
  readonly history: History;
  readonly user: string | undefined;
  /** Counts the session as open; returns the function that counts it closed. */
  readonly opened: () => () => void;
  /** Called once both sockets are closed. */
  readonly onClose: () => void;
}

/** Both sockets of a forwarded session, so the proxy can cut them when it closes. */
export interface UpgradedPair {
  readonly client: Duplex;
  readonly upstream: Socket;
}

/**
 * Connects to the container, replays the handshake (rewritten path, proxy headers, then
 * `head`) and pipes bytes both ways; the container's answer (`101` or a refusal) reaches the
 * client as is. Refused or silent containers get a 502/504 answer on the client socket. Either
 * side closing or failing closes both. Records `open` (on 101) and `close` with byte counts.
 */
export function forwardUpgrade(forward: ForwardUpgrade): UpgradedPair {
  const { req, socket, route, path } = forward;
  const upstreamAddress = route.upstream as NonNullable<Route['upstream']>;
  const started = Date.now();
  const upstream = connect({ host: upstreamAddress.host, port: upstreamAddress.port });
  upstream.setNoDelay(true);
  (socket as Partial<Socket>).setNoDelay?.(true);

  let request = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
  const headers = forward.headers;
  for (let index = 0; index < headers.length; index += 2)
    request += `${headers[index]}: ${headers[index + 1]}\r\n`;
  request += '\r\n';
  // Header values are latin1 strings as Node parsed them: write them back byte for byte.
  const requestBytes = Buffer.byteLength(request, 'latin1');
  upstream.write(request, 'latin1');
  if (forward.head.length > 0) upstream.write(forward.head);

  let status = 0;
  let responseHeadBytes = 0;
  let closed = false;
  let countClosed: (() => void) | undefined;

  const close = (): void => {
    if (closed) return;
    closed = true;
    countClosed?.();
    if (status !== 0) {
      const bytesIn = Math.max(0, upstream.bytesWritten - requestBytes);
      const bytesOut = Math.max(0, upstream.bytesRead - responseHeadBytes);
      forward.history.record(route.name, {
        type: 'websocket',
        event: 'close',
        time: Date.now(),
        path: stripQuery(path),
        status,
        bytesIn,
        bytesOut,
        durationMs: Date.now() - started,
        ...(forward.user === undefined ? {} : { user: forward.user }),
      });
    }
    forward.onClose();
  };

  upstream.setTimeout(forward.timeoutMs, () => {
    if (status !== 0) return;
    status = 504;
    writeSocketResponse(
      socket,
      504,
      `Gateway timeout: the tool in container ${route.name} did not answer in time.`,
    );
    upstream.destroy();
  });

  upstream.once('data', (chunk: Buffer) => {
    upstream.setTimeout(0);
    // "HTTP/1.1 101 ..." : the status code sits at bytes 9-11.
    status = Number(chunk.toString('latin1', 9, 12)) || 0;
    const end = chunk.indexOf('\r\n\r\n');
    responseHeadBytes = end === -1 ? chunk.length : end + 4;
    if (status === 101) {
      countClosed = forward.opened();
      forward.history.record(route.name, {
        type: 'websocket',
        event: 'open',
        time: Date.now(),
        path: stripQuery(path),
        status,
        ...(forward.user === undefined ? {} : { user: forward.user }),
      });
    }
  });

  upstream.on('error', () => {
    if (status === 0) {
      status = 502;
      writeSocketResponse(
        socket,
        502,
        `Bad gateway: the tool in container ${route.name} refused or dropped the connection.`,
      );
    } else socket.destroy();
  });
  socket.on('error', () => upstream.destroy());

  upstream.pipe(socket);
  socket.pipe(upstream);

  // A side that ends or closes takes the other with it, once what is in flight is written.
  upstream.on('close', () => {
    endThenDestroy(socket);
    close();
  });
  socket.on('close', () => {
    upstream.destroy();
    close();
  });
  return { client: socket, upstream };
}

function endThenDestroy(stream: Duplex): void {
  if (stream.destroyed) return;
  if (stream.writableFinished) {
    stream.destroy();
    return;
  }
  stream.once('finish', () => stream.destroy());
  stream.end();
}

function stripQuery(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}
