/**
 * dde's proxy alone in a process, so that its resident memory is its own: a ContainerManager
 * on the run's namespace adopts the already launched upstream, and the Koa adapter (or the bare
 * core handler) serves it on 127.0.0.1:<port>. Started by the memory suite with an IPC channel
 * and `--expose-gc`; the message `gc` runs two full collections and answers with
 * `process.memoryUsage()`. Exits when the parent disconnects, so it never outlives the run.
 *
 * Arguments: `<koa|core> <namespace> <container name> <port>`.
 */
import { createServer, type RequestListener } from 'node:http';
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager, createProxy, pathRouter } from '@dde/core';

const [adapter, namespace, name, port] = process.argv.slice(2);
if (namespace === undefined || name === undefined || port === undefined) {
  throw new Error('usage: proxy-child.ts <koa|core> <namespace> <container name> <port>');
}
const send = (message: unknown) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

// The suite holds 1,000 WebSockets to one container: above the default cap of connections per
// container (pool.connections, 256, sessions included), which it does not measure.
const manager = new ContainerManager({
  backend: new DockerBackend({ namespace }),
  pool: { connections: Number.POSITIVE_INFINITY },
});
await manager.start();
await manager.waitUntilReady(name, { signal: AbortSignal.timeout(60_000) });
const router = pathRouter({ prefix: '/docker' });

let listener: RequestListener;
let attach: (server: ReturnType<typeof createServer>) => void;
if (adapter === 'koa') {
  const [{ default: Koa }, { koaProxy }] = await Promise.all([import('koa'), import('@dde/proxy-koa')]);
  const app = new Koa();
  const proxy = koaProxy({ manager, router });
  app.use(proxy.middleware);
  listener = app.callback();
  attach = (server) => proxy.attach(server);
} else if (adapter === 'core') {
  const proxy = createProxy({ manager, router });
  listener = (req, res) => proxy.handleRequest(req, res);
  attach = (server) =>
    server.on('upgrade', (req, socket, head) => {
      if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
    });
} else {
  throw new Error(`unknown adapter "${adapter}": koa or core`);
}

const server = createServer(listener);
// nginx's keepalive_timeout (75 s): Node's default (5 s) would close the idle connections
// being measured before the measurement.
server.keepAliveTimeout = 75_000;
server.headersTimeout = 76_000;
attach(server);
server.listen(Number(port), '127.0.0.1', () => send({ listening: true }));

process.on('message', (message) => {
  if (message !== 'gc') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  send({ memory: process.memoryUsage() });
});
