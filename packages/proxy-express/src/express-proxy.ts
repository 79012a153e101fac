import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { DdeProxy, ProxyOptions } from '@dde/core';
import { attachUpgrades, createProxy } from '@dde/core';
import type { RequestHandler } from 'express';

/** Options of {@link expressProxy}: those of `createProxy` from @dde/core. */
export type ExpressProxyOptions = ProxyOptions;

/** What {@link expressProxy} returns. */
export interface ExpressProxy {
  /**
   * Express middleware: proxies requests the router recognises and calls `next()` for all
   * others. It routes on `req.originalUrl`, so it works at any mount point (`app.use(...)`,
   * `app.use('/docker', ...)`, or a router); for a route pattern use `'/docker/*splat'`, as
   * Express 5 refuses `*`. Mount it before any body parser: the request body must reach the
   * container unread.
   */
  readonly middleware: RequestHandler;
  /**
   * Wires the server's `upgrade` event so WebSockets reach containers (upgrades never pass
   * through Express's middleware). Upgrades the router does not recognise are left to other
   * `upgrade` listeners, or refused with 404 when there are none. Returns the server.
   */
  attach<S extends HttpServer | HttpsServer>(server: S): S;
  /** The underlying proxy engine. */
  readonly proxy: DdeProxy;
  /** Detaches from attached servers and closes open WebSocket sessions. */
  close(): Promise<void>;
}

/**
 * Mounts dde's proxy in an Express 5 application.
 *
 * @example
 * ```ts
 * const proxy = expressProxy({ manager, router: pathRouter({ prefix: '/docker' }) });
 * app.use(proxy.middleware);
 * proxy.attach(app.listen(8000));
 * ```
 */
export function expressProxy(options: ExpressProxyOptions): ExpressProxy {
  const proxy = createProxy(options);
  const detachers: (() => void)[] = [];

  const middleware: RequestHandler = (req, res, next) => {
    proxy.handleRequest(req, res, () => next(), req.originalUrl);
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
