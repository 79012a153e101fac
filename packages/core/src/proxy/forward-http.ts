import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DdeError } from '../errors.ts';
import type { History, HttpActivity } from '../history/history.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { Route } from '../manager/route-table.ts';
import type { Exchange, ResponseHandler } from '../upstream/exchange.ts';
import type { UpstreamPool } from '../upstream/pool.ts';
import type { ResponseRewrite } from './headers.ts';
import { clientResponseHeaders } from './headers.ts';
import { sendError } from './pages.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Everything one forwarded request needs. */
export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  /** Upstream path and query. */
  readonly path: string;
  /** Request headers for the upstream, flat. */
  readonly headers: string[];
  readonly rewrite: ResponseRewrite | undefined;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly history: History;
  readonly metrics: DdeMetrics | undefined;
  readonly user: string | undefined;
}

/**
 * Streams one request to the container's pool and its response back into `res`, with
 * backpressure both ways and no buffering. Upstream failures before the response started
 * become a 502 (refused, reset, invalid) or 504 (timeout); after, the client connection is cut
 * (the status line is gone). A client that leaves aborts the upstream exchange. Records the
 * exchange in the history when it ends.
 */
export function forwardHttp(forward: ForwardRequest): void {
  const { req, res } = forward;
  // Gone during an asynchronous authorization or lookup: its 'close' has already fired.
  if (res.destroyed) return;
  const pool = forward.route.pool as UpstreamPool;
  const headers = req.headers;
  // Node has removed the chunked framing: such a body is re-chunked upstream.
  const chunked = headers['transfer-encoding'] !== undefined;
  const length = headers['content-length'];
  const handler = new ForwardHandler(forward);
  handler.exchange = pool.dispatch(
    {
      method: req.method ?? 'GET',
      path: forward.path,
      headers: forward.headers,
      body: chunked || (length !== undefined && length !== '0') ? req : undefined,
      chunked,
      headersTimeoutMs: forward.headersTimeoutMs,
      bodyTimeoutMs: forward.bodyTimeoutMs,
    },
    handler,
  );
}

class ForwardHandler implements ResponseHandler {
  readonly #forward: ForwardRequest;
  readonly #start = Date.now();
  /** The upstream exchange, once dispatched. */
  exchange: Exchange | undefined = undefined;
  #status = 0;
  #bytesOut = 0;
  #ended = false;
  #waitingForDrain = false;

  constructor(forward: ForwardRequest) {
    this.#forward = forward;
    forward.res.on('close', this.#onClose);
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

  onResponseStart(
    status: number,
    statusText: string,
    headers: string[],
    connection: string | undefined,
  ): void {
    const res = this.#forward.res;
    if (res.destroyed) {
      this.exchange?.abort();
      this.#finish(499);
      return;
    }
    this.#status = status;
    this.#forward.metrics?.upstreamLatency((Date.now() - this.#start) / 1000);
    const out = clientResponseHeaders(headers, connection, this.#forward.rewrite);
    // A reason phrase Node refuses, or a header it refuses, throws: the exchange fails with 502.
    if (statusText === '') res.writeHead(status, out);
    else res.writeHead(status, statusText, out);
  }

  onResponseData(chunk: Buffer): boolean {
    this.#bytesOut += chunk.length;
    const res = this.#forward.res;
    if (res.write(chunk)) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      res.once('drain', this.#onDrain);
    }
    return false;
  }

  onResponseEnd(): void {
    this.#forward.res.end();
    this.#finish(this.#status);
  }

  onResponseError(error: DdeError): void {
    if (this.#ended) return;
    const { req, res, route } = this.#forward;
    if (res.headersSent) {
      // Too late for an error status: cut the connection so the client sees a broken response.
      res.destroy();
      this.#finish(this.#status);
      return;
    }
    if (error.code === 'UPSTREAM_TIMEOUT') {
      sendError(
        req,
        res,
        504,
        'UPSTREAM_TIMEOUT',
        `Gateway timeout: the tool in container ${route.name} did not answer in time.`,
      );
      this.#finish(504);
    } else {
      sendError(
        req,
        res,
        502,
        'UPSTREAM_UNAVAILABLE',
        `Bad gateway: the tool in container ${route.name} refused or dropped the connection.`,
      );
      this.#finish(502);
    }
  }

  #finish(status: number): void {
    if (this.#ended) return;
    this.#ended = true;
    const { req, res, path, history, route, user } = this.#forward;
    this.#forward.metrics?.proxied(status);
    res.off('close', this.#onClose);
    if (this.#waitingForDrain) res.off('drain', this.#onDrain);
    const query = path.indexOf('?');
    const record: Mutable<HttpActivity> = {
      type: 'http',
      time: this.#start,
      method: req.method ?? 'GET',
      path: query === -1 ? path : path.slice(0, query),
      status,
      bytesIn: this.exchange?.bytesSent ?? 0,
      bytesOut: this.#bytesOut,
      durationMs: Date.now() - this.#start,
    };
    if (user !== undefined) record.user = user;
    history.record(route.name, record);
  }
}
