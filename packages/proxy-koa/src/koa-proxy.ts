import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { DdeProxy, ProxyOptions } from '@dde/core';
import { attachUpgrades, createProxy } from '@dde/core';
import type { Middleware } from 'koa';

/** Options of {@link koaProxy}: those of `createProxy` from @dde/core. */
export type KoaProxyOptions = ProxyOptions;

/** What {@link koaProxy} returns. */
export interface KoaProxy {
  /**
   * Koa middleware: proxies requests the router recognises (setting `ctx.respond = false`, the
   * response is written directly) and calls `next()` for all others. Mount it before any body
   * parser: the request body must reach the container unread.
   */
  readonly middleware: Middleware;
  /**
   * Wires the server's `upgrade` event so WebSockets reach containers (upgrades never pass
   * through Koa's middleware). Upgrades the router does not recognise are left to other
   * `upgrade` listeners, or refused with 404 when there are none. Returns the server.
   */
  attach<S extends HttpServer | HttpsServer>(server: S): S;
  /** The underlying proxy engine. */
  readonly proxy: DdeProxy;
  /** Detaches from attached servers and closes open WebSocket sessions. */
  close(): Promise<void>;
}

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
  const proxy = createProxy(options);
  const detachers: (() => void)[] = [];

  const middleware: Middleware = (ctx, next) => {
    let passed = false;
    // `next` is called synchronously when the router does not recognise the request.
    proxy.handleRequest(
      ctx.req,
      ctx.res,
      () => {
        passed = true;
      },
      ctx.originalUrl,
    );
    if (passed) return next();
    ctx.respond = false;
    return Promise.resolve();
  };

  return {
    middleware,
    proxy,
    attach(server) {
      detachers.push(attachUpgrades(server, proxy));
      return server;
    },
    async close() {
      for (const detach of detachers.splice(0)) detach();
      await proxy.close();
    },
  };
}
