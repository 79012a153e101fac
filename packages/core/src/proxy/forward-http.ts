import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { History } from '../history/history.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { Route } from '../manager/route-table.ts';
import type { ResponseRewrite } from './headers.ts';
import { clientResponseHeaders } from './headers.ts';
import { sendError } from './pages.ts';

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

/** Thrown into undici when the client went away, so the upstream request stops. */
class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * Streams one request to the container's pool and its response back into `res`, with
 * backpressure both ways and no buffering. Upstream failures before the response started
 * become a 502 (refused, reset) or 504 (timeout); after, the client connection is cut (the
 * status line is gone). A client that leaves aborts the upstream request. Records the
 * exchange in the history when it ends.
 */
export function forwardHttp(forward: ForwardRequest): void {
  const { req, route } = forward;
  const pool = route.pool as Dispatcher;
  const handler = new ForwardHandler(forward);
  const method = req.method ?? 'GET';
  const headers = req.headers;
  const hasBody =
    headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  try {
    pool.dispatch(
      {
        path: forward.path,
        method,
        headers: forward.headers,
        body: hasBody ? req : null,
        headersTimeout: forward.headersTimeoutMs,
        bodyTimeout: forward.bodyTimeoutMs,
      },
      handler,
    );
  } catch (error) {
    handler.onResponseError(undefined, error as Error);
  }
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #forward: ForwardRequest;
  readonly #start = Date.now();
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #ended = false;

  constructor(forward: ForwardRequest) {
    this.#forward = forward;
    forward.res.on('drain', this.#onDrain);
    forward.res.once('close', this.#onClose);
  }

  #onDrain = (): void => {
    this.#controller?.resume();
  };

  #onClose = (): void => {
    if (this.#ended) return;
    // The client left before the response ended.
    this.#controller?.abort(new ClientGoneError('client closed the connection'));
    this.#finish(499);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#forward.res.destroyed) controller.abort(new ClientGoneError('client closed the connection'));
  }

  onBodySent(chunk: Buffer): void {
    this.#bytesIn += chunk.length;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const res = this.#forward.res;
    if (res.destroyed) {
      controller.abort(new ClientGoneError('client closed the connection'));
      return;
    }
    this.#status = statusCode;
    this.#forward.metrics?.upstreamLatency((Date.now() - this.#start) / 1000);
    const out = clientResponseHeaders(headers, this.#forward.rewrite);
    // Node accepts a flat [name, value, ...] array; values may be arrays (Set-Cookie).
    const flat = out as unknown as string[];
    if (statusMessage) res.writeHead(statusCode, statusMessage, flat);
    else res.writeHead(statusCode, flat);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytesOut += chunk.length;
    if (!this.#forward.res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#forward.res.end();
    this.#finish(this.#status);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (error instanceof ClientGoneError || this.#ended) return;
    const { req, res, route } = this.#forward;
    const timeout = TIMEOUT_CODES.has((error as { code?: string }).code ?? '');
    if (res.headersSent) {
      // Too late for an error status: cut the connection so the client sees a broken response.
      res.destroy();
      this.#finish(this.#status);
      return;
    }
    if (timeout) {
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
    res.off('drain', this.#onDrain);
    res.off('close', this.#onClose);
    const query = path.indexOf('?');
    history.record(route.name, {
      type: 'http',
      time: this.#start,
      method: req.method ?? 'GET',
      path: query === -1 ? path : path.slice(0, query),
      status,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      durationMs: Date.now() - this.#start,
      ...(user === undefined ? {} : { user }),
    });
  }
}
