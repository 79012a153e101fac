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
   */
  readonly middleware: Middleware;
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
  const attachable = attachableProxy(createProxy(options));
  const { proxy } = attachable;

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

  return { ...attachable, middleware };
}
