// The proxy's graceful close (close({ drainMs })) and closeServer, against real sockets: local
// HTTP and WebSocket servers stand in for the containers' tools.
import { createHash } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { testCleanups } from '../../test/servers.ts';
import { isDdeError } from '../errors.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { ContainerManager } from '../manager/container-manager.ts';
import { pathRouter } from '../routing/path-router.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import { closeServer } from './close-server.ts';
import { createProxy } from './create-proxy.ts';
import type { DdeProxy } from './proxy-options.ts';

const cleanups = testCleanups();
const { listen } = cleanups;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Setup {
  proxy: DdeProxy;
  server: Server;
  port: number;
  history: MemoryHistory;
  /** Adds a ready container whose tool is `server` (listening already). */
  add(name: string, tool: Server): Promise<void>;
}

async function setup(): Promise<Setup> {
  const backend = new MemoryBackend({ namespace: 'drain-unit' });
  const history = new MemoryHistory();
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, negativeCacheMs: 0, history });
  cleanups.push(() => manager.close());
  await manager.start();
  const proxy = createProxy({ manager, router: pathRouter() });
  cleanups.push(() => proxy.close({ drainMs: 0 }));
  const server = createServer((req, res) => proxy.handleRequest(req, res, () => res.end('app')));
  server.on('upgrade', (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const port = await listen(server);
  return {
    proxy,
    server,
    port,
    history,
    async add(name, tool) {
      const address = tool.address() as AddressInfo;
      backend.setUpstream(name, { host: '127.0.0.1', port: address.port });
      backend.add({ name });
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(3000) });
    },
  };
}

/** A tool answering `/slow?ms=N` after N ms with `slow N`, anything else at once with `ok`. */
async function slowTool(): Promise<Server> {
  const server = createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://tool').searchParams.get('ms') ?? 0);
    if (ms === 0) res.end('ok');
    else setTimeout(() => res.end(`slow ${ms}`), ms);
  });
  await listen(server);
  return server;
}

/** A WebSocket echo tool; records the close codes it receives. */
async function echoTool(): Promise<{ server: Server; closes: number[]; received: Buffer[] }> {
  const server = createServer((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });
  const closes: number[] = [];
  const received: Buffer[] = [];
  wss.on('connection', (socket) => {
    socket.on('message', (data: Buffer, binary) => {
      received.push(data);
      if (data.length < 1000) socket.send(data, { binary });
    });
    socket.on('close', (code) => closes.push(code));
  });
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await listen(server);
  return { server, closes, received };
}

function connect(port: number, path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { maxPayload: 64 * 1024 * 1024 });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

function get(port: number, path: string, agent: Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy close({ drainMs })', () => {
  it('lets an HTTP exchange in flight finish, its response saying Connection: close; new requests get 503', async () => {
    const { proxy, port, add, history } = await setup();
    await add('slow', await slowTool());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    // A kept-alive connection that served a request before the drain.
    expect((await get(port, '/docker/slow/', agent)).headers.connection).toBe('keep-alive');
    const inFlight = get(port, '/docker/slow/slow?ms=400', agent);
    await sleep(100);
    const closing = proxy.close({ drainMs: 5000 });
    const refused = await get(port, '/docker/slow/');
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe('close');
    expect(refused.headers['retry-after']).toBe('2');
    expect(refused.text).toMatch(/shutting down/);
    // Not the proxy's: the application still answers its own routes.
    expect((await get(port, '/elsewhere')).text).toBe('app');
    const reply = await inFlight;
    expect(reply).toMatchObject({ status: 200, text: 'slow 400' });
    expect(reply.headers.connection).toBe('close');
    await closing;
    const records = history.querySync('slow').map((record) => record.type === 'http' && record.status);
    expect(records).toEqual([200, 200]);
  });

  it('closes an open WebSocket session with 1001 on both sides, the container hearing a masked close', async () => {
    const { proxy, port, add, history } = await setup();
    const tool = await echoTool();
    await add('ws', tool.server);
    const socket = await connect(port, '/docker/ws/');
    const reply = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('before');
    expect(await reply).toBe('before');
    const clientClosed = closed(socket);
    await proxy.close({ drainMs: 5000 });
    expect(await clientClosed).toEqual({ code: 1001, reason: 'proxy shutting down' });
    // ws refuses an unmasked frame from a client (1002): 1001 means the frame was well formed.
    await expect.poll(() => tool.closes).toEqual([1001]);
    const records = history.querySync('ws').map((record) => record.type === 'websocket' && record.event);
    expect(records).toEqual(['open', 'close']);
    // New upgrades get a 503 while (and after) the proxy drains.
    await expect(connect(port, '/docker/ws/')).rejects.toThrow('status 503');
  });

  it('waits for a frame under way in either direction before slipping in the close frame', async () => {
    const { proxy, port, add } = await setup();
    const tool = await echoTool();
    await add('big', tool.server);
    const socket = await connect(port, '/docker/big/');
    const clientClosed = closed(socket);
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(data));
    const toContainer = Buffer.alloc(8 * 1024 * 1024, 7);
    socket.send(toContainer);
    // Mid-relay: both frames are 8 MiB, far more than one chunk.
    await sleep(5);
    const closing = proxy.close({ drainMs: 10_000 });
    expect((await clientClosed).code).toBe(1001);
    await closing;
    await expect.poll(() => tool.closes).toEqual([1001]);
    expect(tool.received).toHaveLength(1);
    expect(tool.received[0]?.equals(toContainer)).toBe(true);
  });

  it('lets a frame from the container under way reach the client whole before the close frame', async () => {
    const { proxy, port, add } = await setup();
    const payload = Buffer.alloc(1024 * 1024, 9);
    let sendRest: () => void = () => {};
    const toolHeard: Buffer[] = [];
    // A raw WebSocket server: the frame's first half goes out, the rest only when the test says.
    const tool = createServer((_req, res) => res.end('ok'));
    tool.on('upgrade', (req: IncomingMessage, raw: Socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      raw.on('data', (chunk: Buffer) => toolHeard.push(chunk));
      raw.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      const header = Buffer.alloc(10);
      header[0] = 0x82;
      header[1] = 127;
      header.writeUInt32BE(payload.length, 6);
      raw.write(Buffer.concat([header, payload.subarray(0, payload.length / 2)]));
      // The proxy has ended its side by then (its close frame): the tool finishes and leaves.
      sendRest = () => raw.end(payload.subarray(payload.length / 2));
    });
    cleanups.push(() => new Promise<void>((resolve) => tool.close(() => resolve())));
    await listen(tool);
    await add('sender', tool);
    const socket = await connect(port, '/docker/sender/');
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(data));
    const clientClosed = closed(socket);
    // The first half has reached the client: the frame is under way through the proxy.
    const clientSocket = (socket as unknown as { _socket: Socket })._socket;
    await expect.poll(() => clientSocket.bytesRead).toBeGreaterThan(payload.length / 2);
    const closing = proxy.close({ drainMs: 10_000 });
    await sleep(20);
    expect(received).toHaveLength(0);
    sendRest();
    expect((await clientClosed).code).toBe(1001);
    await closing;
    expect(received).toHaveLength(1);
    expect(received[0]?.equals(payload)).toBe(true);
    // The container heard a masked close frame (FIN + opcode 8, mask bit set).
    const heard = Buffer.concat(toolHeard);
    expect(heard[0]).toBe(0x88);
    expect((heard[1] as number) & 0x80).toBe(0x80);
  });

  it('cuts what is left after drainMs: a response that never ends, a frame that never finishes', async () => {
    const { proxy, port, add } = await setup();
    const hanging = createServer((req, res) => {
      if (req.url === '/hang') res.writeHead(200).write('partial');
      else res.end('ready');
    });
    await listen(hanging);
    await add('hang', hanging);
    // A tool that accepts the upgrade, then sends a frame header announcing 100 bytes and 10 of them.
    const stuck = createServer((_req, res) => res.end('ready'));
    stuck.on('upgrade', (req: IncomingMessage, raw: Socket) => {
      const accept = new WebSocketServer({ noServer: true });
      accept.handleUpgrade(req, raw, Buffer.alloc(0), () => {
        raw.write(Buffer.concat([Buffer.from([0x82, 100]), Buffer.alloc(10, 1)]));
      });
    });
    await listen(stuck);
    await add('stuck', stuck);
    const socket = await connect(port, '/docker/stuck/');
    socket.on('error', () => {});
    const clientClosed = closed(socket);
    const response = new Promise<IncomingMessage>((resolve) =>
      httpRequest({ host: '127.0.0.1', port, path: '/docker/hang/hang', agent: false }, resolve).end(),
    );
    const res = await response;
    const cut = new Promise<boolean>((resolve) => {
      res.on('data', () => {});
      res.on('end', () => resolve(false));
      res.on('error', () => resolve(true));
      res.on('aborted', () => resolve(true));
    });
    await sleep(50);
    const started = Date.now();
    await proxy.close({ drainMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await cut).toBe(true);
    // No close frame could be slipped into the middle of the frame: the connection was cut.
    expect((await clientClosed).code).toBe(1006);
  });

  it('refuses a bad drainMs with a typed error naming it, and keeps serving', async () => {
    const { proxy, port, add } = await setup();
    await add('kept', await slowTool());
    for (const bad of [{ drainMs: -1 }, { drainMs: Number.NaN }, { drainMs: '5' }, { drainMS: 5 }]) {
      let thrown: unknown;
      try {
        await proxy.close(bad as never);
      } catch (error) {
        thrown = error;
      }
      expect(isDdeError(thrown) && thrown.code).toBe('INVALID_OPTION');
      expect(isDdeError(thrown) && thrown.field).toBe('drainMS' in bad ? 'drainMS' : 'drainMs');
    }
    expect((await get(port, '/docker/kept/')).text).toBe('ok');
  });
});

describe('closeServer', () => {
  it('stops accepting, closes idle keep-alive connections, ends the next response with Connection: close, waits for active requests', async () => {
    let release: () => void = () => {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/wait') release = () => res.end('waited');
      else res.end('now');
    });
    const port = await listen(server);
    const idle = new Agent({ keepAlive: true });
    const busy = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => idle.destroy());
    cleanups.push(() => busy.destroy());
    expect((await get(port, '/', idle)).text).toBe('now');
    const idleSocket = Object.values(idle.freeSockets)[0]?.[0] as Socket;
    const idleGone = new Promise<void>((resolve) => idleSocket.once('close', () => resolve()));
    expect((await get(port, '/', busy)).headers.connection).toBe('keep-alive');
    const waiting = get(port, '/wait', busy);
    await sleep(50);
    let done = false;
    const closing = closeServer(server, { drainMs: 5000 }).then(() => {
      done = true;
    });
    await idleGone;
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/);
    await sleep(100);
    expect(done).toBe(false);
    release();
    expect((await waiting).text).toBe('waited');
    await closing;
  });

  it('answers a request arriving on an open connection during the drain with Connection: close', async () => {
    let release: () => void = () => {};
    const server = createServer((req, res) => {
      if (req.url === '/wait') release = () => res.end('waited');
      else res.end('now');
    });
    const port = await listen(server);
    // Two requests on one connection: the second comes once the drain has started.
    const socket = (await import('node:net')).connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    let received = '';
    socket.setEncoding('latin1').on('data', (data: string) => {
      received += data;
    });
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /wait HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(50);
    const closing = closeServer(server, { drainMs: 5000 });
    socket.write('GET /next HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(50);
    release();
    await ended;
    await closing;
    const second = received.slice(received.indexOf('HTTP/1.1', 10));
    expect(second).toMatch(/^HTTP\/1\.1 200 [\s\S]*connection: close\r\n[\s\S]*now$/i);
  });

  it('closes every connection left after drainMs', async () => {
    const server = createServer((_req, res) => res.writeHead(200).write('never ends'));
    const port = await listen(server);
    const cut = new Promise<string>((resolve) => {
      httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.on('data', () => {});
        res.on('error', () => resolve('cut'));
        res.on('end', () => resolve('ended'));
      }).end();
    });
    await sleep(50);
    const started = Date.now();
    await closeServer(server, { drainMs: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(await cut).toBe('cut');
  });

  it('refuses a bad drainMs before touching the server', async () => {
    const server = createServer((_req, res) => res.end('still'));
    const port = await listen(server);
    expect(() => closeServer(server, { drainMs: -5 })).toThrow(/drainMs/);
    expect((await get(port, '/')).text).toBe('still');
  });
});
