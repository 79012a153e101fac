import type { EventEmitter } from 'node:events';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { AttachableProxy, ProxyOptions } from '@dde/core';
import { attachableProxy, createProxy } from '@dde/core';
import type { Middleware } from 'koa';

/** Options of {@link koaProxy}: those of `createProxy` from @dde/core. */
export type KoaProxyOptions = ProxyOptions;

/** What {@link koaProxy} returns. */
export interface KoaProxy extends AttachableProxy {
  /**
   * Koa middleware: proxies requests the router recognises (setting `ctx.respond = false`, the
   * response is written directly) and calls `next()` for all others. Mount it before any body
   * parser: the request body must reach the container unread (one read before it gets a 500
   * `BODY_ALREADY_READ`).
   *
   * Mounted as the application's first middleware on a server passed to `attach`, it serves
   * the requests it recognises before Koa builds a context for them (nothing of the application
   * would run for them anyway): Koa's per-request objects, finish listeners and promise chain
   * doubled the proxy's p99 latency. Such requests then emit no application `error` events (a
   * client that drops mid-response is the proxy's business) and have no `app.currentContext`.
   * With other middleware first, or with Koa's `asyncLocalStorage`, every request goes through
   * Koa as usual.
   */
  readonly middleware: Middleware;
}

/** What the middleware returns for a request it took: one settled promise serves them all. */
const RESOLVED: Promise<void> = Promise.resolve();

/** A request whose fast-path handling threw: Koa reports the error its way when handed the request. */
const FAILURE: unique symbol = Symbol('dde.koaFastPathFailure');
type MaybeFailed = IncomingMessage & { [FAILURE]?: { readonly error: unknown } };

/**
 * Mounts dde's proxy in a Koa 3 application.
 *
 * @example
 * ```ts
 * const proxy = koaProxy({ manager, router: pathRouter({ prefix: '/docker' }) });
 * app.use(proxy.middleware);
 * proxy.attach(app.listen(8000));
 * ```
 */
export function koaProxy(options: KoaProxyOptions): KoaProxy {
  const attachable = attachableProxy(createProxy(options));
  const { proxy } = attachable;
  // The router calls `next` synchronously, so one flag and one function serve every request.
  let passed = false;
  const pass = (): void => {
    passed = true;
  };
  /**
   * Servers passed to `attach`: undefined until a request shows whether they can be fronted,
   * then the front's undo, or null when Koa is not their only request listener.
   */
  const attached = new Map<unknown, (() => void) | null | undefined>();

  /** Serves a request on a fronted server; false hands it to Koa. */
  const serveFirst = (req: IncomingMessage, res: ServerResponse): boolean => {
    passed = false;
    try {
      proxy.handleRequest(req, res, pass);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return true;
      }
      (req as MaybeFailed)[FAILURE] = { error };
      return false;
    }
    return !passed;
  };

  const middleware: Middleware = (ctx, next) => {
    const failure = (ctx.req as MaybeFailed)[FAILURE];
    if (failure !== undefined) throw failure.error;
    passed = false;
    proxy.handleRequest(ctx.req, ctx.res, pass, ctx.originalUrl);
    if (passed) return next();
    ctx.respond = false;
    if (ctx.app.middleware[0] === middleware && ctx.app.ctxStorage === undefined) learnFront(ctx.req);
    return RESOLVED;
  };

  /**
   * Fronts the server this request came in on, when it was attached and Koa is its only
   * listener. Koa composes its middleware when the server's listener is made, so the proxy
   * being first now means it is first for every request on that listener.
   */
  const learnFront = (req: IncomingMessage): void => {
    const server = (req.socket as { server?: EventEmitter } | null)?.server;
    if (server === undefined || attached.get(server) !== undefined || !attached.has(server)) return;
    const listeners = server.listeners('request') as RequestListener[];
    const [koa] = listeners;
    if (listeners.length !== 1 || koa === undefined) {
      attached.set(server, null);
      return;
    }
    const front = function (this: unknown, req: IncomingMessage, res: ServerResponse): void {
      if (!serveFirst(req, res)) koa.call(this, req, res);
    };
    server.removeListener('request', koa).on('request', front);
    attached.set(server, () => {
      if (!server.listeners('request').includes(front)) return;
      server.removeListener('request', front).on('request', koa);
    });
  };

  return {
    ...attachable,
    attach(server) {
      if (!attached.has(server)) attached.set(server, undefined);
      return attachable.attach(server);
    },
    close(options) {
      // Drains first (a bad option throws at once, before anything changes); fronted servers
      // keep sending requests to the proxy meanwhile, which refuses them with 503 as Koa's would.
      return attachable.close(options).then(() => {
        for (const restore of attached.values()) restore?.();
        attached.clear();
      });
    },
    middleware,
  };
}
