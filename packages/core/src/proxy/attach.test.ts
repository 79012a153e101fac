import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { testCleanups } from '../../test/servers.ts';
import { ContainerManager } from '../manager/container-manager.ts';
import { pathRouter } from '../routing/path-router.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import { attachableProxy } from './attach.ts';
import { createProxy } from './create-proxy.ts';

const cleanups = testCleanups();
const { listen } = cleanups;

/** A WebSocket echo tool, registered as container `name` (ready). */
async function echoContainer(backend: MemoryBackend, manager: ContainerManager, name: string): Promise<void> {
  const server = createServer((_req, res) => res.end(`plain answer from ${name}`));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  backend.setUpstream(name, { host: '127.0.0.1', port: await listen(server) });
  backend.add({ name });
  await manager.waitUntilReady(name, { signal: AbortSignal.timeout(3000) });
}

async function setup(): Promise<{ backend: MemoryBackend; manager: ContainerManager }> {
  const backend = new MemoryBackend({ namespace: 'attach-unit' });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, negativeCacheMs: 0 });
  cleanups.push(() => manager.close());
  await manager.start();
  return { backend, manager };
}

/** Sends `request`; resolves with the answer's head once it has arrived. */
function answerHead(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received += data;
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      resolve(received.slice(0, end));
      socket.destroy();
    });
    socket.on('error', reject);
    socket.write(request);
  });
}

/**
 * Sends `request` and keeps its own side open (as a client waiting for more would); resolves
 * with what arrived once the server closes the connection.
 */
function exchange(port: number, request: string, keepOpen = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received += data;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      resolve(received);
      if (keepOpen) cleanups.push(() => socket.destroy());
      else socket.destroy();
    });
    socket.write(request);
  });
}

const upgrade = (path: string, protocol: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

describe('attachableProxy', () => {
  it('serves several proxies on one server, each its own prefix', async () => {
    const { backend, manager } = await setup();
    await echoContainer(backend, manager, 'one');
    await echoContainer(backend, manager, 'two');
    const server = createServer((_req, res) => res.end('app'));
    const first = attachableProxy(createProxy({ manager, router: pathRouter({ prefix: '/a' }) }));
    const second = attachableProxy(createProxy({ manager, router: pathRouter({ prefix: '/b' }) }));
    first.attach(server);
    second.attach(server);
    cleanups.push(() => first.close());
    cleanups.push(() => second.close());
    const port = await listen(server);
    expect(server.listenerCount('upgrade')).toBe(1);
    expect(await answerHead(port, upgrade('/a/one/', 'websocket'))).toMatch(/^HTTP\/1\.1 101 /);
    expect(await answerHead(port, upgrade('/b/two/', 'websocket'))).toMatch(/^HTTP\/1\.1 101 /);
    // Nobody's: the application's (Node >= 24.9 asks first), else a 404; never left hanging.
    const elsewhere = upgrade('/elsewhere', 'websocket').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
    expect(await exchange(port, elsewhere)).toMatch(
      'shouldUpgradeCallback' in server ? /app$/ : /^HTTP\/1\.1 404 /,
    );
    (server as Server & { shouldUpgradeCallback: () => boolean }).shouldUpgradeCallback = () => true;
    expect(await exchange(port, elsewhere)).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('closes the connection after refusing an upgrade nobody recognises', async () => {
    const { manager } = await setup();
    const server = createServer((_req, res) => res.end('app'));
    const attached = attachableProxy(createProxy({ manager, router: pathRouter({ prefix: '/a' }) }));
    attached.attach(server);
    cleanups.push(() => attached.close());
    // As before Node 24.9, where every request with an Upgrade header is an upgrade.
    (server as Server & { shouldUpgradeCallback: () => boolean }).shouldUpgradeCallback = () => true;
    const port = await listen(server);
    const answer = await exchange(port, upgrade('/elsewhere', 'websocket'), true);
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n[\s\S]*connection: close/);
    // The server's side is gone too, though the client never closed its own.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const open = await new Promise<number>((resolve) =>
      server.getConnections((_error, count) => resolve(count)),
    );
    expect(open).toBe(0);
  });

  it.runIf('shouldUpgradeCallback' in createServer())(
    'leaves requests that merely offer another protocol (h2c) to the application and the HTTP path',
    async () => {
      const { backend, manager } = await setup();
      await echoContainer(backend, manager, 'one');
      const server = createServer((req, res) => {
        if (attached.proxy.recognises(req)) attached.proxy.handleRequest(req, res);
        else res.end('app page');
      });
      const attached = attachableProxy(createProxy({ manager, router: pathRouter({ prefix: '/a' }) }));
      attached.attach(server);
      cleanups.push(() => attached.close());
      const port = await listen(server);
      const h2c = (path: string) =>
        `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`;
      expect(await exchange(port, h2c('/page'))).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*app page$/);
      expect(await exchange(port, h2c('/a/one/'))).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*plain answer from one$/);
      // WebSockets outside the proxy's prefix are the application's too.
      expect(
        await exchange(
          port,
          upgrade('/page', 'websocket').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'),
        ),
      ).toMatch(/app page$/);
      // Detached, the server decides as before.
      await attached.close();
      expect(server.listenerCount('upgrade')).toBe(0);
    },
  );
});
