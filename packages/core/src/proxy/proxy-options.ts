/**
 * What {@link createProxy} accepts (its options and the hooks' contexts), what it returns, and
 * how the options are checked and completed with their defaults.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ContainerInfo, LogEntry, LogOptions } from '../backend.ts';
import { invalidOption } from '../errors.ts';
import type { History } from '../history/history.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { LookupOptions } from '../manager/container-manager.ts';
import type { Route } from '../manager/route-table.ts';
import type { Router } from '../routing/router.ts';
import { RESERVED_PATH_PREFIX } from '../routing/router.ts';
import type { PageSettings, PleaseWaitOptions } from './pages.ts';
import { pageSettings } from './pages.ts';
import type { CloseOptions } from './shutdown.ts';

/**
 * What the proxy reads from the manager: a {@link ContainerManager} is one. The hot path only
 * calls `get`.
 */
export interface RouteSource {
  /** The route of a name, from memory. */
  get(name: string): Route | undefined;
  /**
   * The route of a name, asking the backend when memory does not know it (and starting one
   * the `onDemand` option declares, unless `startOnDemand` is false).
   */
  lookup(name: string, options?: LookupOptions): Promise<Route | undefined>;
  /**
   * The provisional route of a container that would start on demand for `name`, if any: the
   * proxy authorizes against it before starting anything. Optional; without it, declared
   * containers start before the `authorize` hook runs.
   */
  declared?(name: string): Route | undefined;
  /** A container's output, for failure pages and the logs view. */
  logs(name: string, options?: LogOptions): Promise<LogEntry[]>;
  /** Where activity is recorded. */
  readonly history: History;
  /** Counts an open WebSocket session; returns the function that counts it closed. */
  openedWebSocket(name: string): () => void;
  /** Where proxied responses are counted, when metrics are on. */
  readonly metrics?: DdeMetrics | undefined;
  /** Where the proxy reports what it carries on through (a history that cannot record). */
  readonly logger?: Logger | undefined;
}

/** What an {@link ProxyOptions.authorize} hook is given. */
export interface AuthorizeContext {
  /** The incoming request (for a WebSocket, the upgrade request). */
  readonly req: IncomingMessage;
  /** The container (provisional while a launch is under way). */
  readonly container: ContainerInfo;
  /** Its name. */
  readonly name: string;
  /** Its route (phase, upstream). */
  readonly route: Route;
  /** Whether this is a WebSocket (upgrade) request. */
  readonly upgrade: boolean;
}

/** What a {@link ProxyOptions.notFound} hook is given. */
export interface NotFoundContext {
  /** The request (never a WebSocket upgrade: those get a plain 404). */
  readonly req: IncomingMessage;
  /** The container name the URL names. */
  readonly name: string;
  /** The path under the container, query included (`/notebooks/a.ipynb?x=1`). */
  readonly path: string;
  /** Whether a browser asks for a page (GET or HEAD accepting HTML), as opposed to an API client. */
  readonly page: boolean;
}

/**
 * How the application answers a request for a container that does not exist: a page (HTML,
 * trusted: it comes from the application), a text, or a redirect (e.g. to a relaunch form).
 * `status` defaults to 404 for pages and texts, 303 for redirects.
 */
export type NotFoundAnswer = NotFoundPage | NotFoundText | NotFoundRedirect;

/** A page for a missing container (see {@link NotFoundAnswer}). */
export interface NotFoundPage {
  /** The whole HTML document (trusted: it comes from the application). */
  readonly html: string;
  /** HTTP status. Default 404. */
  readonly status?: number;
}

/** A plain-text answer for a missing container (see {@link NotFoundAnswer}). */
export interface NotFoundText {
  /** The text. */
  readonly text: string;
  /** HTTP status. Default 404. */
  readonly status?: number;
}

/** A redirect for a missing container, e.g. to a relaunch form (see {@link NotFoundAnswer}). */
export interface NotFoundRedirect {
  /** Where to (the `Location` header). */
  readonly redirect: string;
  /** HTTP status. Default 303. */
  readonly status?: 302 | 303 | 307;
}

/** Options of {@link createProxy}. */
export interface ProxyOptions {
  /** Where routes come from: a {@link ContainerManager}. */
  manager: RouteSource;
  /** Maps requests onto containers: {@link pathRouter} or {@link hostnameRouter}. */
  router: Router;
  /**
   * Decides whether a request may reach a container (e.g. compare `container.owner` with the
   * session's user). Runs before anything reveals the container's state. A throwing hook
   * denies with 500.
   */
  authorize?: (context: AuthorizeContext) => boolean | Promise<boolean>;
  /** Status for denied requests: 403, or 404 to answer exactly like a missing container. Default 403. */
  denyStatus?: 403 | 404;
  /** The page shown while a container starts. */
  pleaseWait?: PleaseWaitOptions;
  /**
   * Answers requests for container URLs whose container does not exist (never launched,
   * killed, evicted, culled): return a page, a text or a redirect, or `undefined` for the
   * default 404 (`NOT_FOUND`). Use it to offer a relaunch at the same URL for names the
   * application knows. It runs only after the route table and one engine lookup both missed,
   * never for known containers; with `denyStatus: 404` denied requests get the same answer, so
   * nothing tells a hidden container from a missing one. WebSocket upgrades always get a plain
   * 404. A hook that throws or rejects gives the default 404 (and a logged error).
   *
   * @example
   * ```ts
   * notFound: ({ name, page }) =>
   *   page && removed.has(name) ? { redirect: `/relaunch/${name}` } : undefined,
   * ```
   */
  notFound?: (context: NotFoundContext) => NotFoundAnswer | undefined | Promise<NotFoundAnswer | undefined>;
  /**
   * The `Host` header the container sees: `preserve` (the client's, default), `upstream` (the
   * container's own address) or a fixed value.
   */
  upstreamHost?: 'preserve' | 'upstream' | (string & {});
  /** Rewrite `Location` under the path prefix. Default: on for routers that rewrite paths. */
  rewriteLocation?: boolean;
  /** Rewrite `Set-Cookie` `Path=` under the path prefix. Default: on for routers that rewrite paths. */
  rewriteCookiePath?: boolean;
  /**
   * Serve the container's output as text at this path under the container, e.g. `.dde/logs`
   * (`?tail=N` lines, default 200). It must lie under dde's reserved `.dde/` so it never shadows
   * a tool's own path. Authorization applies. Off by default.
   */
  logsPath?: string;
  /**
   * How long a container may take to send response headers once the request (its body
   * included) is sent, or to answer a handshake, in ms. Default 60000. A slow upload is bounded
   * by the server's own `requestTimeout` (Node's default: 300 s).
   */
  upstreamTimeoutMs?: number;
  /**
   * How long a response body may stall between chunks, in ms (nginx's `proxy_read_timeout`);
   * 0 for never. The client's connection is cut when it expires. Default 60000. Server-sent
   * events get {@link ProxyOptions.eventStreamIdleTimeoutMs} instead.
   */
  upstreamIdleTimeoutMs?: number;
  /**
   * The body stall timeout of `text/event-stream` responses (server-sent events, which idle
   * between events by design), in ms; 0 for never. Default 0: such a stream stays open while
   * its container runs (it is cut when the container stops, freezes or goes).
   */
  eventStreamIdleTimeoutMs?: number;
  /**
   * Request bodies up to this many bytes are read whole before the container is asked (as nginx
   * buffers them), so a client that drips its body holds no connection to the container; larger
   * ones stream as they come. 0 streams every body. Default 65536.
   */
  requestBufferBytes?: number;
  /**
   * A trusted proxy sits in front: append to its `X-Forwarded-For` and `Forwarded`, keep its
   * `X-Forwarded-Proto`, `-Host`, `-Port` and `X-Real-IP`. Default false: the client is the first
   * hop, and whatever it sent in those headers is replaced or dropped (clients cannot spoof the
   * address, host or scheme a tool sees).
   */
  trustForwarded?: boolean;
  /** The user behind a request, for activity records. */
  userOf?: (req: IncomingMessage) => string | undefined;
  /** Log lines shown on a failure page. Default 20. */
  failureLogLines?: number;
}

/** The proxy: one handler for requests, one for upgrades. Mount it with an adapter or directly. */
export interface DdeProxy {
  /**
   * Handles a request. Requests the router does not recognise go to `next` (called
   * synchronously, before anything is written), or get a 404 without `next`. The request body
   * must be unread: one that something before the proxy read (a body parser) gets a 500 with
   * code `BODY_ALREADY_READ`, as it can no longer be forwarded.
   *
   * @param url - The original request target when a framework rewrote `req.url` (Express's
   *   `req.originalUrl`, Koa's `ctx.originalUrl`). Default `req.url`.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, next?: () => void, url?: string): void;
  /**
   * Handles a server `upgrade` event. Returns false (touching nothing) when the router does not
   * recognise the request, so other upgrade handlers can take it.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url?: string): boolean;
  /**
   * Whether the router recognises the request (a container, a redirect or a rejection): what
   * `handleRequest` would not pass to `next`, and `handleUpgrade` would take. No side effects.
   */
  recognises(req: IncomingMessage, url?: string): boolean;
  /**
   * Drains the proxy for a shutdown (a rolling upgrade): from now on, requests for containers
   * get a 503 with `Retry-After` and `Connection: close` (a load balancer retries them on another
   * instance), and so do new upgrades and those still waiting for authorization or a lookup;
   * forwarded HTTP exchanges run to their end, their responses carrying `Connection: close` when
   * not started yet; open WebSocket sessions get a close frame with code 1001 (Going Away) on both
   * sides, sent between two frames, then end. After `drainMs` (default 10 s) whatever is left is
   * cut. Resolves once everything has closed and its history record is written. Requests the
   * router does not recognise still go to `next`. The manager (and its pools) stays open: close
   * it afterwards. Stop the server accepting connections alongside (`closeServer`).
   *
   * @throws {@link DdeError} `INVALID_OPTION` (synchronously) naming `drainMs` when it is not a
   *   non-negative number, or an unknown field.
   */
  close(options?: CloseOptions): Promise<void>;
}

/** The readiness endpoint under every container (see {@link RESERVED_PATH_PREFIX}). */
export const READY_PATH: string = `${RESERVED_PATH_PREFIX}ready`;

/** {@link ProxyOptions} checked, with their defaults filled in. */
export interface ProxySettings {
  readonly pages: PageSettings;
  readonly denyStatus: 403 | 404;
  readonly upstreamHost: string;
  readonly rewriteLocation: boolean;
  readonly rewriteCookiePath: boolean;
  readonly logsPath: string | undefined;
  readonly upstreamTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly eventStreamIdleTimeoutMs: number;
  readonly requestBufferBytes: number;
  readonly trustForwarded: boolean;
  readonly failureLogLines: number;
}

const PROXY_FIELDS: FieldList<ProxyOptions> = {
  manager: true,
  router: true,
  authorize: true,
  denyStatus: true,
  pleaseWait: true,
  notFound: true,
  upstreamHost: true,
  rewriteLocation: true,
  rewriteCookiePath: true,
  logsPath: true,
  upstreamTimeoutMs: true,
  upstreamIdleTimeoutMs: true,
  eventStreamIdleTimeoutMs: true,
  requestBufferBytes: true,
  trustForwarded: true,
  userOf: true,
  failureLogLines: true,
};

const PLEASE_WAIT_FIELDS: FieldList<PleaseWaitOptions> = { title: true, body: true, retryAfterSeconds: true };

/** Checks `options` (a typed `INVALID_OPTION` naming the field) and fills in the defaults. */
export function resolveProxyOptions(options: ProxyOptions): ProxySettings {
  if (typeof options?.manager?.get !== 'function') {
    throw invalidOption('manager', 'is required: a ContainerManager');
  }
  if (typeof options.router?.match !== 'function') {
    throw invalidOption('router', 'is required: pathRouter() or hostnameRouter({ suffix })');
  }
  refuseUnknownFields(options, PROXY_FIELDS, 'the proxy', invalidOption);
  refuseUnknownFields(options.pleaseWait, PLEASE_WAIT_FIELDS, 'pleaseWait', invalidOption, 'pleaseWait.');
  if (options.notFound !== undefined && typeof options.notFound !== 'function') {
    throw invalidOption('notFound', 'must be a function ({ req, name, path, page }) => answer or undefined');
  }
  const denyStatus = options.denyStatus ?? 403;
  if (denyStatus !== 403 && denyStatus !== 404) throw invalidOption('denyStatus', 'must be 403 or 404');
  const upstreamHost = options.upstreamHost ?? 'preserve';
  if (typeof upstreamHost !== 'string' || upstreamHost === '' || /[\s\r\n]/.test(upstreamHost)) {
    throw invalidOption('upstreamHost', 'must be "preserve", "upstream" or a host name');
  }
  let logsPath: string | undefined;
  if (options.logsPath !== undefined) {
    if (typeof options.logsPath !== 'string' || !/^\/?[A-Za-z0-9._~/-]+$/.test(options.logsPath)) {
      throw invalidOption('logsPath', 'must be a path such as ".dde/logs"');
    }
    logsPath = options.logsPath.startsWith('/') ? options.logsPath : `/${options.logsPath}`;
    if (!logsPath.startsWith(RESERVED_PATH_PREFIX) || logsPath === READY_PATH) {
      throw invalidOption('logsPath', `must lie under "${RESERVED_PATH_PREFIX.slice(1)}" (e.g. ".dde/logs")`);
    }
  }
  const retry = options.pleaseWait?.retryAfterSeconds;
  if (retry !== undefined && (!Number.isInteger(retry) || retry < 0)) {
    throw invalidOption('pleaseWait.retryAfterSeconds', 'must be a whole number of seconds');
  }
  return {
    pages: pageSettings(options.pleaseWait),
    denyStatus,
    upstreamHost,
    rewriteLocation: options.rewriteLocation ?? options.router.rewritesPaths,
    rewriteCookiePath: options.rewriteCookiePath ?? options.router.rewritesPaths,
    logsPath,
    upstreamTimeoutMs: positiveMs('upstreamTimeoutMs', options.upstreamTimeoutMs ?? 60_000, false),
    upstreamIdleTimeoutMs: positiveMs('upstreamIdleTimeoutMs', options.upstreamIdleTimeoutMs ?? 60_000, true),
    eventStreamIdleTimeoutMs: positiveMs(
      'eventStreamIdleTimeoutMs',
      options.eventStreamIdleTimeoutMs ?? 0,
      true,
    ),
    requestBufferBytes: byteCount('requestBufferBytes', options.requestBufferBytes ?? 64 * 1024),
    trustForwarded: options.trustForwarded ?? false,
    failureLogLines: Math.max(0, Math.floor(options.failureLogLines ?? 20)),
  };
}

function positiveMs(field: string, value: number, zeroAllowed: boolean): number {
  if (!Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0)) {
    throw invalidOption(
      field,
      `must be a ${zeroAllowed ? 'non-negative' : 'positive'} number of ms, got ${value}`,
    );
  }
  return value;
}

function byteCount(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidOption(field, `must be a whole number of bytes (0 or more), got ${value}`);
  }
  return value;
}
