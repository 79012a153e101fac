import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DockerBackend } from '@dde/backend-docker';
import { describeProxyScenarios } from '@dde/test-support';
import Koa from 'koa';
import { koaProxy } from './koa-proxy.ts';

// The shared end-to-end scenarios (real containers, both routers) through the Koa adapter.
await describeProxyScenarios({
  name: 'koa',
  createBackend: (namespace) => new DockerBackend({ namespace }),
  async startApp(options) {
    const app = new Koa();
    const proxy = koaProxy(options);
    app.use(async (ctx, next) => {
      ctx.set('x-parent-app', 'koa');
      await next();
    });
    app.use(proxy.middleware);
    app.use((ctx) => {
      if (ctx.path === '/app/hello') ctx.body = 'hello from the app';
    });
    const server = proxy.attach(app.listen(0, '127.0.0.1'));
    await once(server, 'listening');
    return {
      port: (server.address() as AddressInfo).port,
      async close() {
        await proxy.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  },
});
