import { createServer, request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { echo, html, json, proxyFixtures, rawExchange, send } from '../../test/proxy-fixtures.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import { pathRouter } from '../routing/path-router.ts';
import { createProxy } from './create-proxy.ts';

const { listen, tool, setup } = proxyFixtures();

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
