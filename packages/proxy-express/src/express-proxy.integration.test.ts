import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DockerBackend } from '@dde/backend-docker';
import { describeProxyScenarios } from '@dde/test-support';
import express from 'express';
import { expressProxy } from './express-proxy.ts';

// The shared end-to-end scenarios (real containers, both routers) through the Express adapter.
await describeProxyScenarios({
  name: 'express',
  createBackend: (namespace) => new DockerBackend({ namespace }),
  async startApp(options) {
    const app = express();
    const proxy = expressProxy(options);
    app.use((_req, res, next) => {
      res.setHeader('x-parent-app', 'express');
      next();
    });
    app.use(proxy.middleware);
    app.get('/app/hello', (_req, res) => {
      res.type('text/plain').send('hello from the app');
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
