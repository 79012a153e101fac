import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DdeError } from '../errors.ts';
import type { ResponseHandler, UpstreamRequest } from './exchange.ts';
import { UpstreamPool, type UpstreamPoolOptions } from './pool.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Listens on loopback and closes (with its connections) after the test. */
async function listen(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A real HTTP server; counts the connections it accepted. */
async function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; connections: () => number; closed: () => number }> {
  let connections = 0;
  let closed = 0;
  const server = createHttpServer(handler);
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    connections++;
    socket.once('close', () => closed++);
  });
  const port = await listen(server);
  return { port, connections: () => connections, closed: () => closed };
}

/** A TCP server that answers each request (one per `data` event) with what `answer` returns. */
async function scriptedServer(
  answer: (request: string, index: number, socket: Socket) => string | undefined,
): Promise<{ port: number; connections: () => number; requests: string[] }> {
  let connections = 0;
  const requests: string[] = [];
  const server = createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      requests.push(chunk.toString('latin1'));
      const reply = answer(chunk.toString('latin1'), requests.length - 1, socket);
      if (reply !== undefined) socket.write(reply, 'latin1');
    });
  });
  const port = await listen(server);
  return { port, connections: () => connections, requests };
}

function pool(port: number, options: UpstreamPoolOptions = {}): UpstreamPool {
  const created = new UpstreamPool('127.0.0.1', port, options);
  cleanups.push(() => created.destroy());
  return created;
}

interface Collected {
  status: number;
  headers: string[];
  body: Buffer;
}

/** Dispatches like the proxy does and collects the response. */
function exchange(
  target: UpstreamPool,
  request: Partial<UpstreamRequest> & { path: string },
  handler: Partial<ResponseHandler> = {},
): Promise<Collected> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: string[] = [];
    const chunks: Buffer[] = [];
    target.dispatch(
      { method: 'GET', headers: [], headersTimeoutMs: 5000, bodyTimeoutMs: 0, ...request },
      {
        onResponseStart(head) {
          status = head.status;
          headers = head.headers;
        },
        onResponseData(chunk, last) {
          chunks.push(chunk);
          return handler.onResponseData?.(chunk, last) ?? true;
        },
        onResponseEnd: () => resolve({ status, headers, body: Buffer.concat(chunks) }),
        onResponseError: reject,
      },
    );
  });
}

const ok = (body = 'ok', extra = '') =>
  `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('UpstreamPool: requests and reuse', () => {
  it('sends requests and reuses one keep-alive connection for sequential ones', async () => {
    const server = await httpServer((req, res) => {
      res.setHeader('x-seen', `${req.method} ${req.url} ${req.headers.host} ${req.headers['x-a']}`);
      res.end('hello');
    });
    const client = pool(server.port);
    for (let index = 0; index < 5; index++) {
      const response = await client.request({ path: `/p?i=${index}`, headers: { 'x-a': 'b' } });
      expect(response.status).toBe(200);
      expect(response.headers['x-seen']).toBe(`GET /p?i=${index} 127.0.0.1:${server.port} b`);
      expect(response.body.toString()).toBe('hello');
    }
    expect(server.connections()).toBe(1);
    expect(client.stats).toEqual({ connections: 1, idle: 1, queued: 0, tunnels: 0 });
    expect(client.origin).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('sends bodies with their length, and streams chunked ones byte for byte', async () => {
    const server = await httpServer((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () =>
        res.end(JSON.stringify({ te: req.headers['transfer-encoding'], length, sha: hash.digest('hex') })),
      );
    });
    const client = pool(server.port);
    const posted = await client.request({ method: 'POST', path: '/', body: 'name=value' });
    expect(JSON.parse(posted.body.toString())).toMatchObject({ length: 10 });

    const parts = Array.from({ length: 50 }, (_, index) => Buffer.alloc(10_000 + index, index));
    const expected = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    const streamed = await exchange(client, {
      method: 'PUT',
      path: '/',
      body: Readable.from(parts),
    });
    expect(JSON.parse(streamed.body.toString())).toEqual({
      te: 'chunked',
      length: 500_000 + 1225,
      sha: expected,
    });
  });

  it('queues requests beyond the connection limit and serves them all', async () => {
    let open = 0;
    let most = 0;
    const server = await httpServer((_req, res) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        res.end('done');
      }, 20);
    });
    const client = pool(server.port, { connections: 2 });
    const all = Promise.all(Array.from({ length: 8 }, () => client.request({ path: '/' })));
    expect(client.stats.queued).toBe(6);
    const responses = await all;
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(most).toBe(2);
    expect(server.connections()).toBe(2);
  });

  it('refuses requests beyond a full queue at once with UPSTREAM_BUSY, serving the rest', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => res.end('done'), 100));
    const client = pool(server.port, { connections: 2, maxQueuedRequests: 3 });
    const started = Date.now();
    const outcomes = Array.from({ length: 8 }, () =>
      client.request({ path: '/' }).then(
        (response) => response.status,
        (error: DdeError) => ({ code: error.code, status: error.httpStatus, ms: Date.now() - started }),
      ),
    );
    expect(client.stats).toMatchObject({ connections: 2, queued: 3 });
    const results = await Promise.all(outcomes);
    expect(results.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    for (const refused of results.slice(5)) {
      expect(refused).toMatchObject({ code: 'UPSTREAM_BUSY', status: 503 });
      // Answered before the first response could have freed a connection.
      expect((refused as { ms: number }).ms).toBeLessThan(100);
    }
    expect(server.connections()).toBe(2);
  });

  it('counts WebSocket sessions against the cap, closing an idle connection to make room', async () => {
    const server = await httpServer((_req, res) => res.end('ok'));
    const client = pool(server.port, { connections: 2, maxQueuedRequests: 0 });
    await Promise.all([client.request({ path: '/' }), client.request({ path: '/' })]);
    expect(client.stats).toMatchObject({ connections: 2, idle: 2 });
    const tunnel = (): Socket => {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      client.track(socket);
      return socket;
    };
    // Room is made by closing idle connections, the least recently used first.
    expect(client.admitsTunnel()).toBe(true);
    const first = tunnel();
    expect(client.admitsTunnel()).toBe(true);
    const second = tunnel();
    expect(client.stats).toMatchObject({ connections: 0, tunnels: 2 });
    // No room left: no third session, and no request either (no queue).
    expect(client.admitsTunnel()).toBe(false);
    await expect(client.request({ path: '/' })).rejects.toMatchObject({ code: 'UPSTREAM_BUSY' });
    // A session that ends frees its place.
    first.destroy();
    await new Promise((resolve) => first.once('close', resolve));
    expect((await client.request({ path: '/' })).status).toBe(200);
    second.destroy();
  });

  it('starts a queued request as soon as a WebSocket session ends', async () => {
    const server = await httpServer((_req, res) => res.end('ok'));
    const client = pool(server.port, { connections: 1 });
    expect(client.admitsTunnel()).toBe(true);
    const session = connect(server.port, '127.0.0.1');
    session.on('error', () => {});
    client.track(session);
    const queued = client.request({ path: '/' });
    expect(client.stats).toMatchObject({ connections: 0, queued: 1, tunnels: 1 });
    session.destroy();
    expect((await queued).status).toBe(200);
  });

  it('closes idle connections after the keep-alive time, sooner when the server hints so', async () => {
    const server = await scriptedServer(() => ok('x', 'Keep-Alive: timeout=1\r\n'));
    const client = pool(server.port, { keepAliveTimeoutMs: 200 });
    await client.request({ path: '/' });
    expect(client.stats.idle).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(client.stats.connections).toBe(0);

    const hinted = pool(server.port, { keepAliveTimeoutMs: 60_000 });
    await hinted.request({ path: '/' });
    await new Promise((resolve) => setTimeout(resolve, 700)); // 1 s hint → kept at most 0.5 s
    expect(hinted.stats.connections).toBe(0);
  });

  it('reads HTTP/1.0 answers delimited by the close, and never reuses their connection', async () => {
    const server = await scriptedServer((_request, _index, socket) => {
      socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close');
      return undefined;
    });
    const client = pool(server.port);
    expect((await client.request({ path: '/' })).body.toString()).toBe('until close');
    expect((await client.request({ path: '/' })).body.toString()).toBe('until close');
    expect(server.connections()).toBe(2);
  });

  it('opens a new connection after a response that said Connection: close, or answered HEAD', async () => {
    const server = await scriptedServer((request) =>
      request.startsWith('HEAD')
        ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'
        : ok('bye', 'Connection: close\r\n'),
    );
    const client = pool(server.port);
    expect((await client.request({ path: '/' })).body.toString()).toBe('bye');
    expect((await client.request({ path: '/' })).body.toString()).toBe('bye');
    expect(server.connections()).toBe(2);
    // A HEAD answer has no body whatever its Content-Length says, and its connection is reused.
    const head = await client.request({ method: 'HEAD', path: '/' });
    expect(head).toMatchObject({ status: 200, body: Buffer.alloc(0) });
    expect(head.headers['content-length']).toBe('5');
    await client.request({ method: 'HEAD', path: '/' });
    expect(server.connections()).toBe(3);
  });

  it('stops reading while the handler is paused, and resumes', async () => {
    const server = await httpServer((_req, res) => res.end(Buffer.alloc(4 * 1024 * 1024, 1)));
    const client = pool(server.port);
    let received = 0;
    let paused = true;
    const done = new Promise<void>((resolve, reject) => {
      // Checked a while after the first read (not after dispatch: under load that read may come late).
      const checkThenResume = () => {
        try {
          // One read's worth arrived, nothing more while paused.
          expect(received).toBeLessThanOrEqual(64 * 1024);
        } catch (error) {
          reject(error);
        }
        paused = false;
        running.resume();
      };
      const running = client.dispatch(
        { method: 'GET', path: '/', headers: [], headersTimeoutMs: 5000, bodyTimeoutMs: 0 },
        {
          onResponseStart() {},
          onResponseData(chunk) {
            if (paused && received === 0) setTimeout(checkThenResume, 100);
            received += chunk.length;
            return !paused;
          },
          onResponseEnd: () => resolve(),
          onResponseError: reject,
        },
      );
    });
    await done;
    expect(received).toBe(4 * 1024 * 1024);
  });
});

describe('UpstreamPool: failures', () => {
  it('replays an idempotent request once when a reused connection was closed before answering', async () => {
    const server = await scriptedServer((_request, index, socket) => {
      if (index === 1) {
        socket.destroy(); // the server dropped the kept-alive connection
        return undefined;
      }
      return ok(`answer ${index}`);
    });
    const client = pool(server.port);
    expect((await client.request({ path: '/' })).body.toString()).toBe('answer 0');
    expect((await client.request({ path: '/' })).body.toString()).toBe('answer 2');
    expect(server.connections()).toBe(2);
  });

  it('does not replay non-idempotent or streamed requests', async () => {
    const server = await scriptedServer((_request, index, socket) => {
      if (index === 1 || index === 3) {
        socket.destroy();
        return undefined;
      }
      return ok();
    });
    const client = pool(server.port);
    await client.request({ path: '/' });
    await expect(client.request({ method: 'POST', path: '/', body: 'x' })).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringMatching(/closed the connection without answering/),
    });
    await client.request({ path: '/' });
    const body = new PassThrough();
    body.end('streamed');
    await expect(exchange(client, { method: 'PUT', path: '/', body })).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
    });
  });

  it('reports refused connections, invalid responses and responses cut short', async () => {
    const refused = await scriptedServer(() => undefined);
    const port = refused.port;
    await cleanups.pop()?.(); // closed: nothing listens there now
    await expect(pool(port).request({ path: '/' })).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringMatching(/Cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/),
    });

    const invalid = await scriptedServer(
      () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    await expect(pool(invalid.port).request({ path: '/' })).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: expect.stringMatching(/Invalid response from .*both Content-Length and Transfer-Encoding/),
    });

    const short = await scriptedServer((_request, _index, socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
      return undefined;
    });
    await expect(pool(short.port).request({ path: '/' })).rejects.toThrow(/in the middle of the response/);
    expect(new DdeError('UPSTREAM_UNAVAILABLE', 'x').httpStatus).toBe(502);
  });

  it('never reuses a connection that sent bytes beyond its response', async () => {
    const server = await scriptedServer(
      () => `${ok('one')}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmuggled`,
    );
    const client = pool(server.port);
    expect((await client.request({ path: '/' })).body.toString()).toBe('one');
    expect((await client.request({ path: '/' })).body.toString()).toBe('one');
    expect(server.connections()).toBe(2);
  });

  it('closes the connection when the response ends before the request body was sent', async () => {
    const server = await httpServer((req, res) => {
      res.writeHead(413, { connection: 'keep-alive' });
      res.end('too large');
      req.resume();
    });
    const client = pool(server.port);
    const body = new PassThrough();
    body.write(Buffer.alloc(1000));
    const early = await exchange(client, { method: 'POST', path: '/', body });
    expect(early.status).toBe(413);
    body.end();
    expect(client.stats.idle).toBe(0);
    expect((await client.request({ path: '/' })).status).toBe(413);
  });

  it('times out a silent server, a stalled body and a connection that never opens', async () => {
    const silent = await scriptedServer(() => undefined);
    await expect(pool(silent.port).request({ path: '/', timeoutMs: 150 })).rejects.toMatchObject({
      code: 'UPSTREAM_TIMEOUT',
      message: expect.stringMatching(/sent no response within 150 ms/),
    });

    const stalled = await scriptedServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    await expect(
      exchange(pool(stalled.port), { path: '/', headersTimeoutMs: 5000, bodyTimeoutMs: 150 }),
    ).rejects.toMatchObject({
      code: 'UPSTREAM_TIMEOUT',
      message: expect.stringMatching(/sent nothing for 150 ms/),
    });

    // A listener that never accepts: once its backlog is full, connecting hangs.
    const port = await unacceptingListener();
    const filler = connect(port, '127.0.0.1');
    cleanups.push(() => filler.destroy());
    await new Promise((resolve) => filler.once('connect', resolve));
    await expect(pool(port, { connectTimeoutMs: 150 }).request({ path: '/' })).rejects.toMatchObject({
      code: 'UPSTREAM_TIMEOUT',
      message: expect.stringMatching(/connecting to 127\.0\.0\.1:\d+ took longer than 150 ms/),
    });
  });

  it('closes the connection of an aborted exchange and stays usable', async () => {
    const server = await httpServer((req, res) => {
      if (req.url === '/slow')
        res.write('start'); // never ends
      else res.end('fast');
    });
    const client = pool(server.port);
    await new Promise<void>((resolve) => {
      const running = client.dispatch(
        { method: 'GET', path: '/slow', headers: [], headersTimeoutMs: 5000, bodyTimeoutMs: 0 },
        {
          onResponseStart() {},
          onResponseData() {
            running.abort();
            resolve();
            return true;
          },
          onResponseEnd() {},
          onResponseError() {
            throw new Error('no error after abort');
          },
        },
      );
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.closed()).toBe(1);
    expect((await client.request({ path: '/' })).body.toString()).toBe('fast');
  });

  it('aborts with the signal, and refuses bodies over the limit', async () => {
    const server = await httpServer((req, res) => {
      if (req.url === '/big') res.end(Buffer.alloc(100_000));
    });
    const client = pool(server.port);
    await expect(client.request({ path: '/hang', signal: AbortSignal.timeout(100) })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    const controller = new AbortController();
    controller.abort();
    await expect(client.request({ path: '/', signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    await expect(client.request({ path: '/big', maxBodyBytes: 1000 })).rejects.toThrow(
      /larger than 1000 bytes/,
    );
    expect((await client.request({ path: '/big', discardBody: true })).body.length).toBe(0);
  });

  it('validates what request() would write, naming the field', () => {
    const client = pool(1);
    expect(() => client.request({ path: 'relative' })).toThrow(expect.objectContaining({ field: 'path' }));
    expect(() => client.request({ path: '/a b' })).toThrow(expect.objectContaining({ field: 'path' }));
    expect(() => client.request({ path: '/', method: 'GET /x' })).toThrow(
      expect.objectContaining({ field: 'method' }),
    );
    expect(() => client.request({ path: '/', headers: { 'x-a': 'v\r\nInjected: 1' } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', field: 'headers.x-a' }),
    );
    expect(() => client.request({ path: '/', headers: { 'Content-Length': '5' } })).toThrow(
      expect.objectContaining({
        field: 'headers.Content-Length',
        message: expect.stringMatching(/set by the client/),
      }),
    );
    expect(() => client.request({ path: '/', headers: { 'bad name': 'v' } })).toThrow(
      expect.objectContaining({ field: 'headers.bad name' }),
    );
    expect(() => new UpstreamPool('127.0.0.1', 1, { connections: 0 })).toThrow(
      expect.objectContaining({ field: 'pool.connections' }),
    );
    expect(() => new UpstreamPool('127.0.0.1', 1, { connections: 2.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', field: 'pool.connections' }),
    );
    expect(() => new UpstreamPool('127.0.0.1', 1, { maxQueuedRequests: -1 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        field: 'pool.maxQueuedRequests',
        message: expect.stringMatching(/whole number from 0 up/),
      }),
    );
    expect(
      new UpstreamPool('127.0.0.1', 1, { connections: Number.POSITIVE_INFINITY }).stats.connections,
    ).toBe(0);
  });
});

describe('UpstreamPool: closing', () => {
  it('lets responses in flight finish, fails queued ones and refuses new ones', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => res.end('late'), 50));
    const client = pool(server.port, { connections: 1 });
    const inFlight = client.request({ path: '/' });
    const queued = client.request({ path: '/' });
    const closed = client.close();
    await expect(queued).rejects.toThrow(/is closed/);
    expect((await inFlight).body.toString()).toBe('late');
    await closed;
    expect(client.stats.connections).toBe(0);
    await expect(client.request({ path: '/' })).rejects.toThrow(/is closed/);
  });

  it('cuts responses in flight on destroy', async () => {
    const server = await httpServer(() => {});
    const client = pool(server.port);
    const pending = client.request({ path: '/' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

/** A loopback port whose listener never accepts (backlog 0), in a separate process. */
async function unacceptingListener(): Promise<number> {
  const child: ChildProcess = spawn('python3', [
    '-c',
    "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)",
  ]);
  cleanups.push(() => child.kill());
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (data) => resolve(Number(String(data).trim())));
  });
}
