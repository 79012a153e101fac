import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { recordedPath } from '../history/history.ts';
import type { Route } from '../manager/route-table.ts';
import { equalsIgnoreCase } from '../upstream/characters.ts';
import { TCP_KEEPALIVE_DELAY_MS } from '../upstream/connection.ts';
import type { UpstreamPool } from '../upstream/pool.ts';
import { type ResponseHead, ResponseParseError, ResponseParser } from '../upstream/response-parser.ts';
import { clientResponseHeaders, type ResponseRewrite, rewriteCookiePath } from './headers.ts';
import { headerLines, writeSocketResponse } from './pages.ts';
import type { SafeHistory } from './safe-history.ts';
import { type ReadHandler, readThrough, SessionReader } from './session-reads.ts';
import { GoingAway } from './ws-drain.ts';

/** Everything one forwarded upgrade (WebSocket) needs. */
export interface ForwardUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  /** What the client sent after its request head, held since the upgrade arrived. */
  readonly early: EarlyBytes;
  readonly route: Route;
  /** Upstream path and query. */
  readonly path: string;
  /** Request headers for the upstream, flat (with `Upgrade` and `Connection: upgrade`). */
  readonly headers: readonly string[];
  /** How long the container may take to answer the handshake, in ms. */
  readonly timeoutMs: number;
  /** Largest answer head accepted from the container, in bytes. */
  readonly maxHeaderBytes: number;
  /** How a refusal's headers are rewritten under the path prefix, if at all. */
  readonly rewrite: ResponseRewrite | undefined;
  readonly history: SafeHistory;
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
  /**
   * Closes the session with code 1001 both ways at the next frame boundaries (see
   * {@link GoingAway}); a session still in its handshake does so right after the `101`.
   */
  goAway(): void;
}

/** The most a client may send before its upgrade is accepted; reading pauses beyond it. */
const MAX_EARLY_BYTES = 64 * 1024;

/**
 * Holds what a client sends between its upgrade request and the container's `101`: a
 * WebSocket client sends nothing there, and anything else (a second request smuggled behind
 * the first, say) must not reach the container before it agreed to switch protocols. Reading
 * also tells when the client leaves while its upgrade waits for authorization or a lookup.
 */
export class EarlyBytes {
  readonly #socket: Duplex;
  #chunks: Buffer[];
  #bytes: number;
  /** The client ended or closed its side. */
  gone = false;

  constructor(socket: Duplex, head: Buffer) {
    this.#socket = socket;
    this.#chunks = head.length > 0 ? [head] : [];
    this.#bytes = head.length;
    socket.on('data', this.#onData);
    socket.once('end', this.#onEnd);
    socket.once('close', this.#onGone);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= MAX_EARLY_BYTES) this.#socket.pause();
  };

  readonly #onGone = (): void => {
    this.gone = true;
  };

  readonly #onEnd = (): void => {
    // Half-closed before its upgrade was accepted: the client has given up.
    this.gone = true;
    this.#socket.destroy();
  };

  /** Stops holding: returns what was held, and leaves the socket paused for a pipe. */
  release(): Buffer {
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onGone);
    socket.pause();
    const held = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bytes = 0;
    return held;
  }
}

/**
 * Connects to the container and replays the handshake (rewritten path, proxy headers). The
 * container's answer is parsed before anything reaches the client: a `101` is passed on, then
 * the bytes the client held back, then bytes flow both ways untouched. Any other answer is an
 * ordinary HTTP response: passed on with its headers handled as on the HTTP path, then both
 * connections close, so a refused upgrade never leaves a raw tunnel to the container. Refused,
 * silent or broken containers get a 502/504 answer. Either side closing or failing closes
 * both. Records `open` (on 101) and `close` with byte counts.
 */
export function forwardUpgrade(forward: ForwardUpgrade): UpgradedPair {
  const { req, socket, route, path } = forward;
  const upstreamAddress = route.upstream as NonNullable<Route['upstream']>;
  const started = Date.now();
  // Half-open allowed: a side that finishes sending (TCP FIN) may still receive, as a direct
  // connection would; each end is passed on, and both sockets close once both ended.
  const reader = new SessionReader();
  const upstream = connect({
    host: upstreamAddress.host,
    port: upstreamAddress.port,
    allowHalfOpen: true,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: TCP_KEEPALIVE_DELAY_MS,
    onread: reader,
  });
  // Cut with the route's pool when the container stops, freezes or goes.
  (route.pool as UpstreamPool | undefined)?.track(upstream);
  (socket as Partial<Socket>).setNoDelay?.(true);

  const request = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n${headerLines(forward.headers)}\r\n`;
  // Header values are latin1 strings as Node parsed them: write them back byte for byte.
  const requestBytes = Buffer.byteLength(request, 'latin1');
  upstream.write(request, 'latin1');

  let status = 0;
  /** Bytes of the container's answer up to the end of its head. */
  let answerHeadBytes = 0;
  let closed = false;
  let countClosed: (() => void) | undefined;
  const going = new GoingAway(socket, upstream, (next) => {
    reader.onRead = next;
  });
  let goingAway = false;

  const close = (): void => {
    if (closed) return;
    closed = true;
    countClosed?.();
    if (status !== 0) {
      const now = Date.now();
      forward.history.recordFor(route, {
        type: 'websocket',
        event: 'close',
        time: now,
        path: recordedPath(path),
        status,
        bytesIn: Math.max(0, upstream.bytesWritten - requestBytes),
        bytesOut: Math.max(0, upstream.bytesRead - answerHeadBytes),
        durationMs: now - started,
        ...(forward.user === undefined ? {} : { user: forward.user }),
      });
    }
    forward.onClose();
  };

  /** Answers the client with an error, while it has been sent nothing yet. */
  const fail = (code: 502 | 504, message: string): void => {
    if (status !== 0) return;
    status = code;
    reader.onRead = () => false;
    writeSocketResponse(socket, code, message);
    upstream.destroy();
  };
  const unavailable = (): void =>
    fail(502, `Bad gateway: the tool in container ${route.name} refused or dropped the connection.`);

  /** Container to client after the `101`. */
  const relay = relayer(upstream, socket, going.toClient.feed);
  const pauseUntilDrained = (): false => {
    socket.once('drain', resumeReading);
    return false;
  };
  const resumeReading = (): void => {
    upstream.resume();
  };

  const answer = new AnswerReader(forward, socket);
  const onAnswer = (chunk: Buffer): boolean => {
    let head: ResponseHead | undefined;
    let rest: Buffer | undefined;
    try {
      const read = answer.read(chunk);
      if (status === 0) status = answer.refusedWith;
      if (answer.full) {
        // A refusal's body goes on at the pace the client reads it, not into memory.
        answer.full = false;
        return pauseUntilDrained();
      }
      if (read === undefined) return true;
      ({ head, rest } = read);
    } catch (error) {
      if (!(error instanceof ResponseParseError)) throw error;
      if (answer.answering) {
        cut(socket); // a refusal's body went bad: the client sees a cut response
        upstream.destroy();
      } else unavailable();
      return false;
    }
    status = 101;
    upstream.setTimeout(0);
    reader.onRead = relay;
    answerHeadBytes = upstream.bytesRead - rest.length;
    socket.write(switchingProtocols(head, forward.rewrite), 'latin1');
    // The bytes after the head sit in a read buffer: the client gets a copy.
    if (rest.length > 0) socket.write(Buffer.from(rest));
    const held = forward.early.release();
    if (held.length > 0) upstream.write(held);
    countClosed = forward.opened();
    forward.history.recordFor(route, {
      type: 'websocket',
      event: 'open',
      time: Date.now(),
      path: recordedPath(path),
      status,
      ...(forward.user === undefined ? {} : { user: forward.user }),
    });
    // Client to container: the client's socket reads into reused buffers too where Node lets
    // it; elsewhere a pipe, the frame follower listening beside it.
    const clientReader = new SessionReader();
    if (readThrough(socket, clientReader, upstream)) {
      clientReader.onRead = relayer(socket, upstream, going.toUpstream.feed);
      going.follow(rest, held, (next) => {
        clientReader.onRead = next;
      });
      socket.on('end', () => upstream.end());
    } else {
      going.follow(rest, held, undefined);
      socket.pipe(upstream);
    }
    if (goingAway) going.start();
    return true;
  };
  reader.onRead = onAnswer;

  upstream.setTimeout(forward.timeoutMs, () => {
    if (status === 101) return;
    if (status === 0) {
      fail(504, `Gateway timeout: the tool in container ${route.name} did not answer in time.`);
    } else {
      // Stalled in the middle of a refusal's body.
      cut(socket);
      upstream.destroy();
    }
  });

  upstream.on('error', () => {
    if (status === 0) unavailable();
    else cut(socket);
  });
  socket.on('error', () => upstream.destroy());

  upstream.on('end', () => {
    if (status === 0)
      unavailable(); // closed without (finishing) an answer
    else if (status !== 101) answer.serverClosed();
    else socket.end(); // the container finished sending: so does the client's side, as a pipe would
  });
  // A side that ends or closes takes the other with it, once what is in flight is written.
  upstream.on('close', () => {
    if (status === 0) unavailable();
    endThenDestroy(socket);
    close();
  });
  socket.on('close', () => {
    upstream.destroy();
    close();
  });
  const goAway = (): void => {
    goingAway = true;
    if (status === 101) going.start();
  };
  return { client: socket, upstream, goAway };
}

/**
 * Passes the reads of `from` on to `to` after the `101`, telling `follow` about each: views of
 * the session's own read buffer are written as they are, reading paused until a write that did
 * not finish at once is done (it still holds the view); reads in the shared buffer are copied.
 */
function relayer(from: Duplex, to: Duplex, follow: (chunk: Buffer) => void): ReadHandler {
  let holding = false;
  const written = (): void => {
    if (!holding) return;
    holding = false;
    from.resume();
  };
  const drained = (): void => {
    from.resume();
  };
  return (chunk, shared) => {
    follow(chunk);
    if (shared) {
      if (to.write(Buffer.from(chunk))) return true;
      to.once('drain', drained);
      return false;
    }
    const queued = to.writableLength;
    to.write(chunk, written);
    if (to.writableLength <= queued) return true; // written at once
    holding = true;
    return false;
  };
}

/**
 * Reads the container's answer to the handshake: returns the `101` head and the bytes after
 * it; passes any other answer to the client as a complete HTTP response, then ends it.
 */
class AnswerReader {
  readonly #parser: ResponseParser;
  readonly #forward: ForwardUpgrade;
  readonly #client: Duplex;
  #head: ResponseHead | undefined = undefined;
  #ended = false;
  /** A refusal is being passed on: the client has been sent its head. */
  answering = false;
  /** The client's write buffer is full: reading the container should wait for its `drain`. */
  full = false;

  constructor(forward: ForwardUpgrade, client: Duplex) {
    this.#forward = forward;
    this.#client = client;
    this.#parser = new ResponseParser(
      {
        onHead: (head) => {
          this.#head = head;
          if (head.status !== 101) this.#startRefusal(head);
        },
        onBody: (data, start, end) => {
          // Only valid during the call: the client gets a copy.
          if (!this.#client.write(Buffer.from(data.subarray(start, end)))) this.full = true;
        },
      },
      forward.maxHeaderBytes,
    );
    this.#parser.reset(forward.req.method === 'HEAD', true);
  }

  /**
   * Parses a chunk. Returns the `101` head and what follows it once it is complete; undefined
   * while the head is incomplete or a refusal is passed on.
   *
   * @throws {@link ResponseParseError} when the answer is not valid HTTP/1.1.
   */
  read(chunk: Buffer): { head: ResponseHead; rest: Buffer } | undefined {
    const used = this.#parser.execute(chunk);
    const head = this.#head;
    if (head === undefined) return undefined;
    if (head.status === 101) return { head, rest: chunk.subarray(used) };
    if (this.#parser.done) this.#endRefusal();
    return undefined;
  }

  /** The container closed: ends a refusal delimited by the close, or cuts a broken one. */
  serverClosed(): void {
    if (this.#ended) return;
    if (this.#parser.finish()) this.#endRefusal();
    else cut(this.#client);
  }

  #startRefusal(head: ResponseHead): void {
    this.answering = true;
    const out = clientResponseHeaders(head.headers, head.connection, this.#forward.rewrite);
    let text = `HTTP/1.1 ${head.status} ${head.statusText}\r\n${headerLines(out)}`;
    // The body goes on unchunked, delimited by the close, still carrying its other codings.
    if (head.transferCodings !== undefined) text += `transfer-encoding: ${head.transferCodings}\r\n`;
    // The connection ends with this response: a body without a length is delimited by that.
    this.#client.write(`${text}connection: close\r\n\r\n`, 'latin1');
  }

  /** The status of a refusal being passed on, else 0. */
  get refusedWith(): number {
    return this.answering ? (this.#head as ResponseHead).status : 0;
  }

  #endRefusal(): void {
    if (this.#ended) return;
    this.#ended = true;
    endThenDestroy(this.#client);
  }
}

/**
 * The `101` head for the client, as the container sent it (names and values as parsed; its
 * `Upgrade` and `Connection` are the switch itself), `Set-Cookie` paths put under the prefix.
 */
function switchingProtocols(head: ResponseHead, rewrite: ResponseRewrite | undefined): string {
  let headers = head.headers;
  if (rewrite?.cookiePath) {
    headers = headers.map((value, index) => {
      const name = headers[index - 1];
      return index % 2 === 1 && name?.length === 10 && equalsIgnoreCase(name, 'set-cookie')
        ? rewriteCookiePath(value, rewrite.prefix)
        : value;
    });
  }
  return `HTTP/1.1 101 ${head.statusText}\r\n${headerLines(headers)}\r\n`;
}

/**
 * Closes the client's connection with a reset: a refusal's body is delimited by the close, so
 * a plain FIN would make a cut body look complete.
 */
function cut(socket: Duplex): void {
  const reset = (socket as Partial<Socket>).resetAndDestroy;
  if (typeof reset === 'function' && !socket.destroyed) reset.call(socket);
  else socket.destroy();
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
