import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isDdeError } from '../errors.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import type { Route } from '../manager/route-table.ts';
import type { RouteMatch, RouteResult } from '../routing/router.ts';
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
import { missingAnswerer } from './not-found.ts';
import {
  cutResponse,
  send,
  sendError,
  sendJson,
  sendNotFound,
  sendPleaseWait,
  writeSocketResponse,
} from './pages.ts';
import {
  type AuthorizeContext,
  type DdeProxy,
  type ProxyOptions,
  READY_PATH,
  resolveProxyOptions,
} from './proxy-options.ts';
import { reservedPaths } from './reserved-paths.ts';
import { SafeHistory } from './safe-history.ts';
import { Drain, SHUTTING_DOWN } from './shutdown.ts';

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
  const settings = resolveProxyOptions(options);
  const { manager, router } = options;
  /** Sessions, waiting upgrades and exchanges in flight, and the graceful close. */
  const drain = new Drain(settings.pages.retryAfterSeconds);
  const { sessions, pendingUpgrades } = drain;
  /** Whether the log already says that a body parser runs before the proxy. */
  let warnedBodyRead = false;
  const logger = manager.logger ?? silentLogger;
  const history = new SafeHistory(manager.history, logger);
  const answerMissing = missingAnswerer(options.notFound, logger);
  const { serveReserved, showFailure } = reservedPaths(manager, settings);
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

  function deny(req: IncomingMessage, res: ServerResponse, match: RouteMatch): void {
    if (settings.denyStatus === 404) answerMissing(req, res, match);
    else sendError(req, res, 403, 'FORBIDDEN', 'Forbidden');
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
