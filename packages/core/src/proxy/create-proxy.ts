import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ContainerInfo, LogEntry, LogOptions } from '../backend.ts';
import { invalidOption, isDdeError } from '../errors.ts';
import type { History } from '../history/history.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import type { Logger } from '../lifecycle/logger.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { LookupOptions } from '../manager/container-manager.ts';
import type { Route } from '../manager/route-table.ts';
import type { RouteMatch, RouteResult, Router } from '../routing/router.ts';
import { RESERVED_PATH_PREFIX } from '../routing/router.ts';
import { DEFAULT_MAX_HEADER_BYTES, type UpstreamPool } from '../upstream/pool.ts';
import { BUSY_RETRY_AFTER, busyMessage, type ForwardSettings, forwardHttp } from './forward-http.ts';
import type { UpgradedPair } from './forward-upgrade.ts';
import { EarlyBytes, forwardUpgrade } from './forward-upgrade.ts';
import {
  knownAuthorities,
  type ResponseRewrite,
  requestHost,
  type UpstreamRequestHead,
  upstreamRequestHeaders,
} from './headers.ts';
import type { PageSettings, PleaseWaitOptions } from './pages.ts';
import {
  cutResponse,
  pageSettings,
  send,
  sendError,
  sendFailure,
  sendJson,
  sendNotFound,
  sendPleaseWait,
  wantsPage,
  writeSocketResponse,
} from './pages.ts';
import { SafeHistory } from './safe-history.ts';
import { type CloseOptions, Drain, SHUTTING_DOWN } from './shutdown.ts';

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
const READY_PATH = `${RESERVED_PATH_PREFIX}ready`;

/**
 * Creates the proxy engine. Requests for a ready container go straight to its keep-alive pool
 * (no engine call); unknown names trigger one lookup; starting containers get the please-wait
 * page; failed ones a failure page; denied ones a 403/404.
 *
 * @example
 * ```ts
 * const proxy = createProxy({ manager, router: pathRouter() });
 * const server = http.createServer((req, res) => proxy.handleRequest(req, res));
 * server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head) || socket.destroy());
 * ```
 */
export function createProxy(options: ProxyOptions): DdeProxy {
  const settings = resolveOptions(options);
  const { manager, router } = options;
  /** Sessions, waiting upgrades and exchanges in flight, and the graceful close. */
  const drain = new Drain(settings.pages.retryAfterSeconds);
  const { sessions, pendingUpgrades } = drain;
  /** Whether the log already says that a body parser runs before the proxy. */
  let warnedBodyRead = false;
  const logger = manager.logger ?? silentLogger;
  const history = new SafeHistory(manager.history, logger);
  const forwarding: ForwardSettings = {
    headersTimeoutMs: settings.upstreamTimeoutMs,
    bodyTimeoutMs: settings.upstreamIdleTimeoutMs,
    eventStreamBodyTimeoutMs: settings.eventStreamIdleTimeoutMs,
    requestBufferBytes: settings.requestBufferBytes,
    rewriteLocation: settings.rewriteLocation,
    rewriteCookiePath: settings.rewriteCookiePath,
    history,
    metrics: manager.metrics,
    drain,
  };

  function serve(req: IncomingMessage, res: ServerResponse, match: RouteMatch, route: Route): void {
    if (match.path.startsWith(RESERVED_PATH_PREFIX)) {
      serveReserved(req, res, match, route);
      return;
    }
    if (route.phase === 'ready' && route.pool !== undefined) {
      const host = hostFor(req, route, settings.upstreamHost);
      const head = upstreamRequestHeaders(req, match.prefix, host, settings.trustForwarded, false);
      if (head.severalHosts) {
        sendError(req, res, 400, 'BAD_REQUEST', SEVERAL_HOSTS);
        return;
      }
      // Something before the proxy (a body parser) read the body: forwarding the head alone would
      // leave the container waiting for bytes that never come. Two property reads, bodies only.
      if (head.body !== 'none' && (req.readableDidRead || req.readableEnded)) {
        bodyAlreadyRead(req, res, route.name);
        return;
      }
      forwardHttp(forwarding, {
        req,
        res,
        route,
        path: match.path,
        prefix: match.prefix,
        host,
        head,
        user: options.userOf?.(req),
      });
      return;
    }
    if (route.phase === 'failed') {
      void showFailure(req, res, route);
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      sendPleaseWait(req, res, route, `${match.prefix}${READY_PATH}`, settings.pages);
    } else {
      sendJson(
        req,
        res,
        503,
        {
          status: 'starting',
          name: route.name,
          phase: route.phase,
          queuePosition: route.queuePosition,
          retryAfter: settings.pages.retryAfterSeconds,
        },
        ['retry-after', String(settings.pages.retryAfterSeconds)],
      );
    }
  }

  function bodyAlreadyRead(req: IncomingMessage, res: ServerResponse, name: string): void {
    if (!warnedBodyRead) {
      warnedBodyRead = true;
      logger.warn({ name, method: req.method }, BODY_ALREADY_READ);
    }
    sendError(req, res, 500, 'BODY_ALREADY_READ', BODY_ALREADY_READ);
  }

  async function showFailure(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    let logs: LogEntry[] = [];
    if (settings.failureLogLines > 0) {
      try {
        logs = await manager.logs(route.name, {
          tail: settings.failureLogLines,
          signal: AbortSignal.timeout(settings.upstreamTimeoutMs),
        });
      } catch {
        // The page still helps without logs.
      }
    }
    if (!res.destroyed) sendFailure(req, res, route, logs);
  }

  function serveReserved(req: IncomingMessage, res: ServerResponse, match: RouteMatch, route: Route): void {
    const query = match.path.indexOf('?');
    const path = query === -1 ? match.path : match.path.slice(0, query);
    if (path === READY_PATH) {
      const status = route.phase === 'ready' ? 'ready' : route.phase === 'failed' ? 'failed' : 'starting';
      const code = status === 'ready' ? 200 : status === 'failed' ? 502 : 503;
      sendJson(req, res, code, {
        name: route.name,
        status,
        phase: route.phase,
        queuePosition: route.queuePosition,
      });
      return;
    }
    if (settings.logsPath !== undefined && path === settings.logsPath) {
      void serveLogs(req, res, route, query === -1 ? '' : match.path.slice(query + 1));
      return;
    }
    sendNotFound(req, res);
  }

  async function serveLogs(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    query: string,
  ): Promise<void> {
    const requested = Number(new URLSearchParams(query).get('tail') ?? 200);
    const tail = Number.isInteger(requested) && requested > 0 ? Math.min(requested, 10_000) : 200;
    try {
      const logs = await manager.logs(route.name, {
        tail,
        signal: AbortSignal.timeout(settings.upstreamTimeoutMs),
      });
      let text = '';
      for (const entry of logs) text += `${entry.text}\n`;
      send(req, res, 200, 'text/plain; charset=utf-8', text);
    } catch (error) {
      const status = isDdeError(error) ? error.httpStatus : 502;
      const code = isDdeError(error) ? error.code : 'ENGINE_ERROR';
      sendError(req, res, status, code, `Cannot read the logs of ${route.name}.`);
    }
  }

  function deny(req: IncomingMessage, res: ServerResponse, match: RouteMatch): void {
    if (settings.denyStatus === 404) answerMissing(req, res, match);
    else sendError(req, res, 403, 'FORBIDDEN', 'Forbidden');
  }

  /** No such container: the application's answer when it has a `notFound` hook, else a 404. */
  function answerMissing(req: IncomingMessage, res: ServerResponse, match: RouteMatch): void {
    const hook = options.notFound;
    if (hook === undefined) {
      sendNotFound(req, res);
      return;
    }
    let answer: ReturnType<NonNullable<ProxyOptions['notFound']>>;
    try {
      answer = hook({ req, name: match.name, path: match.path, page: wantsPage(req) });
    } catch (error) {
      notFoundHookFailed(req, res, error);
      return;
    }
    if (isThenable(answer)) {
      Promise.resolve(answer).then(
        (resolved) => writeNotFoundAnswer(req, res, resolved),
        (error: unknown) => notFoundHookFailed(req, res, error),
      );
    } else writeNotFoundAnswer(req, res, answer);
  }

  function notFoundHookFailed(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    logger.error({ url: req.url, error }, 'the notFound hook failed');
    if (!res.destroyed) sendNotFound(req, res);
  }

  function writeNotFoundAnswer(
    req: IncomingMessage,
    res: ServerResponse,
    answer: NotFoundAnswer | undefined,
  ): void {
    if (res.destroyed) return;
    if (answer === undefined) {
      sendNotFound(req, res);
      return;
    }
    const status = answer.status;
    if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
      notFoundHookFailed(
        req,
        res,
        new Error(`notFound answered status ${String(status)}: not an HTTP status`),
      );
      return;
    }
    if ('redirect' in answer) {
      send(req, res, status ?? 303, 'text/plain; charset=utf-8', `See ${answer.redirect}\n`, [
        'location',
        answer.redirect,
      ]);
    } else if ('html' in answer) send(req, res, status ?? 404, 'text/html; charset=utf-8', answer.html);
    else if ('text' in answer) send(req, res, status ?? 404, 'text/plain; charset=utf-8', answer.text);
    else notFoundHookFailed(req, res, new Error('notFound answered neither html, text nor redirect'));
  }

  /** Runs the hook; calls `allowed` (maybe synchronously) or answers the denial itself. */
  function authorizeThen(
    context: AuthorizeContext,
    allowed: () => void,
    denied: (status: 403 | 404 | 500) => void,
  ): void {
    const hook = options.authorize;
    if (hook === undefined) {
      allowed();
      return;
    }
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = hook(context);
    } catch {
      denied(500);
      return;
    }
    if (verdict === true) allowed();
    else if (verdict === false) denied(settings.denyStatus);
    else {
      Promise.resolve(verdict).then(
        (ok) => (ok === true ? allowed() : denied(settings.denyStatus)),
        () => denied(500),
      );
    }
  }

  function handleRoute(req: IncomingMessage, res: ServerResponse, match: RouteMatch, route: Route): void {
    if (options.authorize === undefined) {
      serve(req, res, match, route);
      return;
    }
    authorizeThen(
      { req, container: route.info, name: route.name, route, upgrade: false },
      () => serve(req, res, match, route),
      (status) => {
        if (status === 500) sendError(req, res, 500, 'FORBIDDEN', 'Authorization failed.');
        else deny(req, res, match);
      },
    );
  }

  function answerOther(
    req: IncomingMessage,
    res: ServerResponse,
    result: Exclude<RouteResult, RouteMatch>,
  ): void {
    if (result.kind === 'redirect') {
      const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
      send(req, res, status, 'text/plain; charset=utf-8', `Moved to ${result.location}\n`, [
        'location',
        result.location,
      ]);
    } else if (result.status === 404) sendNotFound(req, res);
    else sendError(req, res, 400, 'BAD_REQUEST', `Bad request: ${result.reason}.`);
  }

  function lookupFailed(error: unknown): {
    status: number;
    code: string;
    message: string;
    retryAfter: string[];
  } {
    if (isDdeError(error) && (error.code === 'LIMIT_EXCEEDED' || error.code === 'CAPACITY_EXCEEDED')) {
      // Starting on demand was refused: the client may retry once capacity frees up.
      return {
        status: error.httpStatus,
        code: error.code,
        message: error.message,
        retryAfter: ['retry-after', String(settings.pages.retryAfterSeconds * 5)],
      };
    }
    return {
      status: isDdeError(error) ? error.httpStatus : 502,
      code: isDdeError(error) ? error.code : 'ENGINE_ERROR',
      message: 'The container engine cannot be reached.',
      retryAfter: [],
    };
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse, next?: () => void, url?: string): void {
    const result = router.match(requestHost(req), url ?? req.url ?? '/');
    if (result === undefined) {
      if (next) next();
      else sendNotFound(req, res);
      return;
    }
    if (result.kind !== 'match') {
      answerOther(req, res, result);
      return;
    }
    if (drain.draining) {
      sendError(req, res, 503, 'SHUTTING_DOWN', SHUTTING_DOWN, drain.refusalHeaders);
      return;
    }
    // A pipelined request waiting for the responses before it on its connection (Node assigns
    // the socket when its turn comes) is handled then, one at a time, as nginx does: otherwise one
    // write of many small requests would open as many connections to the container at once.
    if (res.socket === null) {
      res.once('socket', () => outsideTheApp(req, res, () => handleMatch(req, res, result)));
      return;
    }
    handleMatch(req, res, result);
  }

  /**
   * Runs `handle` where no framework catches a throw (a pipelined request's turn, a lookup's
   * answer): a throwing hook (`userOf`, a page title) becomes a 500 there, as the app's error
   * handling would make it in the request's own call, instead of an uncaught exception.
   */
  function outsideTheApp(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
    try {
      handle();
    } catch (error) {
      logger.error({ url: req.url, error }, 'the proxy failed to handle a request');
      if (res.headersSent) cutResponse(res);
      else sendError(req, res, 500, 'PROXY_ERROR', 'The proxy failed to handle this request.');
    }
  }

  function handleMatch(req: IncomingMessage, res: ServerResponse, result: RouteMatch): void {
    const route = manager.get(result.name);
    if (route !== undefined) {
      handleRoute(req, res, result, route);
      return;
    }
    lookupThen(req, result.name, false, {
      found: (found) => {
        if (!res.destroyed) outsideTheApp(req, res, () => handleRoute(req, res, result, found));
      },
      missing: () => {
        if (!res.destroyed) outsideTheApp(req, res, () => answerMissing(req, res, result));
      },
      denied: (status) => {
        if (res.destroyed) return;
        if (status === 500) sendError(req, res, 500, 'FORBIDDEN', 'Authorization failed.');
        else deny(req, res, result);
      },
      failed: (error) => {
        if (res.destroyed) return;
        const { status, code, message, retryAfter } = lookupFailed(error);
        sendError(req, res, status === 404 ? 503 : status, code, message, retryAfter);
      },
    });
  }

  /**
   * Finds the route of a name the table does not know. With an `authorize` hook, a container
   * the manager's `onDemand` option declares starts only once the hook allowed this request
   * for its provisional route: a denied request leaves no trace (no launch, no eviction, no
   * limit error that would tell the name exists). The route found goes through the hook again.
   */
  function lookupThen(req: IncomingMessage, name: string, upgrade: boolean, then: LookupOutcomes): void {
    const started = (route: Route | undefined): void => {
      if (route === undefined) then.missing();
      else then.found(route);
    };
    if (options.authorize === undefined || manager.declared === undefined) {
      manager.lookup(name).then(started, then.failed);
      return;
    }
    manager.lookup(name, { startOnDemand: false }).then((existing) => {
      if (existing !== undefined) {
        then.found(existing);
        return;
      }
      let declared: Route | undefined;
      try {
        declared = manager.declared?.(name);
      } catch (error) {
        then.failed(error);
        return;
      }
      if (declared === undefined) {
        then.missing();
        return;
      }
      authorizeThen(
        { req, container: declared.info, name, route: declared, upgrade },
        () => manager.lookup(name).then(started, then.failed),
        then.denied,
      );
    }, then.failed);
  }

  function upgradeRoute(
    req: IncomingMessage,
    socket: Duplex,
    early: EarlyBytes,
    match: RouteMatch,
    route: Route,
  ): void {
    authorizeThen(
      { req, container: route.info, name: route.name, route, upgrade: true },
      () => {
        if (socket.destroyed || early.gone) {
          socket.destroy();
          return;
        }
        if (drain.draining) {
          writeSocketResponse(socket, 503, SHUTTING_DOWN, drain.retryAfter);
          return;
        }
        if (route.phase === 'failed') {
          writeSocketResponse(
            socket,
            502,
            `Container ${route.name} failed: ${route.failure?.message ?? 'unknown'}.`,
          );
          return;
        }
        if (route.phase !== 'ready' || route.upstream === undefined) {
          writeSocketResponse(socket, 503, `Container ${route.name} is starting.`, [
            'retry-after',
            String(settings.pages.retryAfterSeconds),
          ]);
          return;
        }
        if (match.path.startsWith(RESERVED_PATH_PREFIX)) {
          writeSocketResponse(socket, 404, 'Not found');
          return;
        }
        const host = hostFor(req, route, settings.upstreamHost);
        const upstreamHead = upstreamRequestHeaders(req, match.prefix, host, settings.trustForwarded, true);
        if (upstreamHead.severalHosts) {
          writeSocketResponse(socket, 400, SEVERAL_HOSTS);
          return;
        }
        if (upstreamHead.body !== 'none') {
          // A handshake has no body, and one would be framed for a protocol about to be left.
          writeSocketResponse(socket, 400, 'Bad request: an upgrade request cannot carry a body.');
          return;
        }
        // A session holds one of the container's connections (pool.connections) for its life.
        if (!admitsSession(route)) {
          writeSocketResponse(socket, 503, busyMessage(route.name), BUSY_RETRY_AFTER);
          return;
        }
        let pair: UpgradedPair | undefined;
        pair = forwardUpgrade({
          req,
          socket,
          early,
          route,
          path: match.path,
          headers: upstreamHead.headers,
          timeoutMs: settings.upstreamTimeoutMs,
          maxHeaderBytes:
            (route.pool as UpstreamPool | undefined)?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
          rewrite: refusalRewrite(match.prefix, host, upstreamHead, route),
          history,
          user: options.userOf?.(req),
          opened: () => manager.openedWebSocket(route.name),
          onClose: () => {
            if (pair) sessions.delete(pair);
            drain.ended();
          },
        });
        pendingUpgrades.delete(socket);
        sessions.add(pair);
      },
      (status) => writeSocketDenial(socket, status),
    );
  }

  /** How a container's refusal of an upgrade is rewritten under the path prefix, if at all. */
  function refusalRewrite(
    prefix: string,
    host: string | undefined,
    { proto, publicHost }: UpstreamRequestHead,
    route: Route,
  ): ResponseRewrite | undefined {
    if (prefix === '' || !(settings.rewriteLocation || settings.rewriteCookiePath)) return undefined;
    const upstream = route.upstream as NonNullable<Route['upstream']>;
    return {
      prefix,
      location: settings.rewriteLocation,
      cookiePath: settings.rewriteCookiePath,
      authorities: () => knownAuthorities([host, publicHost], upstream.host, upstream.port, proto),
    };
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url?: string): boolean {
    const result = router.match(requestHost(req), url ?? req.url ?? '/');
    if (result === undefined) return false;
    // Before any await: a client leaving must not crash the process.
    socket.on('error', ignore);
    if (drain.draining) {
      writeSocketResponse(socket, 503, SHUTTING_DOWN, drain.retryAfter);
      return true;
    }
    if (result.kind === 'redirect') {
      writeSocketResponse(socket, 308, `Moved to ${result.location}`, ['location', result.location]);
      return true;
    }
    if (result.kind === 'reject') {
      writeSocketResponse(
        socket,
        result.status,
        result.status === 404 ? 'Not found' : `Bad request: ${result.reason}.`,
      );
      return true;
    }
    const early = new EarlyBytes(socket, head);
    // Pending until it closes (every refusal closes it) or becomes a session.
    pendingUpgrades.add(socket);
    socket.once('close', () => pendingUpgrades.delete(socket));
    const route = manager.get(result.name);
    if (route !== undefined) {
      upgradeRoute(req, socket, early, result, route);
      return true;
    }
    lookupThen(req, result.name, true, {
      found: (found) => upgradeRoute(req, socket, early, result, found),
      missing: () => writeSocketResponse(socket, 404, 'Not found'),
      denied: (status) => writeSocketDenial(socket, status),
      failed: (error) => {
        const { status, message, retryAfter } = lookupFailed(error);
        writeSocketResponse(socket, status === 404 ? 503 : status, message, retryAfter);
      },
    });
    return true;
  }

  return {
    handleRequest,
    handleUpgrade,
    recognises: (req, url) => router.match(requestHost(req), url ?? req.url ?? '/') !== undefined,
    close: (closeOptions) => drain.close(closeOptions),
  };
}

function ignore(): void {}

/** Whether the route's pool has room for one more WebSocket session (no pool: nothing to cap). */
function admitsSession(route: Route): boolean {
  return (route.pool as UpstreamPool | undefined)?.admitsTunnel() ?? true;
}

/** A promise, from this realm or not (a hook may return any thenable). */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

const SEVERAL_HOSTS = 'Bad request: more than one Host header.';

const BODY_ALREADY_READ =
  'The request body was read before it reached the proxy (a body parser mounted before it?), ' +
  'so it cannot be forwarded: mount the proxy before any body parser, or limit the parser to ' +
  "the application's own routes.";

/** Where {@link createProxy}'s lookup of an unknown name ends. */
interface LookupOutcomes {
  found(route: Route): void;
  missing(): void;
  denied(status: 403 | 404 | 500): void;
  failed(error: unknown): void;
}

function writeSocketDenial(socket: Duplex, status: 403 | 404 | 500): void {
  if (status === 403) writeSocketResponse(socket, 403, 'Forbidden');
  else if (status === 404) writeSocketResponse(socket, 404, 'Not found');
  else writeSocketResponse(socket, 500, 'Authorization failed.');
}

interface Settings {
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

function resolveOptions(options: ProxyOptions): Settings {
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

/** The `Host` header to send upstream. */
function hostFor(req: IncomingMessage, route: Route, mode: string): string | undefined {
  if (mode === 'preserve') return requestHost(req) ?? upstreamAuthority(route);
  if (mode === 'upstream') return upstreamAuthority(route);
  return mode;
}

function upstreamAuthority(route: Route): string | undefined {
  const upstream = route.upstream;
  if (upstream === undefined) return undefined;
  return `${upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host}:${upstream.port}`;
}
