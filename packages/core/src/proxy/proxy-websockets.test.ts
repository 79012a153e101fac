import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { proxyFixtures, rawExchange, send } from '../../test/proxy-fixtures.ts';
import type { Upstream } from '../backend.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import { hostnameRouter } from '../routing/hostname-router.ts';
import { pathRouter } from '../routing/path-router.ts';
import { createProxy } from './create-proxy.ts';

const { cleanups, listen, setup } = proxyFixtures();

describe('createProxy: WebSockets', () => {
  async function echoTool(): Promise<{
    upstream: Upstream;
    server: Server;
    paths: string[];
    headers: IncomingHttpHeaders[];
  }> {
    const paths: string[] = [];
    const headers: IncomingHttpHeaders[] = [];
    const server = createServer((_req, res) => res.end('ok'));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket, req) => {
      paths.push(req.url ?? '');
      headers.push(req.headers);
      socket.on('message', (data, binary) => socket.send(data, { binary }));
    });
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const port = await listen(server);
    return { upstream: { host: '127.0.0.1', port }, server, paths, headers };
  }

  function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      socket.once('open', () => resolve(socket));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  function roundTrip(socket: WebSocket, message: string): Promise<string> {
    return new Promise((resolve) => {
      socket.once('message', (data) => resolve(data.toString()));
      socket.send(message);
    });
  }

  it('proxies WebSocket sessions both ways, records them and counts them open', async () => {
    const { port, backend, manager, history } = await setup();
    const echoServer = await echoTool();
    backend.setUpstream('ws', echoServer.upstream);
    backend.add({ name: 'ws' });
    await manager.waitUntilReady('ws');
    const socket = await connect(`ws://127.0.0.1:${port}/docker/ws/socket?room=1`, {
      cookie: 'session=parent',
    });
    expect(await roundTrip(socket, 'hello')).toBe('hello');
    expect(await roundTrip(socket, 'x'.repeat(100_000))).toHaveLength(100_000);
    expect(echoServer.paths).toEqual(['/socket?room=1']);
    expect(echoServer.headers[0]).toMatchObject({
      cookie: 'session=parent',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-prefix': '/docker/ws',
    });
    expect(manager.get('ws')?.openWebSockets).toBe(1);
    socket.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(manager.get('ws')?.openWebSockets).toBe(0);
    const records = await history.query('ws');
    expect(records.map((record) => record.type === 'websocket' && record.event)).toEqual(['open', 'close']);
    const closed = records[1];
    expect(
      closed?.type === 'websocket' && (closed.bytesIn ?? 0) > 100_000 && (closed.bytesOut ?? 0) > 100_000,
    ).toBe(true);
  });

  it('records nothing for a container removed while its session was open (its history is gone)', async () => {
    const { port, backend, manager, history } = await setup();
    const echoServer = await echoTool();
    backend.setUpstream('ws', echoServer.upstream);
    backend.add({ name: 'ws' });
    await manager.waitUntilReady('ws');
    const socket = await connect(`ws://127.0.0.1:${port}/docker/ws/socket`);
    expect(await roundTrip(socket, 'hello')).toBe('hello');
    expect(history.containers()).toEqual(['ws']);
    await manager.remove('ws');
    expect(history.containers()).toEqual([]);
    // The session outlived its container: its close must not bring a ring back for the name.
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.close();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(history.containers()).toEqual([]);
    expect(history.size).toBe(0);
  });

  it('recognises the handshake answer however the container splits it', async () => {
    const { port, backend, manager, history } = await setup();
    // A tool that writes its 101 in three pieces, then one text frame ("hi").
    const server = createServer((_req, res) => res.end('ok'));
    server.on('upgrade', (req, socket: Socket) => {
      socket.on('end', () => socket.destroy()); // the server is half-open by default
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
      const pieces = [answer.slice(0, 10), answer.slice(10, 40), answer.slice(40)];
      const next = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
        else {
          socket.write(piece);
          setTimeout(next, 15);
        }
      };
      next();
    });
    backend.setUpstream('split', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'split' });
    await manager.waitUntilReady('split');
    const socket = new WebSocket(`ws://127.0.0.1:${port}/docker/split/`);
    const message = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(data.toString()));
      socket.once('error', reject);
    });
    expect(message).toBe('hi');
    expect(manager.get('split')?.openWebSockets).toBe(1);
    const [opened] = await history.query('split');
    expect(opened).toMatchObject({ type: 'websocket', event: 'open', status: 101 });
    socket.terminate();
  });

  const handshake = (path: string, extra = ''): string =>
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

  it('passes a refusal on as an HTTP response, then closes: no raw tunnel to the container', async () => {
    const { port, addTool, history } = await setup();
    const seen: string[] = [];
    const refusing = await addTool('refuses', (req, res) => {
      if (req.headers.upgrade === undefined) {
        res.end('ready');
        return;
      }
      seen.push(`${req.method} ${req.url} ${req.headers['x-forwarded-for']}`);
      res.writeHead(404, { location: '/login', 'set-cookie': 'a=1; Path=/', 'content-type': 'text/plain' });
      res.end('no sockets here');
    });
    // A second request smuggled right behind the handshake, with a forged X-Forwarded-For.
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: evil\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n';
    const answer = await rawExchange(port, handshake('/docker/refuses/socket') + smuggled);
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(answer).toContain('\r\nlocation: /docker/refuses/login\r\n');
    expect(answer).toContain('\r\nset-cookie: a=1; Path=/docker/refuses\r\n');
    expect(answer).toContain('\r\nconnection: close\r\n');
    expect(answer.endsWith('\r\n\r\nno sockets here')).toBe(true);
    expect(answer).not.toContain('admin');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual(['GET /socket 127.0.0.1']);
    expect(refusing.connections()).toBe(2); // the probe's, and the handshake's
    const records = await history.query('refuses');
    expect(records.filter((record) => record.type === 'websocket')).toMatchObject([
      { event: 'close', status: 404 },
    ]);
  });

  it('passes a large refusal on at the pace the client reads it', async () => {
    const { port, addTool } = await setup();
    const total = 64 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024, 'r');
    let flushed = 0;
    await addTool('refuses-big', (req, res) => {
      if (req.headers.upgrade === undefined) return res.end('ready');
      res.writeHead(403, { 'content-length': String(total) });
      let written = 0;
      const pump = (): void => {
        while (written < total) {
          written += piece.length;
          if (!res.write(piece, () => (flushed += piece.length))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const client = connectTcp(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    client.pause(); // reads nothing yet
    client.write(handshake('/docker/refuses-big/socket'));
    // Until the container can write no more (or wrote everything, when the proxy buffers it all).
    let last = -1;
    while (flushed !== last && flushed < total) {
      last = flushed;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // What the socket buffers between the container and the client holds, not the whole body.
    expect(flushed).toBeLessThan(total / 2);
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    client.resume();
    await new Promise((resolve) => client.on('close', resolve));
    expect(received).toBeGreaterThan(total);
  });

  it('answers 502 when the container closes without answering, 400 for a handshake with a body', async () => {
    const { port, backend, manager } = await setup();
    const server = createServer((_req, res) => res.end('ok'));
    server.on('upgrade', (_req, socket: Socket) => socket.end());
    backend.setUpstream('mute', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'mute' });
    await manager.waitUntilReady('mute');
    expect(await rawExchange(port, handshake('/docker/mute/'))).toMatch(/^HTTP\/1\.1 502 /);
    const withBody = await rawExchange(port, `${handshake('/docker/mute/', 'Content-Length: 5\r\n')}hello`);
    expect(withBody).toMatch(/^HTTP\/1\.1 400 [\s\S]*cannot carry a body/);
  });

  it('does not dial for clients gone during a lookup, and answers pending upgrades 503 on close()', async () => {
    const { port, backend, manager } = await setup();
    const { upstream, server } = await echoTool();
    let dialled = 0;
    server.on('upgrade', () => dialled++);
    backend.setUpstream('late', upstream);
    backend.setInspectDelay(60);
    backend.add({ name: 'late' });
    // Leaves (half-closes) while the lookup is still running.
    const leaving = connectTcp(port, '127.0.0.1');
    leaving.on('error', () => {});
    leaving.end(handshake('/docker/late/'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(dialled).toBe(0);

    const proxy = createProxy({ manager, router: pathRouter() });
    const own = createServer();
    own.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
    const ownPort = await listen(own);
    backend.setUpstream('later', upstream);
    backend.add({ name: 'later' });
    const pending = rawExchange(ownPort, handshake('/docker/later/'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await proxy.close();
    expect(await pending).toMatch(/^HTTP\/1\.1 503 [\s\S]*retry-after: 2\r\n[\s\S]*shutting down/);
    expect(await rawExchange(ownPort, handshake('/docker/later/'))).toMatch(
      /^HTTP\/1\.1 503 [\s\S]*shutting down/,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dialled).toBe(0);
  });

  it('close() resolves once open sessions are closed and recorded', async () => {
    const { backend, manager, history } = await setup();
    const echoServer = await echoTool();
    backend.setUpstream('closing', echoServer.upstream);
    backend.add({ name: 'closing' });
    await manager.waitUntilReady('closing');
    const proxy = createProxy({ manager, router: pathRouter() });
    const server = createServer();
    server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
    const port = await listen(server);
    const socket = await connect(`ws://127.0.0.1:${port}/docker/closing/`);
    socket.on('error', () => {});
    expect(await roundTrip(socket, 'last words')).toBe('last words');
    await proxy.close();
    // No tick later: the record is there as soon as close() resolves.
    const records = history.querySync('closing').map((record) => record.type === 'websocket' && record.event);
    expect(records).toEqual(['open', 'close']);
    expect(manager.get('closing')?.openWebSockets).toBe(0);
  });

  it('keeps a session half-open as TCP allows: a side that ended can still receive', async () => {
    const { port, backend, manager } = await setup();
    const server = createServer((_req, res) => res.end('ok'));
    let heardAfterEnd = '';
    let toolDone: () => void = () => {};
    const toolEnded = new Promise<void>((resolve) => {
      toolDone = resolve;
    });
    server.on('upgrade', (req, socket: Socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.end('done'); // finished sending, still listening
      socket.on('data', (data: Buffer) => {
        heardAfterEnd += data.toString('latin1');
      });
      socket.on('end', toolDone);
    });
    backend.setUpstream('half', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'half' });
    await manager.waitUntilReady('half');
    const client = connectTcp({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    client.setEncoding('latin1');
    client.on('data', (data: string) => {
      received += data;
    });
    client.once('end', () => client.end('after the end'));
    await new Promise((resolve) => client.once('close', resolve).write(handshake('/docker/half/')));
    await toolEnded;
    expect(received.endsWith('\r\n\r\ndone')).toBe(true);
    expect(heardAfterEnd).toBe('after the end');
  });

  it("relays a container's stream intact to a client that reads slowly, small and large reads alike", async () => {
    const { port, backend, manager, history } = await setup();
    // Bytes that differ everywhere (a reused read buffer overwritten too early would show), in
    // writes from 1 byte to 200 KB, each once the previous one is taken.
    const sent = randomBytes(6_000_000);
    const server = createServer((_req, res) => res.end('ok'));
    server.on('upgrade', (req, socket: Socket) => {
      socket.on('error', () => {});
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      const sizes = [1, 700, 200_000, 5, 16_384, 70_000, 3];
      let offset = 0;
      const more = (): void => {
        for (let i = 0; offset < sent.length; i++) {
          const end = Math.min(sent.length, offset + (sizes[i % sizes.length] as number));
          const flowing = socket.write(sent.subarray(offset, end));
          offset = end;
          if (!flowing) {
            socket.once('drain', more);
            return;
          }
        }
        socket.end();
      };
      more();
    });
    backend.setUpstream('stream', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'stream' });
    await manager.waitUntilReady('stream');
    const client = connectTcp({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A slow reader: the relay must wait for it, never lose or reorder a byte.
      if (chunks.length % 7 === 0) {
        client.pause();
        setTimeout(() => client.resume(), 5);
      }
    });
    await new Promise((resolve) => client.once('end', resolve).write(handshake('/docker/stream/')));
    const received = Buffer.concat(chunks);
    const body = received.subarray(received.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBe(sent.length);
    expect(body.equals(sent)).toBe(true);
    client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = (await history.query('stream')).find((r) => r.type === 'websocket' && r.event === 'close');
    expect(closed).toMatchObject({ bytesOut: sent.length });
  });

  it('keeps proxying requests and WebSockets when the history cannot record, and says so once', async () => {
    class Failing extends MemoryHistory {
      override record(): void {
        throw new Error('history down');
      }
    }
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: unknown, message: string) => warnings.push(message) };
    const { port, backend, manager } = await setup({}, pathRouter(), { history: new Failing(), logger });
    const { upstream } = await echoTool();
    backend.setUpstream('flaky', upstream);
    backend.add({ name: 'flaky' });
    await manager.waitUntilReady('flaky', { signal: AbortSignal.timeout(3000) });
    for (let index = 0; index < 3; index++) {
      expect((await send(port, { path: '/docker/flaky/' })).text).toBe('ok');
    }
    const socket = await connect(`ws://127.0.0.1:${port}/docker/flaky/ws`);
    const reply = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('hello');
    expect(await reply).toBe('hello');
    await new Promise((resolve) => {
      socket.once('close', resolve);
      socket.close();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(manager.get('flaky')?.openWebSockets).toBe(0);
    expect(warnings).toEqual(['cannot record activity']);
  });

  it('counts held bytes in, rewrites cookies set by the 101, and resets a cut refusal', async () => {
    const { port, backend, manager, history } = await setup();
    const server = createServer((_req, res) => res.end('ok'));
    const heard: string[] = [];
    server.on('upgrade', (req, socket: Socket) => {
      socket.on('end', () => socket.destroy());
      if (req.url === '/refuse') {
        socket.write('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\npart of a');
        setTimeout(() => socket.resetAndDestroy(), 30);
        return;
      }
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      // Accepted late: the client's early bytes wait in the proxy meanwhile.
      setTimeout(() => {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: ws=1; Path=/\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
      }, 50);
      socket.on('data', (data: Buffer) => {
        heard.push(data.toString('latin1'));
        socket.end();
      });
    });
    backend.setUpstream('early', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'early' });
    await manager.waitUntilReady('early');
    const answer = await rawExchange(port, `${handshake('/docker/early/')}early bytes`);
    expect(answer).toContain('\r\nSet-Cookie: ws=1; Path=/docker/early\r\n');
    expect(heard.join('')).toBe('early bytes');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = history
      .querySync('early')
      .find((record) => record.type === 'websocket' && record.event === 'close');
    expect(closed).toMatchObject({ status: 101, bytesIn: 'early bytes'.length });
    // A refusal delimited by the close and cut by a reset must not look complete.
    await expect(rawExchange(port, handshake('/docker/early/refuse'))).rejects.toThrow(/ECONNRESET/);
  });

  it('proxies WebSockets by hostname too', async () => {
    const { port, backend, manager } = await setup({}, hostnameRouter({ suffix: 'docker.localhost' }));
    const echoServer = await echoTool();
    backend.setUpstream('hosted', echoServer.upstream);
    backend.add({ name: 'hosted' });
    await manager.waitUntilReady('hosted');
    const socket = await connect(`ws://127.0.0.1:${port}/live`, { host: 'hosted.docker.localhost' });
    expect(await roundTrip(socket, 'by host')).toBe('by host');
    expect(echoServer.paths).toEqual(['/live']);
    socket.close();
  });

  it('refuses upgrades with a proper HTTP answer: unknown, starting, denied, refused', async () => {
    const { port, backend, manager } = await setup({
      authorize: ({ req }) => req.headers['x-user'] !== 'mallory',
    });
    await expect(connect(`ws://127.0.0.1:${port}/docker/nobody/`)).rejects.toThrow('status 404');
    backend.add({ name: 'starting', state: 'created' });
    await expect(connect(`ws://127.0.0.1:${port}/docker/starting/`)).rejects.toThrow('status 503');
    const echoServer = await echoTool();
    backend.setUpstream('guarded', echoServer.upstream);
    backend.add({ name: 'guarded' });
    await manager.waitUntilReady('guarded');
    await expect(connect(`ws://127.0.0.1:${port}/docker/guarded/`, { 'x-user': 'mallory' })).rejects.toThrow(
      'status 403',
    );
    backend.setUpstream('refusing', { host: '127.0.0.1', port: 9 });
    backend.add({ name: 'refusing' });
    // Force it ready: nothing listens there, so its probe would never succeed.
    const route = await manager.lookup('refusing');
    Object.assign(route as object, { phase: 'ready' });
    await expect(connect(`ws://127.0.0.1:${port}/docker/refusing/`)).rejects.toThrow('status 502');
    await expect(connect(`ws://127.0.0.1:${port}/docker/guarded/..%2Fx`)).rejects.toThrow('status 400');
  });

  it('leaves upgrades it does not route to other handlers, and survives clients leaving mid-lookup', async () => {
    const { manager, backend } = await setup();
    const proxy = createProxy({ manager, router: pathRouter() });
    const server = createServer();
    const others: string[] = [];
    server.on('upgrade', (req, socket: Socket, head) => {
      if (proxy.handleUpgrade(req, socket, head)) return;
      others.push(req.url ?? '');
      socket.destroy();
    });
    const port = await listen(server);
    await expect(connect(`ws://127.0.0.1:${port}/elsewhere`)).rejects.toThrow();
    expect(others).toEqual(['/elsewhere']);

    backend.setInspectDelay(50);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/docker/slow-lookup/`);
    socket.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    socket.terminate();
    await new Promise((resolve) => setTimeout(resolve, 80));
    // Still serving.
    await expect(connect(`ws://127.0.0.1:${port}/docker/nobody/`)).rejects.toThrow('status 404');
  });
});
