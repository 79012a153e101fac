import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerManager } from '../manager/container-manager.ts';
import { pathRouter } from '../routing/path-router.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import type { UpstreamPoolOptions } from '../upstream/pool.ts';
import { createProxy } from './create-proxy.ts';
import type { ProxyOptions } from './proxy-options.ts';

// The proxy's answers to faults of a tool that speaks raw bytes (the fault suite in
// backend-docker runs the same against real containers).

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/**
 * A tool on a raw socket: answers `GET /` with 200 (readiness), and any other request with
 * `respond(path)` written as is; counts the connections open.
 */
async function rawTool(respond: (path: string, socket: Socket) => string | undefined) {
  const open = new Set<Socket>();
  const server = createTcpServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        const path = head.split(' ')[1] ?? '/';
        const answer =
          path === '/' ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' : respond(path, socket);
        if (answer !== undefined) socket.write(answer, 'latin1');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const socket of open) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, open: () => open.size };
}

async function proxyTo(toolPort: number, options: Partial<ProxyOptions> = {}, pool?: UpstreamPoolOptions) {
  const backend = new MemoryBackend({ namespace: 'faults-unit' });
  backend.setUpstream('tool', { host: '127.0.0.1', port: toolPort });
  backend.add({ name: 'tool' }, { silent: true });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, ...(pool && { pool }) });
  cleanups.push(() => manager.close());
  await manager.start();
  await manager.waitUntilReady('tool', { signal: AbortSignal.timeout(3000) });
  const proxy = createProxy({ manager, router: pathRouter(), ...options });
  const server: Server = createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head) || socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => proxy.close());
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { backend, manager, port: (server.address() as AddressInfo).port };
}

/** Writes `request`; resolves with what came back once the proxy closed or `until` held. */
function exchange(port: number, request: string, until?: (text: string) => boolean) {
  const started = Date.now();
  return new Promise<{ text: string; ms: number; closed: boolean }>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      socket.destroy();
      resolve({ text, ms: Date.now() - started, closed });
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (until?.(text)) done(false);
    });
    socket.on('error', () => {});
    socket.on('close', () => done(true));
    socket.write(request, 'latin1');
  });
}

/** Waits (up to 1 s) until the failed route of `tool` is ready again. */
async function readyAgain(manager: ContainerManager): Promise<void> {
  const deadline = Date.now() + 1000;
  while (manager.get('tool')?.phase !== 'ready') {
    if (Date.now() > deadline) throw new Error(`tool is ${manager.get('tool')?.phase}, not ready again`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('proxy faults', () => {
  it('gives HTTP/1.0 clients a body without chunk framing, delimited by the close', async () => {
    const tool = await rawTool(
      (path) =>
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: ${path.slice(1)}, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    );
    const { port } = await proxyTo(tool.port);
    for (const coding of ['gzip', 'identity']) {
      const reply = await exchange(port, `GET /docker/tool/${coding} HTTP/1.0\r\nHost: a\r\n\r\n`);
      const [head, body] = reply.text.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(head).not.toMatch(/transfer-encoding/i);
      expect(body).toBe('hello');
      expect(reply.closed).toBe(true);
      const chunked = await exchange(port, `GET /docker/tool/${coding} HTTP/1.1\r\nHost: a\r\n\r\n`, (text) =>
        text.endsWith('0\r\n\r\n'),
      );
      expect(chunked.text).toMatch(new RegExp(`transfer-encoding: ${coding}, chunked`, 'i'));
    }
  });

  it('reads small request bodies before connecting upstream; larger ones stream', async () => {
    const tool = await rawTool(() => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const { port } = await proxyTo(tool.port, { requestBufferBytes: 16 });
    const small = connect(port, '127.0.0.1');
    const large = connect(port, '127.0.0.1');
    cleanups.push(
      () => small.destroy(),
      () => large.destroy(),
    );
    small.write('POST /docker/tool/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
    large.write(`POST /docker/tool/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n${'a'.repeat(20)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Only the large body's request has a connection to the tool: the one the readiness probe
    // left idle in the pool.
    expect(tool.open()).toBe(1);
    const answered = new Promise<string>((resolve) =>
      small.once('data', (chunk) => resolve(chunk.toString())),
    );
    small.write('defghij');
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
  });

  it('caps connections to a container: the rest queue, and a full queue gets a prompt 503', async () => {
    const tool = await rawTool(() => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const { port, manager } = await proxyTo(
      tool.port,
      { requestBufferBytes: 16 },
      { connections: 3, maxQueuedRequests: 4 },
    );
    // Bodies above requestBufferBytes stream, so each holds a connection while it drips.
    const slow = Array.from({ length: 10 }, () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
      let text = '';
      const answered = new Promise<{ text: string }>((resolve) =>
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) resolve({ text });
        }),
      );
      socket.write(
        `POST /docker/tool/up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n${'a'.repeat(20)}`,
      );
      return { socket, answered };
    });
    // 3 connected, 4 queued: the other 3 are answered as soon as they arrive, bodies unfinished.
    const answered: { text: string }[] = [];
    for (const client of slow) void client.answered.then((reply) => answered.push(reply));
    const pool = manager.get('tool')?.pool;
    for (let waited = 0; answered.length < 3 || (pool?.stats.queued ?? 0) < 4; waited += 20) {
      if (waited > 5_000) throw new Error(`${answered.length} answered, ${pool?.stats.queued} queued`);
      await sleep(20);
    }
    await sleep(100);
    expect(answered).toHaveLength(3);
    expect(tool.open()).toBe(3);
    for (const reply of answered) {
      expect(reply.text).toMatch(/^HTTP\/1\.1 503 /);
      expect(reply.text).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(reply.text).toMatch(/all its connections in use/);
    }
    // A WebSocket session would hold a connection too: refused the same way.
    const upgrade = await exchange(
      port,
      'GET /docker/tool/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(upgrade.text).toMatch(/^HTTP\/1\.1 503 [\s\S]*retry-after: 1\r\n/i);
    // Once the bodies arrive, the queued requests get the freed connections, still at most 3.
    for (const client of slow) client.socket.write('a'.repeat(80));
    const answers = await Promise.all(slow.map((client) => client.answered));
    expect(answers.filter((reply) => reply.text.startsWith('HTTP/1.1 200'))).toHaveLength(7);
    expect(tool.open()).toBeLessThanOrEqual(3);
  });

  it('refuses requestBufferBytes that is not a byte count, and defaults the body timeout to 60 s', async () => {
    const tool = await rawTool(() => undefined);
    await expect(proxyTo(tool.port, { requestBufferBytes: -1 })).rejects.toThrow(/requestBufferBytes/);
    await expect(proxyTo(tool.port, { eventStreamIdleTimeoutMs: -1 })).rejects.toThrow(
      /eventStreamIdleTimeoutMs/,
    );
  });

  it('cuts a stalled body after upstreamIdleTimeoutMs, and an event stream only after its own timeout', async () => {
    const tool = await rawTool((path) =>
      path === '/sse'
        ? 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n3\r\nx\n\n\r\n'
        : 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234',
    );
    const { port } = await proxyTo(tool.port, { upstreamIdleTimeoutMs: 300, eventStreamIdleTimeoutMs: 900 });
    const [stalled, events] = await Promise.all([
      exchange(port, 'GET /docker/tool/stall HTTP/1.1\r\nHost: a\r\n\r\n'),
      exchange(port, 'GET /docker/tool/sse HTTP/1.1\r\nHost: a\r\n\r\n'),
    ]);
    expect(stalled.closed).toBe(true);
    expect(stalled.text).toMatch(/01234$/);
    expect(stalled.ms).toBeGreaterThanOrEqual(250);
    expect(stalled.ms).toBeLessThan(800);
    expect(events.ms).toBeGreaterThanOrEqual(850);
  });

  it('cuts exchanges and WebSocket sessions in flight when the container is paused, and serves again once unpaused', async () => {
    const tool = await rawTool((path, socket) => {
      if (path === '/ws') {
        socket.removeAllListeners('data');
        socket.on('data', (chunk) => socket.write(chunk));
        return 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n';
      }
      return 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial';
    });
    const { backend, manager, port } = await proxyTo(tool.port);
    const download = exchange(port, 'GET /docker/tool/big HTTP/1.1\r\nHost: a\r\n\r\n');
    const session = exchange(
      port,
      'GET /docker/tool/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(tool.open()).toBeGreaterThanOrEqual(2);
    const started = Date.now();
    backend.setPaused('tool', true);
    const [cut, closed] = await Promise.all([download, session]);
    expect(cut.closed && closed.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(500);
    expect(cut.text).toMatch(/partial$/);
    expect(closed.text).toMatch(/^HTTP\/1\.1 101/);
    expect(manager.get('tool')?.phase).toBe('failed');
    // No reconciliation runs here: the unpause event alone brings the route back.
    backend.setPaused('tool', false);
    await readyAgain(manager);
    const again = await exchange(port, 'GET /docker/tool/ws2 HTTP/1.1\r\nHost: a\r\n\r\n', (text) =>
      text.includes('partial'),
    );
    expect(again.text).toMatch(/^HTTP\/1\.1 200/);
  });

  it('cuts exchanges in flight when the container exits or is removed', async () => {
    const tool = await rawTool(() => 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial');
    const { backend, manager, port } = await proxyTo(tool.port);
    const first = exchange(port, 'GET /docker/tool/a HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    backend.exit('tool', 137);
    expect((await first).closed).toBe(true);
    backend.add({ name: 'tool' });
    await readyAgain(manager);
    const second = exchange(port, 'GET /docker/tool/b HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    const removed = manager.remove('tool');
    const reply = await second;
    expect(reply.closed).toBe(true);
    expect(reply.text).toMatch(/partial$/);
    expect(Date.now() - started).toBeLessThan(300);
    await removed;
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
