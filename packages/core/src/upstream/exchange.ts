import type { Readable } from 'node:stream';
import type { DdeError } from '../errors.ts';
import type { ResponseHead } from './response-parser.ts';

/** One request to send upstream. */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query, e.g. `/index.html?x=1`. */
  readonly path: string;
  /**
   * Header fields as a flat `[name, value, ...]` list, written as given: names and values must
   * already be valid (as those of a request Node parsed are). A `host` field is added when
   * missing.
   */
  readonly headers: readonly string[];
  /**
   * The body: a stream (an incoming request) or bytes; none when absent. A stream whose headers
   * carry no `content-length` is sent chunked (`transfer-encoding` is added).
   */
  readonly body?: Readable | Uint8Array | undefined;
  /** Codings a chunked body carries besides `chunked` (e.g. `gzip`), sent before it. */
  readonly transferCodings?: string | undefined;
  /** How long the response head may take once the request (body included) is sent, in ms. */
  readonly headersTimeoutMs: number;
  /** How long the body may stall between reads, in ms; 0 for never. */
  readonly bodyTimeoutMs: number;
}

/** Receives one exchange's response. After `onResponseEnd` or `onResponseError` nothing else is called. */
export interface ResponseHandler {
  /** The final response head (flat headers, names as sent). */
  onResponseStart(head: ResponseHead): void;
  /**
   * A piece of the body, owned by the handler; `last` when it ends a body whose length was known
   * (`onResponseEnd` follows at once). Return false to stop reading until {@link Exchange.resume}.
   */
  onResponseData(chunk: Buffer, last: boolean): boolean;
  /**
   * Whether a large body may come as views of the connection's read buffer, through
   * {@link ResponseHandler.onResponseView} (read when the body starts streaming in bulk).
   */
  readonly takesViews?: boolean;
  /**
   * A piece of the body as a view of the connection's read buffer, which no read overwrites
   * until the handler calls `release` (once per view, at once or later, e.g. as the write
   * callback). Return true when done with the bytes already; false to stop reading until every
   * view handed out was released (which is also the backpressure). `last` as for
   * {@link ResponseHandler.onResponseData}. Called instead of it while `takesViews` is true.
   */
  onResponseView?(view: Buffer, last: boolean, release: () => void): boolean;
  /** The response ended. */
  onResponseEnd(): void;
  /** The exchange failed: `UPSTREAM_UNAVAILABLE` or `UPSTREAM_TIMEOUT`. Not called after {@link Exchange.abort}. */
  onResponseError(error: DdeError): void;
}

/** What an exchange needs from the connection carrying it. */
export interface ExchangeCarrier {
  abandon(exchange: Exchange): void;
  resume(): void;
}

// Methods whose requests may be sent twice (RFC 9110 §9.2.2): safe to replay on a fresh
// connection when a reused one turned out to be closed before answering.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** A request on its way through a pool: queued, then carried by one connection. */
export class Exchange {
  readonly request: UpstreamRequest;
  readonly handler: ResponseHandler;
  /** When it was dispatched (ms since the epoch): the head timeout of a request written at once runs from here. */
  readonly startedAt: number = Date.now();
  /** The connection carrying it, once assigned. */
  carrier: ExchangeCarrier | undefined = undefined;
  /** Ended, failed or aborted: the handler hears nothing more. */
  finished = false;
  /** Already replayed once on a fresh connection. */
  retried = false;
  /** Bytes of the request body written upstream so far. */
  bytesSent = 0;
  /**
   * How long the body may stall between reads, in ms (0: never): the request's setting, which the
   * handler may change once it has seen the head (a server-sent event stream idles by design).
   */
  bodyTimeoutMs: number;
  /** Called when the exchange is aborted while queued. */
  onAbortQueued: ((exchange: Exchange) => void) | undefined = undefined;

  constructor(request: UpstreamRequest, handler: ResponseHandler) {
    this.request = request;
    this.handler = handler;
    this.bodyTimeoutMs = request.bodyTimeoutMs;
  }

  /** Whether a failure before any response byte may be retried on a fresh connection. */
  get replayable(): boolean {
    const body = this.request.body;
    return (
      !this.retried &&
      (body === undefined || body instanceof Uint8Array) &&
      IDEMPOTENT.has(this.request.method)
    );
  }

  /** Stops the exchange: its connection is closed (a response in flight cannot be reused). */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.carrier !== undefined) this.carrier.abandon(this);
    else this.onAbortQueued?.(this);
  }

  /** Reads the response again after the handler returned false from `onResponseData`. */
  resume(): void {
    if (!this.finished) this.carrier?.resume();
  }

  /** Delivers the end, once. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onResponseEnd();
  }

  /** Delivers a failure, once. */
  fail(error: DdeError): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onResponseError(error);
  }
}
