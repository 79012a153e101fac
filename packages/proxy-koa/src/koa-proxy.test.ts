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

describe('koaProxy as the first middleware (requests it recognises skip Koa)', () => {
  /** An app with the proxy first, counting the contexts Koa creates. */
  async function firstApp(options: { userOf?: () => string; attach?: boolean } = {}) {
    const manager = await readyTool();
    const koa = new Koa();
    let contexts = 0;
    const createContext = koa.createContext.bind(koa);
    koa.createContext = (req, res) => {
      contexts++;
      return createContext(req, res);
    };
    const errors: string[] = [];
    koa.on('error', (error: Error) => errors.push(error.message));
    const proxy = koaProxy({
      manager,
      router: pathRouter(),
      ...(options.userOf ? { userOf: options.userOf } : {}),
    });
    koa.use(proxy.middleware);
    koa.use((ctx) => {
      if (ctx.path === '/hello') ctx.body = 'hello from koa';
    });
    const server = koa.listen(0, '127.0.0.1');
    const koaListener = server.listeners('request')[0];
    if (options.attach !== false) proxy.attach(server);
    const port = await listening(server);
    cleanups.push(() => proxy.close());
    return { koa, port, proxy, server, koaListener, errors, contexts: () => contexts };
  }

  it('serves them without a Koa context once a first request has shown the proxy is first', async () => {
    const { port, contexts } = await firstApp();
    expect((await send(port, { path: '/docker/tool/a' })).text).toBe('tool saw GET /a');
    expect(contexts()).toBe(1);
    expect((await send(port, { path: '/docker/tool/b?c' })).text).toBe('tool saw GET /b?c');
    expect((await send(port, { method: 'POST', path: '/docker/tool/p', body: 'b' })).text).toBe(
      'tool saw POST /p',
    );
    expect((await send(port, { path: '/docker/missing/' })).status).toBe(404);
    expect(contexts()).toBe(1);
    // Everything else still goes through Koa.
    expect((await send(port, { path: '/hello' })).text).toBe('hello from koa');
    expect((await send(port, { path: '/nothing' })).status).toBe(404);
    expect(contexts()).toBe(3);
  });

  it('gives the server back to Koa on close', async () => {
    const { port, proxy, server, koaListener, contexts } = await firstApp();
    await send(port, { path: '/docker/tool/a' });
    expect(server.listeners('request')).toHaveLength(1);
    expect(server.listeners('request')[0]).not.toBe(koaListener);
    await proxy.close({ drainMs: 0 });
    expect(server.listeners('request')).toEqual([koaListener]);
    // Through Koa again (a context is made), whose middleware refuses it: the proxy is closed.
    expect((await send(port, { path: '/docker/tool/c' })).status).toBe(503);
    expect(contexts()).toBe(2);
  });

  it('leaves the server to Koa when other middleware comes first', async () => {
    const { port, server } = await app(await readyTool());
    const [listener] = server.listeners('request');
    await send(port, { path: '/docker/tool/a' });
    await send(port, { path: '/docker/tool/b' });
    expect(server.listeners('request')).toEqual([listener]);
  });

  it('leaves servers it was not attached to alone', async () => {
    const { port, server, koaListener, contexts } = await firstApp({ attach: false });
    await send(port, { path: '/docker/tool/a' });
    await send(port, { path: '/docker/tool/b' });
    expect(server.listeners('request')).toEqual([koaListener]);
    expect(contexts()).toBe(2);
  });

  it('hands a request whose handling threw to Koa, which answers 500 and emits the error once', async () => {
    let calls = 0;
    const { port, errors, contexts } = await firstApp({
      userOf: () => {
        calls++;
        if (calls > 1) throw new Error('userOf failed');
        return 'alice';
      },
    });
    expect((await send(port, { path: '/docker/tool/a' })).status).toBe(200);
    const failed = await send(port, { path: '/docker/tool/b' });
    expect(failed.status).toBe(500);
    expect(errors).toEqual(['userOf failed']);
    expect(calls).toBe(2);
    expect(contexts()).toBe(2);
  });
});
