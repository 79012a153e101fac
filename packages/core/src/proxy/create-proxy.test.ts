import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { echo, json, proxyFixtures, send } from '../../test/proxy-fixtures.ts';
import type { Upstream } from '../backend.ts';
import { hostnameRouter } from '../routing/hostname-router.ts';
import { pathRouter } from '../routing/path-router.ts';
import { createProxy } from './create-proxy.ts';

const { listen, tool, setup } = proxyFixtures();

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
