import type { Socket } from 'node:net';
import { abortError, DdeError, invalidOption } from '../errors.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import { isFieldValue, isToken } from './characters.ts';
import { type ConnectionOwner, UpstreamConnection } from './connection.ts';
import { Exchange, type ResponseHandler, type UpstreamRequest } from './exchange.ts';
import type { ResponseHead } from './response-parser.ts';

/** Settings of an {@link UpstreamClient}'s keep-alive pool. */
export interface UpstreamPoolOptions {
  /**
   * Most connections open to the upstream at once, WebSocket sessions included (one container's
   * pool, so this caps what one container is asked to serve at once); further requests wait in a
   * queue for one. `Infinity` for no cap. Default 256: far above what a browser opens to one
   * host (6), so a tool shared by a class of users is not starved, yet bounded so a flood of slow
   * clients cannot open a thousand connections to one tool.
   */
  connections?: number;
  /**
   * Most requests waiting for a connection once `connections` are all busy. A request beyond
   * them fails at once with `UPSTREAM_BUSY` (the proxy answers 503 with `Retry-After`) instead
   * of waiting; a queued request that gets no connection within its head timeout (the proxy's
   * `upstreamTimeoutMs`) fails with `UPSTREAM_TIMEOUT` (504). 0 for no queue. Default 1024.
   */
  maxQueuedRequests?: number;
  /** How long an idle connection stays open, in ms. Default 4000 (below Node's 5 s server default). */
  keepAliveTimeoutMs?: number;
  /** How long connecting may take, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Largest response head accepted, in bytes. Default 65536. */
  maxHeaderBytes?: number;
}

/** Options of {@link UpstreamClient.request}. */
export interface UpstreamRequestOptions {
  /** Default `GET`. */
  method?: string;
  /** Path and query, starting with `/`. */
  path: string;
  /** Request headers; `host` defaults to the upstream's address. */
  headers?: Readonly<Record<string, string>>;
  /** A body, sent with its `content-length`. */
  body?: string | Uint8Array;
  /** How long the head may take, and the body may stall, in ms. Default 30000. */
  timeoutMs?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
  /** Largest body kept, in bytes (a larger one fails the request). Default 8 MiB. */
  maxBodyBytes?: number;
  /** Read the body and throw it away (only the status and headers matter). */
  discardBody?: boolean;
}

/** A response read by {@link UpstreamClient.request}. */
export interface UpstreamResponse {
  /** Status code of the final response (interim 1xx ones are skipped). */
  readonly status: number;
  /** Reason phrase, possibly empty. */
  readonly statusText: string;
  /** Header fields by lowercase name; repeated fields as arrays. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** The body (empty when discarded). */
  readonly body: Buffer;
}

/** How busy an {@link UpstreamClient} is. */
export interface UpstreamPoolStats {
  /** Open connections (connecting, busy or idle). */
  readonly connections: number;
  /** Connections waiting for a request. */
  readonly idle: number;
  /** Requests waiting for a connection. */
  readonly queued: number;
  /** WebSocket sessions to the upstream (they count against `connections`). */
  readonly tunnels: number;
}

/**
 * HTTP/1.1 keep-alive connections to one container, as the route table holds them
 * ({@link Route.pool}). The proxy forwards through it; applications may send their own requests.
 */
export interface UpstreamClient {
  /** `http://host:port`. */
  readonly origin: string;
  /** How busy it is. */
  readonly stats: UpstreamPoolStats;
  /**
   * Sends one request and reads the whole response.
   *
   * @throws {@link DdeError} `UPSTREAM_UNAVAILABLE` (refused, reset, invalid response, body over
   *   `maxBodyBytes`), `UPSTREAM_TIMEOUT`, `TIMEOUT`/`ABORTED` (the signal), `INVALID_OPTION`.
   */
  request(options: UpstreamRequestOptions): Promise<UpstreamResponse>;
}

const ORIGIN_FORM = /^\/[!-~]*$/;
// What request() writes itself: letting callers set them could desynchronise the connection.
const FRAMING_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/**
 * The pool behind an {@link UpstreamClient}: reuses idle connections most recently used first
 * (the warmest, least likely closed by the server), opens more up to `connections`, queues
 * beyond, and runs one sweep timer per pool for idle, connect, head and body timeouts instead of
 * a timer per request. A request that finds a reused connection closed before any byte of the
 * answer is replayed once on a fresh connection when its method is idempotent and its body
 * replayable.
 */
export class UpstreamPool implements ConnectionOwner, UpstreamClient {
  readonly host: string;
  readonly port: number;
  readonly authority: string;
  readonly origin: string;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly #maxConnections: number;
  readonly #maxQueued: number;
  readonly #connections = new Set<UpstreamConnection>();
  /** Idle connections, the most recently released last. */
  readonly #idle: UpstreamConnection[] = [];
  readonly #queue: Exchange[] = [];
  /** Sockets to the same upstream that are not HTTP exchanges (WebSocket sessions). */
  readonly #tunnels = new Set<Socket>();
  #closing = false;
  #destroyed = false;
  #closed: (() => void) | undefined = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  #tickMs: number;
  #shortestTimeoutMs: number;

  constructor(host: string, port: number, options: UpstreamPoolOptions = {}) {
    this.host = host;
    this.port = port;
    this.authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.origin = `http://${this.authority}`;
    const settings = validatePoolOptions(options);
    this.keepAliveTimeoutMs = settings.keepAliveTimeoutMs;
    this.connectTimeoutMs = settings.connectTimeoutMs;
    this.maxHeaderBytes = settings.maxHeaderBytes;
    this.#maxConnections = settings.connections;
    this.#maxQueued = settings.maxQueuedRequests;
    this.#shortestTimeoutMs = Math.min(this.keepAliveTimeoutMs, this.connectTimeoutMs);
    this.#tickMs = tickFor(this.#shortestTimeoutMs);
  }

  get stats(): UpstreamPoolStats {
    return {
      connections: this.#connections.size,
      idle: this.#idle.length,
      queued: this.#queue.length,
      tunnels: this.#tunnels.size,
    };
  }

  /**
   * Sends a request and streams its response to `handler`: the proxy's path. The request's
   * headers are written as given (see {@link UpstreamRequest.headers}). A pool that is closing
   * fails the exchange at once.
   */
  dispatch(request: UpstreamRequest, handler: ResponseHandler): Exchange {
    const exchange = new Exchange(request, handler);
    if (this.#closing) {
      exchange.fail(this.#closedError());
      return exchange;
    }
    if (request.headersTimeoutMs < this.#shortestTimeoutMs) this.#noteTimeout(request.headersTimeoutMs);
    if (request.bodyTimeoutMs > 0 && request.bodyTimeoutMs < this.#shortestTimeoutMs) {
      this.#noteTimeout(request.bodyTimeoutMs);
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) idle.start(exchange);
    else if (this.#hasRoom()) this.#open().start(exchange);
    else this.#enqueue(exchange, false);
    return exchange;
  }

  request(options: UpstreamRequestOptions): Promise<UpstreamResponse> {
    const request = validatedRequest(options);
    const { signal } = options;
    const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
    const discard = options.discardBody === true;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal, `${request.method} ${this.origin}${request.path}`));
        return;
      }
      let head: ResponseHead | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const onAbort = (): void => {
        exchange.abort();
        reject(abortError(signal as AbortSignal, `${request.method} ${this.origin}${request.path}`));
      };
      const exchange = this.dispatch(request, {
        onResponseStart(started) {
          head = started;
        },
        onResponseData: (chunk) => {
          size += chunk.length;
          if (discard) return true;
          if (size > maxBodyBytes) {
            signal?.removeEventListener('abort', onAbort);
            exchange.abort();
            reject(
              new DdeError(
                'UPSTREAM_UNAVAILABLE',
                `The response of ${this.origin}${request.path} is larger than ${maxBodyBytes} bytes.`,
              ),
            );
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onResponseEnd() {
          signal?.removeEventListener('abort', onAbort);
          const { status, statusText, headers } = head as ResponseHead;
          resolve({ status, statusText, headers: headerRecord(headers), body: Buffer.concat(chunks, size) });
        },
        onResponseError(error) {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      if (!exchange.finished) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops taking requests: queued ones fail, idle connections close, busy ones close once their
   * response ended. Resolves when every connection is closed.
   */
  close(): Promise<void> {
    this.#closing = true;
    this.#failQueued('closed');
    for (const connection of this.#idle.splice(0)) connection.destroy();
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#closed;
      this.#closed = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Closes every connection now: requests in flight fail, tracked sockets are destroyed. */
  destroy(): Promise<void> {
    this.#destroyed = true;
    const closed = this.close();
    for (const connection of this.#connections) connection.destroy();
    for (const socket of this.#tunnels) socket.destroy();
    this.#tunnels.clear();
    return closed;
  }

  /**
   * Whether one more connection (a WebSocket session) fits under `connections`; when only idle
   * keep-alive connections stand in the way, the least recently used one closes to make room.
   * A session refused here is answered 503 at once rather than queued: it would wait for a slot
   * that other long-lived sessions may hold for hours.
   */
  admitsTunnel(): boolean {
    if (this.#closing) return false;
    if (this.#hasRoom()) return true;
    const idle = this.#idle.shift();
    if (idle === undefined) return false;
    // Counted out now: its 'close' (and so `removed`) comes later.
    this.#connections.delete(idle);
    idle.destroy();
    return true;
  }

  /**
   * Ties a socket opened to the same upstream outside the pool (a WebSocket session) to it: it
   * counts against `connections` while open, and {@link UpstreamPool.destroy} destroys it too; a
   * pool already destroyed does so at once.
   */
  track(socket: Socket): void {
    if (this.#destroyed) {
      socket.destroy();
      return;
    }
    this.#tunnels.add(socket);
    socket.once('close', () => {
      this.#tunnels.delete(socket);
      this.#startQueued();
    });
  }

  release(connection: UpstreamConnection): void {
    if (this.#closing) {
      connection.destroy();
      return;
    }
    const next = this.#queue.shift();
    if (next !== undefined) {
      next.onAbortQueued = undefined;
      connection.start(next);
      return;
    }
    connection.idleSince = Date.now();
    this.#idle.push(connection);
  }

  removed(connection: UpstreamConnection): void {
    this.#connections.delete(connection);
    const index = this.#idle.lastIndexOf(connection);
    if (index !== -1) this.#idle.splice(index, 1);
    this.#startQueued();
    if (this.#connections.size === 0) {
      if (this.#timer !== undefined) clearInterval(this.#timer);
      this.#timer = undefined;
      const closed = this.#closed;
      this.#closed = undefined;
      closed?.();
    }
  }

  retry(exchange: Exchange): void {
    if (this.#closing) {
      exchange.fail(this.#closedError());
    } else if (this.#hasRoom()) {
      this.#open().start(exchange);
    } else {
      this.#enqueue(exchange, true);
    }
  }

  shortenedKeepAlive(ms: number): void {
    if (ms < this.#shortestTimeoutMs) this.#noteTimeout(ms);
  }

  /** Whether another connection may open: sessions count against the cap too. */
  #hasRoom(): boolean {
    return this.#connections.size + this.#tunnels.size < this.#maxConnections;
  }

  /** A connection or session closed: the longest-waiting request gets a fresh connection. */
  #startQueued(): void {
    if (this.#queue.length === 0 || this.#closing || !this.#hasRoom()) return;
    const next = this.#queue.shift() as Exchange;
    next.onAbortQueued = undefined;
    this.#open().start(next);
  }

  #open(): UpstreamConnection {
    const connection = new UpstreamConnection(this);
    this.#connections.add(connection);
    if (this.#timer === undefined) this.#startTimer();
    return connection;
  }

  #enqueue(exchange: Exchange, first: boolean): void {
    // A replayed exchange (`first`) already held a place: it is never the one refused.
    if (!first && this.#queue.length >= this.#maxQueued) {
      exchange.fail(
        new DdeError(
          'UPSTREAM_BUSY',
          `Upstream busy: ${this.authority} has ${this.#maxConnections} connections in use and ` +
            `${this.#queue.length} requests waiting (pool.connections, pool.maxQueuedRequests).`,
        ),
      );
      return;
    }
    exchange.onAbortQueued = this.#dequeue;
    if (first) this.#queue.unshift(exchange);
    else this.#queue.push(exchange);
  }

  readonly #dequeue = (exchange: Exchange): void => {
    const index = this.#queue.indexOf(exchange);
    if (index !== -1) this.#queue.splice(index, 1);
  };

  #failQueued(why: 'closed' | 'timeout', now = 0): void {
    for (let index = 0; index < this.#queue.length; ) {
      const exchange = this.#queue[index] as Exchange;
      const timeoutMs = exchange.request.headersTimeoutMs;
      if (why === 'timeout' && now - exchange.startedAt < timeoutMs) {
        index++;
        continue;
      }
      this.#queue.splice(index, 1);
      exchange.onAbortQueued = undefined;
      exchange.fail(
        why === 'closed'
          ? this.#closedError()
          : new DdeError(
              'UPSTREAM_TIMEOUT',
              `Upstream timeout: no connection to ${this.authority} became free within ${timeoutMs} ms.`,
            ),
      );
    }
  }

  #closedError(): DdeError {
    return new DdeError('UPSTREAM_UNAVAILABLE', `The pool for ${this.authority} is closed.`);
  }

  /** A request with a shorter timeout than any so far: sweep often enough to honour it. */
  #noteTimeout(timeoutMs: number): void {
    this.#shortestTimeoutMs = timeoutMs;
    const tick = tickFor(timeoutMs);
    if (tick === this.#tickMs) return;
    this.#tickMs = tick;
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#startTimer();
    }
  }

  #startTimer(): void {
    this.#timer = setInterval(() => this.#sweep(), this.#tickMs);
    this.#timer.unref();
  }

  #sweep(): void {
    const now = Date.now();
    for (const connection of this.#connections) connection.checkTimeouts(now, this.connectTimeoutMs);
    // Close idle connections a tick early, so none outlives its keep-alive time.
    for (let index = 0; index < this.#idle.length; ) {
      const connection = this.#idle[index] as UpstreamConnection;
      if (now - connection.idleSince >= connection.keepAliveMs - this.#tickMs) {
        this.#idle.splice(index, 1);
        connection.destroy();
      } else index++;
    }
    if (this.#queue.length > 0) this.#failQueued('timeout', now);
  }
}

/** The largest response head taken from an upstream unless `pool.maxHeaderBytes` says otherwise. */
export const DEFAULT_MAX_HEADER_BYTES: number = 64 * 1024;

const POOL_FIELDS: FieldList<UpstreamPoolOptions> = {
  connections: true,
  maxQueuedRequests: true,
  keepAliveTimeoutMs: true,
  connectTimeoutMs: true,
  maxHeaderBytes: true,
};

/** The options with their defaults, checked; errors name the field under the manager's `pool` option. */
export function validatePoolOptions(options: UpstreamPoolOptions): Required<UpstreamPoolOptions> {
  refuseUnknownFields(options, POOL_FIELDS, 'pool', invalidOption, 'pool.');
  return {
    connections: wholeCount('pool.connections', options.connections ?? DEFAULT_MAX_CONNECTIONS, 1),
    maxQueuedRequests: wholeCount('pool.maxQueuedRequests', options.maxQueuedRequests ?? 1024, 0),
    keepAliveTimeoutMs: positive('pool.keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 4000),
    connectTimeoutMs: positive('pool.connectTimeoutMs', options.connectTimeoutMs ?? 10_000),
    maxHeaderBytes: positive('pool.maxHeaderBytes', options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES),
  };
}

/** Connections one pool opens to its container unless `pool.connections` says otherwise. */
const DEFAULT_MAX_CONNECTIONS = 256;

/** A whole number from `min` up, or `Infinity`. */
function wholeCount(field: string, value: number, min: number): number {
  if (
    typeof value !== 'number' ||
    !(Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY) ||
    value < min
  ) {
    throw invalidOption(
      field,
      `must be a whole number from ${min} up (or Infinity for no limit), got ${String(value)}`,
    );
  }
  return value;
}

/** The sweep interval for a timeout: an eighth of it, between 10 ms and 1 s. */
function tickFor(timeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(timeoutMs / 8)));
}

function positive(field: string, value: number): number {
  if (typeof value !== 'number' || !(value > 0)) {
    throw invalidOption(field, `must be a positive number, got ${String(value)}`);
  }
  return value;
}

function validatedRequest(options: UpstreamRequestOptions): UpstreamRequest {
  const method = options.method ?? 'GET';
  if (!isToken(method))
    throw invalidOption('method', `must be an HTTP method, got ${JSON.stringify(method)}`);
  if (typeof options.path !== 'string' || !ORIGIN_FORM.test(options.path)) {
    throw invalidOption(
      'path',
      'must start with "/" and hold only printable ASCII (percent-encode the rest)',
    );
  }
  const headers: string[] = [];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!isToken(name)) throw invalidOption(`headers.${name}`, 'is not a valid header name');
    if (FRAMING_HEADERS.has(name.toLowerCase())) {
      throw invalidOption(`headers.${name}`, 'is set by the client itself (framing and connection headers)');
    }
    if (typeof value !== 'string' || !isFieldValue(value)) {
      throw invalidOption(`headers.${name}`, 'must be a string without control characters (CR, LF, NUL...)');
    }
    headers.push(name, value);
  }
  const timeoutMs = positive('timeoutMs', options.timeoutMs ?? 30_000);
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  return { method, path: options.path, headers, body, headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs };
}

function headerRecord(flat: readonly string[]): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = Object.create(null);
  for (let index = 0; index < flat.length; index += 2) {
    const name = (flat[index] as string).toLowerCase();
    const value = flat[index + 1] as string;
    const existing = record[name];
    if (existing === undefined) record[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else record[name] = [existing, value];
  }
  return record;
}
