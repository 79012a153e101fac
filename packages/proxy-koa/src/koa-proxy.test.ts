import { createServer } from 'node:http';
import { type ContainerManager, hostnameRouter, pathRouter, type Router } from '@dde/core';
import {
  cleanupsAfterEach,
  echoOnce,
  expectGracefulShutdown,
  expectRefusedWhileDraining,
  openWebSocket,
  send,
  toolManager,
} from '@dde/test-support';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { koaProxy } from './koa-proxy.ts';

const cleanups = cleanupsAfterEach();
const { listening } = cleanups;

/** A ready container whose tool is a local HTTP + WebSocket echo server. */
async function readyTool(): Promise<ContainerManager> {
  const tool = createServer((req, res) => res.end(`tool saw ${req.method} ${req.url}`));
  const wss = new WebSocketServer({ server: tool });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  return toolManager(cleanups, tool, 'koa-unit');
}

async function app(manager: ContainerManager, router: Router = pathRouter()) {
  const koa = new Koa();
  const proxy = koaProxy({ manager, router });
  const seen: string[] = [];
  koa.use(async (ctx, next) => {
    seen.push(ctx.path);
    await next();
  });
  koa.use(proxy.middleware);
  koa.use((ctx) => {
    if (ctx.path === '/hello') ctx.body = 'hello from koa';
  });
  const server = proxy.attach(koa.listen(0, '127.0.0.1'));
  const port = await listening(server);
  cleanups.push(() => proxy.close());
  return { port, proxy, server, seen };
}

describe('koaProxy', () => {
  it('proxies routed requests inside a larger app and hands the rest to later middleware', async () => {
    const { port, seen } = await app(await readyTool());
    expect((await send(port, { path: '/docker/tool/x?y=1' })).text).toBe('tool saw GET /x?y=1');
    expect((await send(port, { method: 'POST', path: '/docker/tool/p', body: 'b' })).text).toBe(
      'tool saw POST /p',
    );
    expect((await send(port, { path: '/hello' })).text).toBe('hello from koa');
    expect((await send(port, { path: '/nothing' })).status).toBe(404);
    expect(seen).toEqual(['/docker/tool/x', '/docker/tool/p', '/hello', '/nothing']);
  });

  it('answers for containers it routes even when they do not exist (404, not the app)', async () => {
    const { port } = await app(await readyTool());
    const reply = await send(port, { path: '/docker/missing/' });
    expect(reply.status).toBe(404);
    expect(reply.text).toBe('Not found\n');
  });

  it('routes on ctx.originalUrl when mounted under a prefix that rewrites the path', async () => {
    const manager = await readyTool();
    const koa = new Koa();
    const proxy = koaProxy({ manager, router: pathRouter({ prefix: '/tools' }) });
    // What koa-mount does: strip the mount path from ctx.path (and so from req.url).
    koa.use(async (ctx, next) => {
      if (ctx.path.startsWith('/tools/')) ctx.path = ctx.path.slice('/tools'.length);
      await next();
    });
    koa.use(proxy.middleware);
    const port = await listening(koa.listen(0, '127.0.0.1'));
    expect((await send(port, { path: '/tools/tool/deep/path?q' })).text).toBe('tool saw GET /deep/path?q');
  });

  it('wires WebSocket upgrades, by path and by hostname', async () => {
    const manager = await readyTool();
    const byPath = await app(manager);
    const socket = await openWebSocket(byPath.port, '/docker/tool/ws');
    expect((await echoOnce(socket, 'koa')).toString()).toBe('koa');
    socket.close();
    const byHost = await app(manager, hostnameRouter({ suffix: 'docker.localhost' }));
    const hosted = await openWebSocket(byHost.port, '/ws', { host: 'tool.docker.localhost' });
    expect((await echoOnce(hosted, 'host')).toString()).toBe('host');
    hosted.close();
  });

  it('refuses upgrades it does not route when nobody else listens, and leaves them to other listeners', async () => {
    const { port, server, proxy } = await app(await readyTool());
    await expect(openWebSocket(port, '/not-routed')).rejects.toThrow('status 404');
    const others: string[] = [];
    server.on('upgrade', (req, socket) => {
      others.push(req.url ?? '');
      socket.destroy();
    });
    await expect(openWebSocket(port, '/other-ws')).rejects.toThrow();
    expect(others).toEqual(['/other-ws']);
    await proxy.close();
    expect(server.listenerCount('upgrade')).toBe(1);
  });

  it('shuts down gracefully with the README recipe: WebSockets get 1001, requests in flight complete', async () => {
    await expectGracefulShutdown(cleanups, 'koa-drain', (manager) => app(manager));
  });

  it('answers requests arriving while it drains with 503, Retry-After and Connection: close', async () => {
    await expectRefusedWhileDraining(cleanups, 'koa-drain', (manager) => app(manager));
  });
});
