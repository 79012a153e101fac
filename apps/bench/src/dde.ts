/**
 * dde under test: a ContainerManager over a DockerBackend launches the one upstream container
 * everybody measures against, and its route table (not a hand-made route) is what the Koa and
 * Express proxies serve `/docker/<name>/` from. The proxies run in this process; the load
 * generators run in their own.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager, createProxy, pathRouter } from '@dde/core';
import { onCleanup } from './cleanup.ts';
import { ownCpuTime } from './cpu.ts';
import { log } from './measure.ts';
import { publicPath, type Target, type UpstreamTarget } from './targets/types.ts';
import { UPSTREAM_PORT } from './upstream/image.ts';

/** The upstream container and the dde proxies in front of it. */
export interface DdeUnderTest {
  /** The launched upstream, reached directly at its bridge address. */
  readonly upstream: UpstreamTarget;
  /** dde's core handler on a bare `node:http` server: the adapters' cost is the difference. */
  readonly core: Target;
  /** dde's Koa adapter. */
  readonly koa: Target;
  /** dde's Express adapter. */
  readonly express: Target;
}

/** Listens on 127.0.0.1 (a free port) and returns a stop that also drops open connections. */
export async function serve(server: Server): Promise<{ port: number; stop: () => Promise<void> }> {
  // Upgraded (WebSocket) sockets are not tracked by the server: keep them to close them.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const stop = onCleanup(`closing the server on port ${address.port}`, async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  });
  return { port: address.port, stop };
}

/** Launches the upstream from `image` through dde, in `namespace`, and waits until it answers. */
export async function startDde(options: { namespace: string; image: string }): Promise<DdeUnderTest> {
  const backend = new DockerBackend({ namespace: options.namespace });
  const manager = new ContainerManager({ backend });
  // Cleanups run last-registered first: the container goes before the manager and its backend.
  onCleanup('closing the container manager', () => manager.close());
  onCleanup(`removing network ${backend.network}`, () => backend.removeNetwork());
  await manager.start();
  const name = `${options.namespace}-upstream`;
  onCleanup(`removing container ${name}`, () => backend.remove(name));
  log(`launching ${name} through dde's DockerBackend...`);
  await manager.launch({ name, image: options.image, port: UPSTREAM_PORT, readiness: { path: '/' } });
  await manager.waitUntilReady(name, { signal: AbortSignal.timeout(60_000) });
  const info = await backend.inspect(name);
  if (info?.upstream === undefined) throw new Error(`${name} has no upstream address: is it running?`);
  const upstream: UpstreamTarget = { name, upstream: info.upstream };
  const router = pathRouter({ prefix: '/docker' });

  const target = (
    id: string,
    label: string,
    app: () => Promise<{ port: number; stop: () => Promise<void> }>,
  ) =>
    ({
      id,
      label,
      unavailable: async () => undefined,
      async start() {
        const { port, stop } = await app();
        const url = `http://127.0.0.1:${port}${publicPath(name)}`;
        return {
          httpUrl: url,
          wsUrl: url.replace('http:', 'ws:'),
          inProcess: true,
          cpuTime: async () => ownCpuTime(),
          stop,
        };
      },
    }) satisfies Target;

  return {
    upstream,
    core: target('dde-core', 'dde (core handler, node:http)', async () => {
      const proxy = createProxy({ manager, router });
      const server = createServer((req, res) => proxy.handleRequest(req, res));
      server.on('upgrade', (req, socket, head) => {
        if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
      });
      return serve(server);
    }),
    // Each adapter and its framework load when its row runs: one that fails to load fails its row only.
    koa: target('dde-koa', 'dde (Koa)', async () => {
      const [{ default: Koa }, { koaProxy }] = await Promise.all([import('koa'), import('@dde/proxy-koa')]);
      const app = new Koa();
      const proxy = koaProxy({ manager, router });
      app.use(proxy.middleware);
      const server = createServer(app.callback());
      proxy.attach(server);
      return serve(server);
    }),
    express: target('dde-express', 'dde (Express)', async () => {
      const [{ default: express }, { expressProxy }] = await Promise.all([
        import('express'),
        import('@dde/proxy-express'),
      ]);
      const app = express();
      // As Express's production guide asks. Left on, its banner header makes Node merge every
      // proxied response's headers into it one by one (~10 us a request here): a cost of the
      // app's configuration that any Express middleware pays, not of dde.
      app.disable('x-powered-by');
      const proxy = expressProxy({ manager, router });
      app.use(proxy.middleware);
      const server = createServer(app);
      proxy.attach(server);
      return serve(server);
    }),
  };
}
