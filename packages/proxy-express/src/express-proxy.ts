import type { AttachableProxy, ProxyOptions } from '@dde/core';
import { attachableProxy, createProxy } from '@dde/core';
import type { RequestHandler } from 'express';

/** Options of {@link expressProxy}: those of `createProxy` from @dde/core. */
export type ExpressProxyOptions = ProxyOptions;

/** What {@link expressProxy} returns. */
export interface ExpressProxy extends AttachableProxy {
  /**
   * Express middleware: proxies requests the router recognises and calls `next()` for all
   * others. It routes on `req.originalUrl`, so it works at any mount point (`app.use(...)`,
   * `app.use('/docker', ...)`, or a router); for a route pattern use `'/docker/*splat'`, as
   * Express 5 refuses `*`. Mount it before any body parser: the request body must reach the
   * container unread (one read before it gets a 500 `BODY_ALREADY_READ`).
   */
  readonly middleware: RequestHandler;
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
  const attachable = attachableProxy(createProxy(options));
  const { proxy } = attachable;

  const middleware: RequestHandler = (req, res, next) => {
    proxy.handleRequest(req, res, () => next(), req.originalUrl);
  };

  return { ...attachable, middleware };
}
