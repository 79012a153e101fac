import { createServer } from 'node:http';
import { type ContainerManager, hostnameRouter, pathRouter } from '@dde/core';
import {
  cleanupsAfterEach,
  echoOnce,
  expectGracefulShutdown,
  expectRefusedWhileDraining,
  openWebSocket,
  type ShutdownApp,
  send,
  toolManager,
} from '@dde/test-support';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { expressProxy } from './express-proxy.ts';

const cleanups = cleanupsAfterEach();
const { listening } = cleanups;

/** A ready container whose tool is a local HTTP + WebSocket echo server. */
async function readyTool(): Promise<ContainerManager> {
  const tool = createServer((req, res) => res.end(`tool saw ${req.method} ${req.url}`));
  const wss = new WebSocketServer({ server: tool });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  return toolManager(cleanups, tool, 'express-unit');
}

/** An Express app with the proxy under /docker and WebSockets attached. */
async function drainable(manager: ContainerManager): Promise<ShutdownApp> {
  const app = express();
  const proxy = expressProxy({ manager, router: pathRouter() });
  app.use(proxy.middleware);
  const server = proxy.attach(app.listen(0, '127.0.0.1'));
  const port = await listening(server);
  cleanups.push(() => proxy.close());
  return { port, proxy, server };
}

describe('expressProxy', () => {
  it('proxies routed requests inside a larger app and hands the rest to later routes', async () => {
    const app = express();
    const proxy = expressProxy({ manager: await readyTool(), router: pathRouter() });
    app.use(proxy.middleware);
    app.get('/hello', (_req, res) => {
      res.send('hello from express');
    });
    const port = await listening(proxy.attach(app.listen(0, '127.0.0.1')));
    expect((await send(port, { path: '/docker/tool/x?y=1' })).text).toBe('tool saw GET /x?y=1');
    expect((await send(port, { method: 'DELETE', path: '/docker/tool/d' })).text).toBe('tool saw DELETE /d');
    expect((await send(port, { path: '/hello' })).text).toBe('hello from express');
    expect((await send(port, { path: '/nothing' })).status).toBe(404);
  });

  it.each([
    ['app.use("/docker", ...)', (app: express.Express, mw: express.RequestHandler) => app.use('/docker', mw)],
    [
      'app.all("/docker/*splat", ...)',
      (app: express.Express, mw: express.RequestHandler) => app.all('/docker/*splat', mw),
    ],
    [
      'a Router mounted at /docker',
      (app: express.Express, mw: express.RequestHandler) => app.use('/docker', express.Router().use(mw)),
    ],
  ])('routes on req.originalUrl when mounted with %s', async (_title, mount) => {
    const app = express();
    const proxy = expressProxy({ manager: await readyTool(), router: pathRouter() });
    mount(app, proxy.middleware);
    const port = await listening(app.listen(0, '127.0.0.1'));
    expect((await send(port, { path: '/docker/tool/deep/path?q=1' })).text).toBe(
      'tool saw GET /deep/path?q=1',
    );
  });

  it('wires WebSocket upgrades, by path and by hostname', async () => {
    const manager = await readyTool();
    for (const [router, path, host] of [
      [pathRouter(), '/docker/tool/ws', undefined],
      [hostnameRouter({ suffix: 'docker.localhost' }), '/ws', 'tool.docker.localhost'],
    ] as const) {
      const app = express();
      const proxy = expressProxy({ manager, router });
      app.use(proxy.middleware);
      const port = await listening(proxy.attach(app.listen(0, '127.0.0.1')));
      cleanups.push(() => proxy.close());
      const socket = await openWebSocket(port, path, host === undefined ? {} : { host });
      expect((await echoOnce(socket, 'express')).toString()).toBe('express');
      socket.close();
    }
  });

  it('refuses upgrades it does not route when nobody else listens, and detaches on close', async () => {
    const app = express();
    const proxy = expressProxy({ manager: await readyTool(), router: pathRouter() });
    const server = proxy.attach(app.listen(0, '127.0.0.1'));
    const port = await listening(server);
    await expect(openWebSocket(port, '/not-routed')).rejects.toThrow('status 404');
    await proxy.close();
    expect(server.listenerCount('upgrade')).toBe(0);
  });

  it('shuts down gracefully with the README recipe: WebSockets get 1001, requests in flight complete', async () => {
    await expectGracefulShutdown(cleanups, 'express-drain', drainable);
  });

  it('answers requests arriving while it drains with 503, Retry-After and Connection: close', async () => {
    await expectRefusedWhileDraining(cleanups, 'express-drain', drainable);
  });
});
