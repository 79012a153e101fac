import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DdeError } from '../errors.ts';
import { type HttpActivity, recordedPath } from '../history/history.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { Route } from '../manager/route-table.ts';
import type { Exchange, ResponseHandler } from '../upstream/exchange.ts';
import type { UpstreamPool } from '../upstream/pool.ts';
import type { ResponseHead } from '../upstream/response-parser.ts';
import type { ResponseRewrite, UpstreamRequestHead } from './headers.ts';
import { clientResponseHeaders, type KnownAuthorities, knownAuthorities } from './headers.ts';
import { cutResponse, sendError } from './pages.ts';
import type { SafeHistory } from './safe-history.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What every forwarded request of one proxy shares. */
export interface ForwardSettings {
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Rewrite `Location` under the path prefix. */
  readonly rewriteLocation: boolean;
  /** Rewrite `Set-Cookie` paths under the path prefix. */
  readonly rewriteCookiePath: boolean;
  readonly history: SafeHistory;
  readonly metrics: DdeMetrics | undefined;
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
 * backpressure both ways and no buffering. Upstream failures before the response started
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
  const pool = forward.route.pool as UpstreamPool;
  const { headers, body, transferCodings } = forward.head;
  const handler = new ForwardHandler(settings, forward);
  handler.exchange = pool.dispatch(
    {
      method: req.method ?? 'GET',
      path: forward.path,
      headers,
      body: body === 'none' ? undefined : req,
      // Node has removed the chunked framing: a body without a length is re-chunked upstream.
      transferCodings,
      headersTimeoutMs: settings.headersTimeoutMs,
      bodyTimeoutMs: settings.bodyTimeoutMs,
    },
    handler,
  );
}

/** Streams the response into `res`; doubles as the rewrite context of its headers. */
class ForwardHandler implements ResponseHandler, ResponseRewrite {
  readonly #settings: ForwardSettings;
  readonly #forward: ForwardRequest;
  readonly #start = Date.now();
  #authorities: KnownAuthorities | undefined = undefined;
  /** The upstream exchange, once dispatched. */
  exchange: Exchange | undefined = undefined;
  #status = 0;
  #bytesOut = 0;
  #ended = false;
  #waitingForDrain = false;
  /** The `flush` compression middleware puts on `res`, if any (Express's `compression`). */
  #flush: (() => void) | undefined = undefined;

  constructor(settings: ForwardSettings, forward: ForwardRequest) {
    this.#settings = settings;
    this.#forward = forward;
    forward.res.on('close', this.#onClose);
    // In flight until #finish: a long response is activity before its record exists.
    (forward.route as Mutable<Route>).inFlightRequests++;
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
    // Node chunks the body again (as it sees `chunked` here); the other codings stay on it.
    if (transferCodings !== undefined) out.push('transfer-encoding', `${transferCodings}, chunked`);
    // The framing is the container's alone: a length the application set on `res` meanwhile (a
    // Koa fallback setting `ctx.body` once the proxy took the request) would cut the body short
    // and leave the rest to be read as the next response on a kept-alive connection.
    if (res.hasHeader('content-length')) res.removeHeader('content-length');
    // Other headers the application set stay unless the container sends the same one, which
    // writeHead lets replace them; but the application's session cookie must survive the tool's
    // own cookies, and its `Vary: Origin` (CORS) the tool's `Vary`: these go out alongside.
    if (res.hasHeader('set-cookie')) keepAlongside(res, out, 'set-cookie');
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
    // 504 for UPSTREAM_TIMEOUT, 502 for UPSTREAM_UNAVAILABLE: the one code-to-status mapping.
    const status = error.httpStatus;
    sendError(
      req,
      res,
      status,
      error.code,
      status === 504
        ? `Gateway timeout: the tool in container ${route.name} did not answer in time.`
        : `Bad gateway: the tool in container ${route.name} refused or dropped the connection.`,
    );
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
  }
}

/** Moves a header the application set on `res` into the head's list, next to the container's. */
function keepAlongside(res: ServerResponse, out: string[], name: string): void {
  const value = res.getHeader(name);
  res.removeHeader(name);
  if (Array.isArray(value)) for (const item of value) out.push(name, item);
  else if (value !== undefined) out.push(name, String(value));
}
