import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect as connectTcp, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Upstream } from '../backend.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import { ContainerManager, type ContainerManagerOptions } from '../manager/container-manager.ts';
import { hostnameRouter } from '../routing/hostname-router.ts';
import { pathRouter } from '../routing/path-router.ts';
import type { Router } from '../routing/router.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import { createProxy } from './create-proxy.ts';
import type { ProxyOptions } from './proxy-options.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** Sends `request` on a raw connection; resolves with everything received until the proxy closes it. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received += data;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(request, 'latin1');
  });
}

/** A local HTTP server standing in for a container's tool. */
async function tool(
  handler: Handler,
): Promise<{ upstream: Upstream; server: Server; connections: () => number }> {
  let connections = 0;
  const server = createServer(handler);
  server.on('connection', () => connections++);
  const port = await listen(server);
  return { upstream: { host: '127.0.0.1', port }, server, connections: () => connections };
}

/** Echoes what the tool saw: method, url, headers and body digest. */
const echo: Handler = (req, res) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        length,
        sha256: hash.digest('hex'),
      }),
    );
  });
};

interface Setup {
  backend: MemoryBackend;
  manager: ContainerManager;
  history: MemoryHistory;
  port: number;
  /** Adds a running container whose tool is `handler`, and waits until it is ready. */
  addTool(
    name: string,
    handler: Handler,
    owner?: string,
  ): Promise<{ upstream: Upstream; connections: () => number }>;
}

async function setup(
  options: Partial<ProxyOptions> = {},
  router: Router = pathRouter(),
  managerOptions: Partial<ContainerManagerOptions> & { history?: MemoryHistory } = {},
): Promise<Setup> {
  const backend = new MemoryBackend({ namespace: 'proxy-unit' });
  const history = managerOptions.history ?? new MemoryHistory();
  const manager = new ContainerManager({
    backend,
    reconcileIntervalMs: 0,
    negativeCacheMs: 0,
    ...managerOptions,
    history,
  });
  cleanups.push(() => manager.close());
  await manager.start();
  const proxy = createProxy({ manager, router, ...options });
  cleanups.push(() => proxy.close());
  const server = createServer((req, res) =>
    proxy.handleRequest(req, res, () => {
      res.setHeader('x-app', 'parent');
      res.end('parent app');
    }),
  );
  server.on('upgrade', (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const port = await listen(server);
  return {
    backend,
    manager,
    history,
    port,
    async addTool(name, handler, owner) {
      const started = await tool(handler);
      backend.setUpstream(name, started.upstream);
      backend.add({ name, owner });
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(3000) });
      return started;
    },
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

function send(
  port: number,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string | Buffer[];
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (Array.isArray(options.body)) {
      // Written piecewise without a length: sent chunked.
      for (const part of options.body) req.write(part);
      req.end();
    } else {
      if (options.body !== undefined) req.setHeader('content-length', Buffer.byteLength(options.body));
      req.end(options.body);
    }
  });
}

const html = { accept: 'text/html,application/xhtml+xml' };
const json = { accept: 'application/json' };

describe('createProxy: forwarding', () => {
  it('forwards to the container with the prefix stripped and the query intact', async () => {
    const { port, addTool } = await setup();
    await addTool('alice', echo);
    const reply = await send(port, { path: '/docker/alice/api/items?x=1&y=%20z' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ method: 'GET', url: '/api/items?x=1&y=%20z' });
  });

  it('passes requests the router does not match to next(), and answers 404 without next', async () => {
    const { port, manager } = await setup();
    const reply = await send(port, { path: '/elsewhere' });
    expect(reply.text).toBe('parent app');
    expect(reply.headers['x-app']).toBe('parent');

    const bare = createProxy({ manager, router: pathRouter() });
    const server = createServer((req, res) => bare.handleRequest(req, res));
    const barePort = await listen(server);
    expect((await send(barePort, { path: '/elsewhere' })).status).toBe(404);
  });

  it('uses the url argument instead of req.url (frameworks that rewrite req.url)', async () => {
    const { manager, backend } = await setup();
    const started = await tool(echo);
    backend.setUpstream('mounted', started.upstream);
    backend.add({ name: 'mounted' });
    await manager.waitUntilReady('mounted');
    const proxy = createProxy({ manager, router: pathRouter() });
    const server = createServer((req, res) => {
      const original = req.url ?? '/';
      req.url = original.replace(/^\/docker/, '');
      proxy.handleRequest(req, res, undefined, original);
    });
    const port = await listen(server);
    expect(JSON.parse((await send(port, { path: '/docker/mounted/x?y' })).text).url).toBe('/x?y');
  });

  it('removes hop-by-hop request headers and sets the forwarding headers', async () => {
    const { port, addTool } = await setup();
    await addTool('headers', echo);
    const reply = await send(port, {
      path: '/docker/headers/',
      headers: {
        host: 'public.example:8000',
        connection: 'keep-alive, X-Hop-Custom',
        'x-hop-custom': 'secret',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic xyz',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'spoofed.example',
        forwarded: 'for=203.0.113.7;host=evil.example;proto=https',
        'x-forwarded-port': '443',
        'x-real-ip': '203.0.113.7',
        x_forwarded_prefix: '/evil',
        cookie: 'session=parent; theme=dark',
        'x-custom': 'kept',
      },
    });
    const seen = JSON.parse(reply.text).headers as Record<string, string>;
    for (const name of ['x-hop-custom', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te']) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen.connection).toBe('keep-alive'); // undici's own, to the tool
    expect(seen['x-custom']).toBe('kept');
    expect(seen.cookie).toBe('session=parent; theme=dark');
    expect(seen.host).toBe('public.example:8000');
    // Not trusted by default: the proxy's own view replaces what the client claims.
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('public.example:8000');
    expect(seen['x-forwarded-prefix']).toBe('/docker/headers');
    expect(seen.forwarded).toBe('for=127.0.0.1;host="public.example:8000";proto=http');
    for (const name of ['x-forwarded-port', 'x-real-ip', 'x_forwarded_prefix']) {
      expect(seen[name], name).toBeUndefined();
    }
  });

  it('keeps and appends to the forwarding headers of a trusted proxy in front', async () => {
    const { port, addTool } = await setup({ trustForwarded: true });
    await addTool('trusted', echo);
    const seen = JSON.parse(
      (
        await send(port, {
          path: '/docker/trusted/',
          headers: {
            'x-forwarded-proto': 'https',
            'x-forwarded-host': 'outer.example',
            'x-forwarded-for': '203.0.113.7',
            forwarded: 'for=203.0.113.7',
            'x-real-ip': '203.0.113.7',
          },
        })
      ).text,
    ).headers;
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('outer.example');
    expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen.forwarded).toMatch(/^for=203\.0\.113\.7, for=127\.0\.0\.1;/);
    expect(seen['x-real-ip']).toBe('203.0.113.7');
  });

  it.each([
    ['upstream', (upstream: Upstream) => `127.0.0.1:${upstream.port}`],
    ['tool.internal', () => 'tool.internal'],
  ])('sets the Host the container sees: %s', async (mode, expected) => {
    const { port, addTool } = await setup({ upstreamHost: mode });
    const { upstream } = await addTool('host-mode', echo);
    const seen = JSON.parse(
      (await send(port, { path: '/docker/host-mode/', headers: { host: 'public.example' } })).text,
    );
    expect(seen.headers.host).toBe(expected(upstream));
  });

  it('removes hop-by-hop response headers and keeps every Set-Cookie', async () => {
    const { port, addTool } = await setup({ rewriteCookiePath: false });
    await addTool('response', (_req, res) => {
      res.writeHead(
        200,
        [
          ['connection', 'keep-alive, x-hop'],
          ['x-hop', '1'],
          ['keep-alive', 'timeout=9'],
          ['proxy-authenticate', 'Basic'],
          ['set-cookie', 'a=1; Path=/'],
          ['set-cookie', 'b=2; Path=/x'],
          ['x-tool', 'yes'],
        ].flat(),
      );
      res.end('body');
    });
    const reply = await send(port, { path: '/docker/response/' });
    expect(reply.headers['x-hop']).toBeUndefined();
    expect(reply.headers['proxy-authenticate']).toBeUndefined();
    expect(reply.headers['keep-alive']).toBeUndefined();
    expect(reply.headers['x-tool']).toBe('yes');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/x']);
    expect(reply.text).toBe('body');
  });

  it('rewrites Location and Set-Cookie paths under the prefix', async () => {
    const { port, addTool } = await setup();
    let location = '';
    const { upstream } = await addTool('rewrite', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(
        302,
        [
          ['location', location],
          ['set-cookie', 'sid=1; Path=/; HttpOnly'],
          ['set-cookie', 'pref=2; path=/app'],
          ['set-cookie', 'raw=3'],
        ].flat(),
      );
      res.end();
    });
    const cases: [string, string][] = [
      ['/login?next=/x', '/docker/rewrite/login?next=/x'],
      ['/docker/rewrite/already', '/docker/rewrite/already'],
      [`http://127.0.0.1:${upstream.port}/abs`, '/docker/rewrite/abs'],
      ['http://public.example:8000/home', '/docker/rewrite/home'],
      ['http://public.example:8000', '/docker/rewrite/'],
      ['https://elsewhere.example/x', 'https://elsewhere.example/x'],
      ['relative/path', 'relative/path'],
      ['//elsewhere.example/x', '//elsewhere.example/x'],
    ];
    for (const [from, to] of cases) {
      location = from;
      const reply = await send(port, {
        path: '/docker/rewrite/go',
        headers: { host: 'public.example:8000' },
      });
      expect(reply.headers.location, from).toBe(to);
      expect(reply.headers['set-cookie']).toEqual([
        'sid=1; Path=/docker/rewrite; HttpOnly',
        'pref=2; path=/docker/rewrite/app',
        'raw=3',
      ]);
    }
  });

  it('leaves Location alone when rewriting is off, and under the hostname router', async () => {
    const { port, addTool } = await setup({ rewriteLocation: false });
    await addTool('plain', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(302, { location: '/login' });
      res.end();
    });
    expect((await send(port, { path: '/docker/plain/go' })).headers.location).toBe('/login');

    const byHost = await setup({}, hostnameRouter({ suffix: 'docker.localhost' }));
    await byHost.addTool('hosted', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(
        302,
        [
          ['location', '/login'],
          ['set-cookie', 'a=1; Path=/'],
        ].flat(),
      );
      res.end();
    });
    const reply = await send(byHost.port, { path: '/go', headers: { host: 'hosted.docker.localhost:1234' } });
    expect(reply.headers.location).toBe('/login');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/']);
  });

  it('routes by hostname with the path unchanged, passing other hosts through', async () => {
    const { port, addTool } = await setup({}, hostnameRouter({ suffix: 'docker.localhost' }));
    await addTool('viewer', echo);
    const seen = JSON.parse(
      (await send(port, { path: '/api?q=1', headers: { host: 'viewer.docker.localhost:8000' } })).text,
    );
    expect(seen.url).toBe('/api?q=1');
    expect(seen.headers['x-forwarded-prefix']).toBeUndefined();
    expect((await send(port, { path: '/api', headers: { host: 'example.org' } })).text).toBe('parent app');
    expect((await send(port, { path: '/', headers: { host: 'a..docker.localhost' } })).status).toBe(400);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('forwards %s with its body', async (method) => {
    const { port, addTool } = await setup();
    await addTool('methods', echo);
    const body = Buffer.from(`payload for ${method}`);
    const reply = await send(port, {
      method,
      path: '/docker/methods/m',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(JSON.parse(reply.text)).toMatchObject({
      method,
      url: '/m',
      length: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('frames the response as the container did, whatever length the application set meanwhile', async () => {
    const { manager, addTool } = await setup();
    const body = 'x'.repeat(1000);
    await addTool('framed', (req, res) => {
      // Answered later than the application's own code runs: chunked, or with its length.
      setTimeout(() => {
        if (req.url === '/length') res.end(body);
        else {
          res.write(body);
          res.end();
        }
      }, 5);
    });
    const proxy = createProxy({ manager, router: pathRouter() });
    const port = await listen(
      createServer((req, res) => {
        proxy.handleRequest(req, res);
        // What a Koa 404 fallback does after `await next()` (`ctx.body = 'Not found'`).
        res.setHeader('content-type', 'text/plain');
        res.setHeader('content-length', '9');
      }),
    );
    for (const path of ['/docker/framed/chunked', '/docker/framed/length']) {
      const reply = await send(port, { path });
      expect(reply.text).toBe(body);
      expect(reply.headers['content-length']).toBe(path.endsWith('length') ? '1000' : undefined);
    }
  });

  it("sends the application's cookies and Vary alongside the container's, not instead", async () => {
    const { manager, addTool } = await setup();
    await addTool('cookies', (_req, res) => {
      res.setHeader('set-cookie', ['t1=1; Path=/', 't2=2; Path=/']);
      res.setHeader('vary', 'Accept-Language');
      res.setHeader('x-frame-options', 'DENY');
      res.end('tool');
    });
    const proxy = createProxy({ manager, router: pathRouter() });
    const port = await listen(
      createServer((req, res) => {
        res.setHeader('set-cookie', 'session=s; Path=/; HttpOnly');
        res.setHeader('vary', 'Origin');
        res.setHeader('x-frame-options', 'SAMEORIGIN');
        proxy.handleRequest(req, res);
      }),
    );
    const reply = await send(port, { path: '/docker/cookies/' });
    expect(reply.headers['set-cookie']).toEqual([
      't1=1; Path=/docker/cookies',
      't2=2; Path=/docker/cookies',
      'session=s; Path=/; HttpOnly',
    ]);
    expect(reply.headers.vary).toBe('Accept-Language, Origin');
    // Other headers of the same name: the container's.
    expect(reply.headers['x-frame-options']).toBe('DENY');
  });

  it('cuts the client without asking the container when the app already started a response', async () => {
    const { manager, addTool } = await setup();
    const seen: string[] = [];
    await addTool('late', (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('tool');
    });
    const proxy = createProxy({ manager, router: pathRouter() });
    const port = await listen(
      createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('app started');
        proxy.handleRequest(req, res);
      }),
    );
    await expect(send(port, { method: 'POST', path: '/docker/late/p', body: 'x' })).rejects.toThrow();
    expect(seen.filter((line) => line !== 'GET /')).toEqual([]);
  });

  it('answers HEAD with the headers only', async () => {
    const { port, addTool } = await setup();
    await addTool('head', (req, res) => {
      if (req.method === 'GET') return res.end('ready');
      res.setHeader('content-length', '5');
      res.end('hello');
    });
    const reply = await send(port, { method: 'HEAD', path: '/docker/head/' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-length']).toBe('5');
    expect(reply.body.length).toBe(0);
  });

  it('streams large chunked uploads and downloads without buffering them', async () => {
    const { port, addTool } = await setup();
    const size = 10 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 7);
    await addTool('big', (req, res) => {
      if (req.method === 'POST') return echo(req, res);
      res.setHeader('content-type', 'application/octet-stream');
      let sent = 0;
      const write = (): void => {
        while (sent < size) {
          sent += block.length;
          if (!res.write(block)) {
            res.once('drain', write);
            return;
          }
        }
        res.end();
      };
      write();
    });
    const parts = Array.from({ length: 80 }, (_, index) => Buffer.alloc(64 * 1024, index));
    const upload = await send(port, { method: 'POST', path: '/docker/big/upload', body: parts });
    const expected = createHash('sha256');
    for (const part of parts) expected.update(part);
    expect(JSON.parse(upload.text)).toMatchObject({ length: 80 * 64 * 1024, sha256: expected.digest('hex') });

    const download = await send(port, { path: '/docker/big/file' });
    expect(download.headers['transfer-encoding']).toBe('chunked');
    expect(download.body.length).toBe(size);
  });

  it('delivers server-sent events as they come', async () => {
    const { port, addTool } = await setup();
    let finish: (() => void) | undefined;
    await addTool('sse', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finish = () => res.end('data: last\n\n');
    });
    const first = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/docker/sse/events', agent: false },
        (res) => {
          res.once('data', (chunk: Buffer) => {
            resolve(chunk.toString());
            finish?.();
            res.resume();
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(first).toBe('data: first\n\n');
  });

  it('counts a streaming response in flight: neither culled as idle nor evicted until it ends', async () => {
    const { port, backend, manager } = await setup();
    let finish: (() => void) | undefined;
    const started = await tool((req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finish = () => res.end('data: last\n\n');
    });
    backend.setUpstream('streaming', started.upstream);
    backend.add({ name: 'streaming', memoryReservationMb: 64 });
    await manager.waitUntilReady('streaming', { signal: AbortSignal.timeout(3000) });
    expect(manager.capacity().evictionOrder).toEqual(['streaming']);
    const ended = new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/docker/streaming/events', agent: false },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    while (finish === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(manager.get('streaming')?.inFlightRequests).toBe(1);
    // Idle for longer than 1 ms by its records (none yet), yet streaming: not idle.
    expect(await manager.purgeInactive(1)).toEqual([]);
    expect(manager.capacity().evictionOrder).not.toContain('streaming');
    finish();
    await ended;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(manager.get('streaming')?.inFlightRequests).toBe(0);
    expect(await manager.purgeInactive(1)).toEqual(['streaming']);
  });

  it("keeps upstream connections alive even when clients send 'Connection: close'", async () => {
    const { port, addTool } = await setup();
    const { connections } = await addTool('keepalive', (_req, res) => res.end('ok'));
    const before = connections();
    for (let index = 0; index < 20; index++) {
      const reply = await send(port, { path: '/docker/keepalive/', headers: { connection: 'close' } });
      expect(reply.status).toBe(200);
      expect(reply.headers.connection).toBe('close');
    }
    expect(connections() - before).toBeLessThanOrEqual(1);
  });

  it('records each request in the history, with the user when known', async () => {
    const { port, addTool, history } = await setup({
      userOf: (req) => req.headers['x-user'] as string | undefined,
    });
    await addTool('recorded', echo);
    await send(port, {
      method: 'POST',
      path: '/docker/recorded/p?secret=1',
      body: 'abc',
      headers: { 'x-user': 'alice' },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const records = await history.query('recorded');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      type: 'http',
      method: 'POST',
      path: '/p',
      status: 200,
      bytesIn: 3,
      user: 'alice',
    });
    expect(records[0]?.type === 'http' && records[0].bytesOut > 0).toBe(true);
    expect(history.lastActivity('recorded')).toBeDefined();
  });
});

describe('createProxy: the hot path', () => {
  it('makes no backend call for 200 requests to a ready container', async () => {
    const { port, addTool, backend } = await setup();
    await addTool('hot', (_req, res) => res.end('ok'));
    backend.resetCalls();
    const replies = await Promise.all(
      Array.from({ length: 200 }, () => send(port, { path: '/docker/hot/x' })),
    );
    expect(replies.every((reply) => reply.status === 200 && reply.text === 'ok')).toBe(true);
    expect(backend.calls).toEqual({
      launch: 0,
      inspect: 0,
      list: 0,
      remove: 0,
      logs: 0,
      events: 0,
      close: 0,
    });
  });

  it('looks an unknown name up once for concurrent requests, then serves from the table', async () => {
    const { port, backend } = await setup();
    const started = await tool((_req, res) => res.end('found'));
    backend.setUpstream('late', started.upstream);
    backend.add({ name: 'late' }, { silent: true });
    backend.setInspectDelay(20);
    backend.resetCalls();
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => send(port, { path: '/docker/late/', headers: json })),
    );
    expect(backend.calls.inspect).toBe(1);
    // Found running but not yet probed: please wait.
    expect(replies.every((reply) => reply.status === 503 || reply.status === 200)).toBe(true);
  });
  it('answers 429 with Retry-After while the lookups of unknown names are all taken', async () => {
    const { port, backend } = await setup({}, pathRouter(), { maxConcurrentLookups: 1 });
    backend.setInspectDelay(50);
    const [first, second] = await Promise.all([
      send(port, { path: '/docker/made-up-1/', headers: json }),
      send(port, { path: '/docker/made-up-2/', headers: json }),
    ]);
    expect(first.status).toBe(404);
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBeDefined();
    expect(JSON.parse(second.text)).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(backend.calls.inspect).toBe(1);
  });
});

describe('createProxy: errors', () => {
  it('keeps a body framed however the client lists its headers in Connection (no smuggling)', async () => {
    const { port, addTool } = await setup({}, pathRouter(), { pool: { connections: 1 } });
    const seen: string[] = [];
    await addTool('framed', (req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        if (req.url !== '/') seen.push(`${req.method} ${req.url} ${JSON.stringify(body)}`);
        res.end(`response for ${req.url}`);
      });
    });
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: a\r\nX-Ignore: ';
    await rawExchange(
      port,
      `POST /docker/framed/innocent HTTP/1.1\r\nHost: a\r\nContent-Length: ${smuggled.length}\r\nConnection: content-length, close\r\n\r\n${smuggled}`,
    );
    const next = await send(port, { path: '/docker/framed/next' });
    expect(next.text).toBe('response for /next');
    expect(seen).toEqual([`POST /innocent ${JSON.stringify(smuggled)}`, 'GET /next ""']);
  });

  it('carries transfer codings other than chunked over, both ways', async () => {
    const { port, addTool } = await setup();
    let received: string | undefined;
    await addTool('coded', (req, res) => {
      received = req.headers['transfer-encoding'];
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'transfer-encoding': 'gzip, chunked' });
        res.end('compressed bytes');
      });
    });
    const answer = await rawExchange(
      port,
      'POST /docker/coded/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(received).toBe('gzip, chunked');
    expect(answer).toMatch(/\r\ntransfer-encoding: gzip, chunked\r\n/i);
  });

  it('cuts the client when a body delimited by the close ends in a reset', async () => {
    const { port, backend, manager } = await setup();
    const server = createServer((req, res) => {
      if (req.url === '/') {
        res.end('ready');
        return;
      }
      const socket = res.socket as Socket;
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one ');
      setTimeout(() => socket.resetAndDestroy(), 30);
    });
    backend.setUpstream('resets', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'resets' });
    await manager.waitUntilReady('resets');
    const answer = await rawExchange(
      port,
      'GET /docker/resets/cut HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toContain('part one ');
    expect(answer.endsWith('0\r\n\r\n')).toBe(false); // no end of body: the client sees it cut
  });

  it('times out a container that stops reading the request body', async () => {
    const { port, backend, manager } = await setup({ upstreamTimeoutMs: 300 });
    // Reads the head, then never reads the body nor answers.
    const server = createServer((req, res) => {
      if (req.url === '/') res.end('ready');
      else req.pause();
    });
    backend.setUpstream('deaf', { host: '127.0.0.1', port: await listen(server) });
    backend.add({ name: 'deaf' });
    await manager.waitUntilReady('deaf');
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        { port, method: 'POST', path: '/docker/deaf/upload', host: '127.0.0.1' },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024);
      const pump = (): void => {
        while (request.write(chunk)) {}
        request.once('drain', pump);
      };
      pump();
    });
    expect(status).toBe(504);
  });

  it('times the answer from the end of the upload, not its start', async () => {
    const { port, addTool } = await setup({ upstreamTimeoutMs: 300 });
    await addTool('slow-upload', (req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => res.end(`got ${bytes}`));
    });
    const answer = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(
        { port, method: 'POST', path: '/docker/slow-upload/', host: '127.0.0.1' },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        },
      );
      request.on('error', reject);
      let sent = 0;
      const tick = setInterval(() => {
        request.write('0123456789');
        if (++sent === 8) {
          clearInterval(tick);
          request.end();
        }
      }, 100);
    });
    expect(answer).toBe('200 got 80');
  });

  it('answers 502 with a clear body when the container refuses the connection', async () => {
    const { port, backend, manager } = await setup();
    const started = await tool((_req, res) => res.end('ok'));
    backend.setUpstream('refuses', started.upstream);
    backend.add({ name: 'refuses' });
    await manager.waitUntilReady('refuses');
    started.server.closeAllConnections();
    await new Promise<void>((resolve) => started.server.close(() => resolve()));
    const reply = await send(port, { path: '/docker/refuses/' });
    expect(reply.status).toBe(502);
    expect(reply.text).toMatch(
      /Bad gateway: the tool in container refuses refused or dropped the connection/,
    );
    const asJson = await send(port, { path: '/docker/refuses/', headers: json });
    expect(JSON.parse(asJson.text)).toMatchObject({ status: 'error', code: 'UPSTREAM_UNAVAILABLE' });
    // A request with a body gets its 502 too.
    expect(
      (await send(port, { method: 'POST', path: '/docker/refuses/', body: 'x'.repeat(10_000) })).status,
    ).toBe(502);
  });

  it('answers 504 when the container does not answer in time', async () => {
    const { port, addTool, history } = await setup({ upstreamTimeoutMs: 150 });
    await addTool('slow', (req, res) => {
      if (req.url === '/') res.end('ready');
      // Otherwise never answers.
    });
    const reply = await send(port, { path: '/docker/slow/hang' });
    expect(reply.status).toBe(504);
    expect(reply.text).toMatch(/Gateway timeout/);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await history.query('slow')).at(-1)).toMatchObject({ status: 504 });
  });

  it('cuts the client connection when the container dies mid-response', async () => {
    const { port, addTool } = await setup();
    await addTool('dies', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/docker/dies/x', agent: false }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve('ended'));
        res.on('error', () => resolve('aborted'));
        res.on('aborted', () => resolve('aborted'));
      });
      req.on('error', () => resolve('aborted'));
      req.end();
    });
    expect(outcome).toBe('aborted');
    expect((await send(port, { path: '/docker/dies/' })).status).toBe(200);
  });

  it('forwards pipelined requests one at a time, in order, over one connection to the container', async () => {
    const { port, addTool } = await setup();
    let inFlight = 0;
    let mostInFlight = 0;
    const started = await addTool('piped', (req, res) => {
      if (req.url === '/') return res.end('ready');
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(`answer ${req.url}`);
      }, 2);
    });
    const dialled = started.connections();
    // One write of many small requests: forwarded all at once, it would open one connection to
    // the container per request (thousands, from a single client connection).
    const requests = Array.from({ length: 20 }, (_, n) => `GET /docker/piped/${n} HTTP/1.1\r\nHost: a\r\n`);
    const answer = await rawExchange(port, `${requests.join('\r\n')}Connection: close\r\n\r\n`);
    const bodies = answer.match(/answer \/\d+/g);
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, n) => `answer /${n}`));
    expect(mostInFlight).toBe(1);
    expect(started.connections() - dialled).toBeLessThanOrEqual(1);
  });

  it('answers 500 when a hook throws where no framework catches it: a pipelined turn, a lookup', async () => {
    const { port, addTool, backend } = await setup({
      userOf: (req) => {
        if (req.url?.includes('boom')) throw new Error('userOf failed');
        return undefined;
      },
      pleaseWait: {
        title: (name) => {
          if (name === 'late') throw new Error('title failed');
          return name;
        },
      },
    });
    await addTool('piped', (_req, res) => res.end('fine'));
    const answer = await rawExchange(
      port,
      'GET /docker/piped/a HTTP/1.1\r\nHost: a\r\n\r\nGET /docker/piped/boom HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(
      /^HTTP\/1\.1 200 OK[\s\S]*fine[\s\S]*HTTP\/1\.1 500 Internal Server Error[\s\S]*The proxy failed to handle this request/,
    );
    // A name found by a lookup is served after the request's own call has returned.
    const started = await tool((_req, res) => res.end('late'));
    backend.setUpstream('late', started.upstream);
    backend.add({ name: 'late' }, { silent: true });
    // Found starting: its please-wait page's title throws.
    const reply = await send(port, { path: '/docker/late/', headers: html });
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/The proxy failed to handle this request/);
  });

  it('cuts the connection of a pipelined response that dies mid-way, after the ones before it', async () => {
    const { port, addTool } = await setup();
    await addTool('piped', (req, res) => {
      if (req.url === '/') return res.end('ready');
      if (req.url === '/second') {
        // A head and a piece of the body, then the tool dies.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      setTimeout(() => res.end('first'), 20);
    });
    const answer = await rawExchange(
      port,
      'GET /docker/piped/first HTTP/1.1\r\nHost: a\r\n\r\nGET /docker/piped/second HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    // The first answer whole, then the second's broken start, then the connection closes.
    expect(answer).toMatch(
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nfirstHTTP\/1\.1 200 OK\r\n[\s\S]*partial[\s\S]*$/,
    );
  });

  it('survives a client leaving mid-stream, and stops the upstream request', async () => {
    const { port, addTool, history, manager } = await setup();
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    await addTool('stream', (req, res) => {
      if (req.url === '/') return res.end('ready');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed();
      });
    });
    await new Promise<void>((resolve) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/docker/stream/forever', agent: false },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => {});
      req.end();
    });
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await history.query('stream')).at(-1)).toMatchObject({ path: '/forever', status: 499 });
    expect(manager.get('stream')?.inFlightRequests).toBe(0);
    expect((await send(port, { path: '/docker/stream/' })).text).toBe('ready');
  });

  it('survives a client aborting an upload', async () => {
    const { port, addTool } = await setup();
    await addTool('upload', echo);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/docker/upload/',
        agent: false,
        headers: { 'content-length': '1000000' },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 20);
    });
    expect((await send(port, { path: '/docker/upload/' })).status).toBe(200);
  });

  it.each([
    ['read at once', (next: () => void) => next()],
    ['read, then a later step', (next: () => void) => setTimeout(next, 5)],
  ])('refuses fast and clearly a body something before it has %s (a body parser)', async (_title, then) => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_: unknown, message: string) => warnings.push(message) };
    const { manager, addTool } = await setup({}, pathRouter(), { logger });
    const seen: string[] = [];
    await addTool('parsed', (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      echo(req, res);
    });
    const proxy = createProxy({ manager, router: pathRouter() });
    // What express.json() or @koa/bodyparser do: read the whole body, then hand on.
    const port = await listen(
      createServer((req, res) => {
        req.resume();
        req.on('end', () => then(() => proxy.handleRequest(req, res)));
      }),
    );
    for (const body of ['{"a":1}', [Buffer.from('{"a":'), Buffer.from('1}')]]) {
      const reply = await send(port, { method: 'POST', path: '/docker/parsed/p', headers: json, body });
      expect(reply.status).toBe(500);
      expect(JSON.parse(reply.text)).toMatchObject({ code: 'BODY_ALREADY_READ' });
      expect(reply.text).toContain('body parser');
    }
    // Bodiless requests still go through, and the container never saw a head without its body.
    expect((await send(port, { path: '/docker/parsed/g' })).status).toBe(200);
    expect(seen.filter((line) => !line.startsWith('GET '))).toEqual([]);
    expect(seen).toContain('GET /g');
    expect(warnings).toHaveLength(1);
  });

  it('redirects /docker/<name> with 301 for GET and 308 otherwise, keeping the query', async () => {
    const { port } = await setup();
    const get = await send(port, { path: '/docker/alice?x=1' });
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe('/docker/alice/?x=1');
    expect((await send(port, { method: 'POST', path: '/docker/alice' })).status).toBe(308);
  });

  it('refuses requests with more than one Host, HTTP and WebSocket', async () => {
    const { port, addTool } = await setup();
    await addTool('hosted-twice', echo);
    const twice = 'Host: a.example\r\nHost: b.example\r\nConnection: close\r\n';
    expect(await rawExchange(port, `GET /docker/hosted-twice/ HTTP/1.1\r\n${twice}\r\n`)).toMatch(
      /^HTTP\/1\.1 400 [\s\S]*more than one Host/,
    );
    const upgrade = `GET /docker/hosted-twice/ HTTP/1.1\r\n${twice}Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(await rawExchange(port, upgrade.replace('Connection: close', 'Connection: Upgrade'))).toMatch(
      /^HTTP\/1\.1 400 [\s\S]*more than one Host/,
    );
  });

  it('refuses path escapes with 400', async () => {
    const { port, addTool } = await setup();
    await addTool('victim', echo);
    for (const path of ['/docker/victim/..%2Fother/', '/docker/victim/%2e%2e/x', '/docker/victim/a%5Cb']) {
      const reply = await send(port, { path });
      expect(reply.status, path).toBe(400);
      expect(reply.text).toMatch(/Bad request/);
    }
  });

  it('gives the same 404 for absent containers and impossible names', async () => {
    const { port } = await setup();
    const absent = await send(port, { path: '/docker/nobody/' });
    const invalid = await send(port, { path: '/docker/Not_Valid/' });
    expect(absent.status).toBe(404);
    expect(invalid.status).toBe(404);
    expect(invalid.text).toBe(absent.text);
    expect(invalid.headers['content-type']).toBe(absent.headers['content-type']);
  });
});

describe('createProxy: notFound hook', () => {
  it('lets the application answer missing containers with a page, a text or a redirect', async () => {
    const seen: string[] = [];
    const { port, addTool, backend } = await setup({
      notFound: ({ name, path, page }) => {
        seen.push(`${name} ${path} ${page}`);
        if (name === 'gone')
          return page ? { html: '<h1>gone was removed</h1>', status: 410 } : { text: 'gone\n' };
        if (name === 'later')
          return Promise.resolve({ redirect: `/relaunch/${name}?next=${encodeURIComponent(path)}` });
        return undefined;
      },
    });
    await addTool('alive', echo);
    const page = await send(port, { path: '/docker/gone/a?b=1', headers: html });
    expect(page.status).toBe(410);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toBe('<h1>gone was removed</h1>');
    const api = await send(port, { path: '/docker/gone/a', headers: json });
    expect([api.status, api.text]).toEqual([404, 'gone\n']);
    const moved = await send(port, { method: 'POST', path: '/docker/later/x/y', body: 'z' });
    expect(moved.status).toBe(303);
    expect(moved.headers.location).toBe('/relaunch/later?next=%2Fx%2Fy');
    const other = await send(port, { path: '/docker/nobody/', headers: json });
    expect(other.status).toBe(404);
    expect(JSON.parse(other.text)).toMatchObject({ code: 'NOT_FOUND' });
    expect(seen).toEqual(['gone /a?b=1 true', 'gone /a false', 'later /x/y false', 'nobody / false']);
    // Known containers never reach the hook (nor the engine).
    backend.resetCalls();
    expect((await send(port, { path: '/docker/alive/' })).status).toBe(200);
    expect(seen).toHaveLength(4);
    expect(backend.totalCalls).toBe(0);
  });

  it('answers a plain 404 when the hook throws, rejects or answers nonsense; refuses a non-function', async () => {
    for (const notFound of [
      () => {
        throw new Error('boom');
      },
      () => Promise.reject(new Error('boom')),
      () => ({ status: 99, text: 'x' }),
      () => ({ nothing: true }) as never,
    ]) {
      const { port } = await setup({ notFound });
      const reply = await send(port, { path: '/docker/nobody/', headers: json });
      expect(reply.status).toBe(404);
      expect(JSON.parse(reply.text)).toMatchObject({ code: 'NOT_FOUND' });
    }
    const { manager } = await setup();
    expect(() => createProxy({ manager, router: pathRouter(), notFound: 'page' as never })).toThrow(
      /notFound/,
    );
  });

  it('gives denied requests the same answer with denyStatus 404, and WebSocket upgrades a plain 404', async () => {
    const { port, addTool } = await setup({
      authorize: () => false,
      denyStatus: 404,
      notFound: ({ name }) => ({ html: `<p>no ${name}</p>` }),
    });
    await addTool('hidden', echo);
    const denied = await send(port, { path: '/docker/hidden/', headers: html });
    expect([denied.status, denied.text]).toEqual([404, '<p>no hidden</p>']);
    const upgrade = await rawExchange(
      port,
      'GET /docker/nobody/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 404 /);
  });
});

describe('createProxy: starting and failed containers', () => {
  it('shows the please-wait page to browsers, with Retry-After and a polling script', async () => {
    const { port, backend } = await setup({
      pleaseWait: {
        title: 'Warming up <tool>',
        body: '<p id="custom">Custom body</p>',
        retryAfterSeconds: 7,
      },
    });
    backend.add({ name: 'starting', state: 'created' });
    const reply = await send(port, { path: '/docker/starting/', headers: html });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('7');
    expect(reply.headers['content-type']).toMatch(/text\/html/);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.text).toContain('<title>Warming up &#60;tool&#62;</title>');
    expect(reply.text).toContain('<p id="custom">Custom body</p>');
    expect(reply.text).toContain('"/docker/starting/.dde/ready"');
    // A spinner and the time since the container was created, counted on by the script.
    expect(reply.text).toContain('<span class="spinner" aria-hidden="true"></span>');
    expect(reply.text).toMatch(/waiting <span id="dde-elapsed">\d+ s<\/span>/);
  });

  it('says where a launch waiting for a start slot is in line, on the page and in JSON', async () => {
    const { port, backend, manager } = await setup({}, pathRouter(), { limits: { maxConcurrentStarts: 1 } });
    backend.setUpstream('holds', { host: '127.0.0.1', port: 1 }); // never ready: holds the slot
    await manager.launch({ name: 'holds', image: 'tool:1', readiness: { timeoutMs: 60_000 } });
    const queued = manager.launch({ name: 'queued', image: 'tool:1' });
    queued.catch(() => {});
    while (manager.get('queued')?.phase !== 'queued') await new Promise((resolve) => setTimeout(resolve, 5));
    const page = await send(port, { path: '/docker/queued/', headers: html });
    expect(page.status).toBe(503);
    expect(page.text).toContain('<span id="dde-phase">queued (number 1 in line)</span>');
    const ready = await send(port, { path: '/docker/queued/.dde/ready' });
    expect(JSON.parse(ready.text)).toEqual({
      name: 'queued',
      status: 'starting',
      phase: 'queued',
      queuePosition: 1,
    });
    const api = await send(port, { path: '/docker/queued/api', headers: json });
    expect(JSON.parse(api.text)).toMatchObject({ status: 'starting', phase: 'queued', queuePosition: 1 });
    await manager.remove('holds');
    await queued;
    expect(manager.get('queued')?.queuePosition).toBeUndefined();
  });

  it('answers API clients and non-GET requests with JSON 503', async () => {
    const { port, backend } = await setup();
    backend.add({ name: 'starting', state: 'created' });
    const api = await send(port, { path: '/docker/starting/api', headers: json });
    expect(api.status).toBe(503);
    expect(api.headers['retry-after']).toBe('2');
    expect(JSON.parse(api.text)).toEqual({
      status: 'starting',
      name: 'starting',
      phase: 'starting',
      retryAfter: 2,
    });
    const post = await send(port, { method: 'POST', path: '/docker/starting/api', headers: html, body: 'x' });
    expect(post.status).toBe(503);
    expect(JSON.parse(post.text)).toMatchObject({ status: 'starting' });
  });

  it('serves the readiness endpoint: 503 while starting, 200 once ready, never forwarded', async () => {
    const { port, backend, manager } = await setup();
    const seen: string[] = [];
    const started = await tool((req, res) => {
      seen.push(req.url ?? '');
      res.end('ok');
    });
    backend.add({ name: 'tool', state: 'created' });
    await manager.lookup('tool');
    const starting = await send(port, { path: '/docker/tool/.dde/ready' });
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.text)).toEqual({ name: 'tool', status: 'starting', phase: 'starting' });
    backend.drop('tool');
    while (manager.get('tool') !== undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    backend.setUpstream('tool', started.upstream);
    backend.add({ name: 'tool' });
    await manager.waitUntilReady('tool');
    const ready = await send(port, { path: '/docker/tool/.dde/ready' });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready' });
    expect((await send(port, { path: '/docker/tool/.dde/other' })).status).toBe(404);
    expect(seen.some((path) => path.startsWith('/.dde'))).toBe(false);
  });

  it('shows a failed container’s exit code and last log lines, escaped', async () => {
    const { port, backend, manager } = await setup();
    backend.add({ name: 'crashed' });
    backend.writeLogs('crashed', ['starting up', 'fatal: <script>alert(1)</script> & more']);
    backend.exit('crashed', 3);
    await manager.lookup('crashed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const page = await send(port, { path: '/docker/crashed/', headers: html });
    expect(page.status).toBe(502);
    expect(page.text).toContain('Exit code: <strong>3</strong>');
    expect(page.text).toContain('fatal: &#60;script&#62;alert(1)&#60;/script&#62; &#38; more');
    expect(page.text).not.toContain('<script>alert(1)');
    const api = await send(port, { path: '/docker/crashed/', headers: json });
    expect(JSON.parse(api.text)).toMatchObject({
      status: 'failed',
      phase: 'failed',
      reason: 'exited',
      exitCode: 3,
      logs: ['starting up', 'fatal: <script>alert(1)</script> & more'],
    });
    expect((await send(port, { path: '/docker/crashed/.dde/ready' })).status).toBe(502);
  });
});

describe('createProxy: authorization and logs', () => {
  it('lets the hook decide, from the container’s owner', async () => {
    const contexts: string[] = [];
    const { port, addTool } = await setup({
      authorize: async ({ req, container, name }) => {
        contexts.push(`${name}:${container.owner}`);
        return req.headers['x-user'] === container.owner;
      },
    });
    await addTool('owned', echo, 'alice');
    expect((await send(port, { path: '/docker/owned/', headers: { 'x-user': 'alice' } })).status).toBe(200);
    const denied = await send(port, { path: '/docker/owned/', headers: { 'x-user': 'bob' } });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe('Forbidden\n');
    expect(contexts).toEqual(['owned:alice', 'owned:alice']);
  });

  it('starts a container on demand only for a request the hook allows', async () => {
    const contexts: string[] = [];
    const { port, backend, manager } = await setup(
      {
        authorize: ({ req, container, route }) => {
          contexts.push(`${container.name}:${container.owner}:${route.phase}`);
          return req.headers['x-user'] === container.owner;
        },
        denyStatus: 404,
      },
      pathRouter(),
      {
        onDemand: (name) =>
          name.startsWith('tool-') ? { name, image: 'tool:1', port: 80, owner: 'alice' } : undefined,
        limits: { maxPerOwner: 1 },
      },
    );
    backend.add({ name: 'alice-other', owner: 'alice' });
    await manager.lookup('alice-other');
    backend.resetCalls();
    const denied = await send(port, { path: '/docker/tool-a/', headers: { 'x-user': 'mallory' } });
    const missing = await send(port, { path: '/docker/nothing/', headers: { 'x-user': 'mallory' } });
    // No launch, and no LIMIT_EXCEEDED (429) telling the name is declared: the same 404.
    expect(denied.status).toBe(404);
    expect(denied.text).toBe(missing.text);
    expect(backend.calls.launch).toBe(0);
    expect(manager.get('tool-a')).toBeUndefined();
    expect(contexts).toEqual(['tool-a:alice:creating']);
    contexts.length = 0;
    // The owner may start it (here alice's limit refuses it: so the start was attempted).
    const allowed = await send(port, { path: '/docker/tool-a/', headers: { 'x-user': 'alice', ...json } });
    expect(allowed.status).toBe(429);
    expect(contexts).toEqual(['tool-a:alice:creating']);
  });

  it('can deny with a 404 identical to a missing container', async () => {
    const { port, addTool } = await setup({ authorize: () => false, denyStatus: 404 });
    await addTool('hidden', echo);
    const denied = await send(port, { path: '/docker/hidden/' });
    const missing = await send(port, { path: '/docker/missing/' });
    expect(denied.status).toBe(404);
    expect(denied.text).toBe(missing.text);
    expect(denied.headers['content-type']).toBe(missing.headers['content-type']);
  });

  it('denies with 500 when the hook throws, and hides the state of starting containers', async () => {
    const { port, backend } = await setup({
      authorize: ({ req }) => {
        if (req.headers['x-boom']) throw new Error('boom');
        return false;
      },
    });
    backend.add({ name: 'starting', state: 'created' });
    expect((await send(port, { path: '/docker/starting/', headers: { 'x-boom': '1' } })).status).toBe(500);
    const denied = await send(port, { path: '/docker/starting/.dde/ready' });
    expect(denied.status).toBe(403);
  });

  it('serves the logs view when enabled, behind authorization', async () => {
    const { port, backend, manager } = await setup({
      logsPath: '.dde/logs',
      authorize: ({ req }) => req.headers['x-user'] === 'admin',
    });
    backend.add({ name: 'logged', state: 'created' });
    backend.writeLogs('logged', ['one', 'two', 'three']);
    await manager.lookup('logged');
    const logs = await send(port, {
      path: '/docker/logged/.dde/logs?tail=2',
      headers: { 'x-user': 'admin' },
    });
    expect(logs.status).toBe(200);
    expect(logs.headers['content-type']).toMatch(/text\/plain/);
    expect(logs.headers['x-content-type-options']).toBe('nosniff');
    expect(logs.text).toBe('two\nthree\n');
    expect((await send(port, { path: '/docker/logged/.dde/logs' })).status).toBe(403);

    const off = await setup();
    off.backend.add({ name: 'logged', state: 'created' });
    expect((await send(off.port, { path: '/docker/logged/.dde/logs' })).status).toBe(404);
  });

  it('validates its options', async () => {
    const { manager } = await setup();
    expect(() => createProxy({ manager, router: pathRouter(), logsPath: 'logs' })).toThrow(/logsPath/);
    expect(() => createProxy({ manager, router: pathRouter(), denyStatus: 401 as never })).toThrow(
      /denyStatus/,
    );
    expect(() => createProxy({ manager, router: pathRouter(), upstreamTimeoutMs: 0 })).toThrow(
      /upstreamTimeoutMs/,
    );
    expect(() => createProxy({ manager } as never)).toThrow(/router/);
    // A misspelt option would otherwise be ignored and its default used.
    expect(() => createProxy({ manager, router: pathRouter(), upstreamTimeoutMS: 5 } as never)).toThrow(
      /Invalid option: upstreamTimeoutMS is not a field of the proxy: did you mean upstreamTimeoutMs\?/,
    );
    expect(() =>
      createProxy({ manager, router: pathRouter(), pleaseWait: { retryAfter: 1 } } as never),
    ).toThrow(
      /pleaseWait\.retryAfter is not a field of pleaseWait \(known: title, body, retryAfterSeconds\)/,
    );
    expect(() => pathRouter({ prefixes: '/x' } as never)).toThrow(/prefixes is not a field of pathRouter/);
    expect(() => hostnameRouter({ suffix: 'a.b', host: 'x' } as never)).toThrow(
      /host is not a field of hostnameRouter/,
    );
  });
});

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
