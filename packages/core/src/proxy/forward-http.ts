import { type IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { DdeError } from '../errors.ts';
import { type HttpActivity, recordedPath } from '../history/history.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { Route } from '../manager/route-table.ts';
import { equalsIgnoreCase } from '../upstream/characters.ts';
import type { Exchange, ResponseHandler } from '../upstream/exchange.ts';
import type { UpstreamPool } from '../upstream/pool.ts';
import type { ResponseHead } from '../upstream/response-parser.ts';
import type { ResponseRewrite, UpstreamRequestHead } from './headers.ts';
import { clientResponseHeaders, type KnownAuthorities, knownAuthorities } from './headers.ts';
import { cutResponse, sendError } from './pages.ts';
import type { SafeHistory } from './safe-history.ts';
import type { Drain } from './shutdown.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What every forwarded request of one proxy shares. */
export interface ForwardSettings {
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** The body timeout of a `text/event-stream` response (0: never). */
  readonly eventStreamBodyTimeoutMs: number;
  /** Request bodies up to this size are read whole before the container is asked; 0: never. */
  readonly requestBufferBytes: number;
  /** Rewrite `Location` under the path prefix. */
  readonly rewriteLocation: boolean;
  /** Rewrite `Set-Cookie` paths under the path prefix. */
  readonly rewriteCookiePath: boolean;
  readonly history: SafeHistory;
  readonly metrics: DdeMetrics | undefined;
  /** Exchanges in flight, waited for (then cut) when the proxy closes. */
  readonly drain: Drain;
}

/** One request to forward. */
export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  /** Upstream path and query. */
  readonly path: string;
  /** The container's public path prefix, or `''` (hostname routing). */
  readonly prefix: string;
  /** The `Host` sent upstream. */
  readonly host: string | undefined;
  /** Request headers for the upstream, and the body's framing. */
  readonly head: UpstreamRequestHead;
  readonly user: string | undefined;
}

/**
 * Streams one request to the container's pool and its response back into `res`, with
 * backpressure both ways; a request body up to `requestBufferBytes` is read whole first. Upstream failures before the response started
 * become a 502 (refused, reset, invalid) or 504 (timeout); after, the client connection is cut
 * (the status line is gone). A client that leaves aborts the upstream exchange. Records the
 * exchange in the history when it ends.
 */
export function forwardHttp(settings: ForwardSettings, forward: ForwardRequest): void {
  const { req, res } = forward;
  // Gone during an asynchronous authorization or lookup: its 'close' has already fired.
  if (res.destroyed) return;
  if (res.headersSent) {
    // The application already started another response: the container's cannot follow it, so
    // the container is not asked (a POST would take effect unseen), and the client is cut.
    cutResponse(res);
    return;
  }
  const handler = new ForwardHandler(settings, forward);
  const { body, bodyLength, transferCodings } = forward.head;
  const limit = settings.requestBufferBytes;
  // A small body is read whole first, as nginx does: a client dripping it holds no connection
  // to the container meanwhile (a tool serving few connections at once is not starved). A body
  // that carries other transfer codings goes on as it came.
  if (body === 'none' || limit === 0 || bodyLength > limit || transferCodings !== undefined) {
    dispatch(settings, forward, handler, body === 'none' ? undefined : req);
    return;
  }
  readUpTo(req, limit, (read) => {
    // The client left meanwhile (its response's 'close' ended the handler), or the pool is gone.
    if (handler.ended || forward.route.pool === undefined) {
      if (!handler.ended) handler.onResponseError(gone(forward.route.name));
      return;
    }
    dispatch(settings, forward, handler, read);
  });
}

function dispatch(
  settings: ForwardSettings,
  forward: ForwardRequest,
  handler: ForwardHandler,
  body: Readable | Uint8Array | undefined,
): void {
  const pool = forward.route.pool as UpstreamPool;
  handler.exchange = pool.dispatch(
    {
      method: forward.req.method ?? 'GET',
      path: forward.path,
      headers: forward.head.headers,
      body,
      // Node has removed the chunked framing: a body without a length is re-chunked upstream
      // (one read whole is sent with its length).
      transferCodings: forward.head.transferCodings,
      headersTimeoutMs: settings.headersTimeoutMs,
      bodyTimeoutMs: settings.bodyTimeoutMs,
    },
    handler,
  );
}

function gone(name: string): DdeError {
  return new DdeError('UPSTREAM_UNAVAILABLE', `Container ${name} went away while its request body arrived.`);
}

/**
 * Reads a request body into memory up to `limit` bytes. Hands over the bytes when it ended
 * within the limit, else a stream of what was read followed by the rest. Nothing is handed
 * over when the client leaves first.
 */
function readUpTo(req: IncomingMessage, limit: number, then: (body: Uint8Array | Readable) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const detach = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', detach);
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= limit) return;
    detach();
    req.pause();
    then(Readable.from(concatenated(chunks, req), { objectMode: false }));
  };
  const onEnd = (): void => {
    detach();
    then(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  };
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('close', detach);
}

async function* concatenated(first: Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* first;
  yield* rest;
}

/** Streams the response into `res`; doubles as the rewrite context of its headers. */
class ForwardHandler implements ResponseHandler, ResponseRewrite {
  readonly #settings: ForwardSettings;
  readonly #forward: ForwardRequest;
  readonly #start = Date.now();
  #authorities: KnownAuthorities | undefined = undefined;
  /** The upstream exchange, once dispatched. */
  exchange: Exchange | undefined = undefined;
  /**
   * A large body is written as views of the connection's buffer, released by the write's
   * callback: only when `res` writes as Node's own does (compression middleware replaces
   * `write`, drops its callback and keeps the bytes past the call).
   */
  readonly takesViews: boolean;
  #status = 0;
  #bytesOut = 0;
  #ended = false;
  #waitingForDrain = false;
  /** The `flush` compression middleware puts on `res`, if any (Express's `compression`). */
  #flush: (() => void) | undefined = undefined;

  constructor(settings: ForwardSettings, forward: ForwardRequest) {
    this.#settings = settings;
    this.#forward = forward;
    const res = forward.res;
    this.takesViews = res.write === NODE_WRITE;
    res.on('close', this.#onClose);
    // In flight until #finish: a long response is activity before its record exists.
    (forward.route as Mutable<Route>).inFlightRequests++;
    settings.drain.exchanges.add(forward.res);
  }

  /** Finished: the response ended or failed, or the client left. */
  get ended(): boolean {
    return this.#ended;
  }

  get prefix(): string {
    return this.#forward.prefix;
  }

  get location(): boolean {
    return this.#settings.rewriteLocation;
  }

  get cookiePath(): boolean {
    return this.#settings.rewriteCookiePath;
  }

  authorities(): KnownAuthorities {
    if (this.#authorities === undefined) {
      const { route, host, head } = this.#forward;
      const upstream = route.upstream as NonNullable<Route['upstream']>;
      this.#authorities = knownAuthorities([host, head.publicHost], upstream.host, upstream.port, head.proto);
    }
    return this.#authorities;
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.exchange?.resume();
  };

  readonly #onClose = (): void => {
    if (this.#ended) return;
    // The client left before the response ended.
    this.exchange?.abort();
    this.#finish(499);
  };

  onResponseStart({
    status,
    statusText,
    headers,
    connection,
    transferCodings,
    bodyLength,
  }: ResponseHead): void {
    const res = this.#forward.res;
    if (res.destroyed) {
      this.exchange?.abort();
      this.#finish(499);
      return;
    }
    this.#status = status;
    this.#settings.metrics?.upstreamLatency((Date.now() - this.#start) / 1000);
    const settings = this.#settings;
    const rewrites = this.#forward.prefix !== '' && (settings.rewriteLocation || settings.rewriteCookiePath);
    const out = clientResponseHeaders(headers, connection, rewrites ? this : undefined);
    // Node chunks the body again (as it sees `chunked` here); the other codings stay on it. An
    // HTTP/1.0 client knows no transfer coding (RFC 9112 §6.1): it gets the bytes as they come,
    // delimited by the close (Node closes after a body of unknown length for it), as from nginx.
    if (transferCodings !== undefined && this.#forward.req.httpVersionMinor !== 0) {
      out.push('transfer-encoding', `${transferCodings}, chunked`);
    }
    // A stream of server-sent events idles by design: it gets its own body timeout.
    if (
      settings.eventStreamBodyTimeoutMs !== settings.bodyTimeoutMs &&
      this.exchange !== undefined &&
      isEventStream(headers)
    ) {
      this.exchange.bodyTimeoutMs = settings.eventStreamBodyTimeoutMs;
    }
    // The framing is the container's alone: a length the application set on `res` meanwhile (a
    // Koa fallback setting `ctx.body` once the proxy took the request) would cut the body short
    // and leave the rest to be read as the next response on a kept-alive connection.
    if (res.hasHeader('content-length')) res.removeHeader('content-length');
    // Other headers the application set stay unless the container sends the same one, which
    // writeHead lets replace them; but the application's session cookie must survive the tool's
    // own cookies, and its `Vary: Origin` (CORS) the tool's `Vary`: these go out alongside.
    if (res.hasHeader('set-cookie')) keepAlongside(res, out, 'set-cookie');
    // The proxy is closing: the client should not send its next request on this connection.
    if (settings.drain.draining) res.shouldKeepAlive = false;
    if (res.hasHeader('vary')) keepAlongside(res, out, 'vary');
    // A reason phrase Node refuses, or a header it refuses, throws: the exchange fails with 502.
    if (statusText === '') res.writeHead(status, out);
    else res.writeHead(status, statusText, out);
    // Compression middleware holds small writes back until it has a block. A body of unknown
    // length (server-sent events, streamed logs, NDJSON) is passed on piece by piece; a download
    // of known length keeps the middleware's blocks (flushing each piece costs ratio and CPU).
    const flush = (res as { flush?: () => void }).flush;
    if (flush !== undefined && bodyLength === undefined) this.#flush = flush;
  }

  onResponseData(chunk: Buffer, last: boolean): boolean {
    this.#bytesOut += chunk.length;
    const res = this.#forward.res;
    if (last) {
      // One call writes and finishes: measurably cheaper than write() then end() (~7% CPU).
      res.end(chunk);
      return true;
    }
    const flowing = res.write(chunk);
    if (this.#flush !== undefined) this.#flush.call(res);
    if (flowing) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      res.once('drain', this.#onDrain);
    }
    return false;
  }

  onResponseView(view: Buffer, last: boolean, release: () => void): boolean {
    this.#bytesOut += view.length;
    const res = this.#forward.res;
    // The last view may be held as long as `end` likes (express-session's waits for its
    // store): the connection never reads into that buffer again.
    if (last) res.end(view, release);
    else res.write(view, release);
    // Anything still queued holds the view (writes leave in order): the connection reads on
    // once `release` says it left, which also paces it to the client.
    return res.writableLength === 0;
  }

  onResponseEnd(): void {
    const res = this.#forward.res;
    if (!res.writableEnded) res.end();
    this.#finish(this.#status);
  }

  onResponseError(error: DdeError): void {
    if (this.#ended) return;
    const { req, res, route } = this.#forward;
    if (res.headersSent) {
      // Too late for an error status: cut the connection so the client sees a broken response.
      cutResponse(res);
      this.#finish(this.#status);
      return;
    }
    // 504 for UPSTREAM_TIMEOUT, 503 for UPSTREAM_BUSY, 502 for UPSTREAM_UNAVAILABLE: the one
    // code-to-status mapping.
    const status = error.httpStatus;
    if (status === 503) {
      sendError(req, res, 503, error.code, busyMessage(route.name), BUSY_RETRY_AFTER);
    } else {
      sendError(
        req,
        res,
        status,
        error.code,
        status === 504
          ? `Gateway timeout: the tool in container ${route.name} did not answer in time.`
          : `Bad gateway: the tool in container ${route.name} refused or dropped the connection.`,
      );
    }
    this.#finish(status);
  }

  #finish(status: number): void {
    if (this.#ended) return;
    this.#ended = true;
    const { req, res, path, route, user } = this.#forward;
    (route as Mutable<Route>).inFlightRequests--;
    this.#settings.metrics?.proxied(status);
    res.off('close', this.#onClose);
    if (this.#waitingForDrain) res.off('drain', this.#onDrain);
    const record: Mutable<HttpActivity> = {
      type: 'http',
      time: this.#start,
      method: req.method ?? 'GET',
      path: recordedPath(path),
      status,
      bytesIn: this.exchange?.bytesSent ?? 0,
      bytesOut: this.#bytesOut,
      durationMs: Date.now() - this.#start,
    };
    if (user !== undefined) record.user = user;
    this.#settings.history.recordFor(route, record);
    this.#settings.drain.exchanges.delete(res);
    this.#settings.drain.ended();
  }
}

const NODE_WRITE = ServerResponse.prototype.write;

/** What a client turned away by a full connection queue is told to wait, in seconds. */
export const BUSY_RETRY_AFTER: readonly string[] = ['retry-after', '1'];

/** The answer to a request (or WebSocket handshake) a busy container cannot take now. */
export function busyMessage(name: string): string {
  return (
    `Service unavailable: the tool in container ${name} has all its connections in use and ` +
    'too many requests waiting; retry shortly.'
  );
}

/** Whether the response's `Content-Type` is `text/event-stream` (parameters aside). */
function isEventStream(headers: readonly string[]): boolean {
  for (let index = 0; index < headers.length; index += 2) {
    const name = headers[index] as string;
    if (name.length === 12 && equalsIgnoreCase(name, 'content-type')) {
      return /^text\/event-stream\s*(;|$)/i.test(headers[index + 1] as string);
    }
  }
  return false;
}

/** Moves a header the application set on `res` into the head's list, next to the container's. */
function keepAlongside(res: ServerResponse, out: string[], name: string): void {
  const value = res.getHeader(name);
  res.removeHeader(name);
  if (Array.isArray(value)) for (const item of value) out.push(name, item);
  else if (value !== undefined) out.push(name, String(value));
}
