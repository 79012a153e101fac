import { Agent, createServer, type IncomingHttpHeaders, request } from 'node:http';
import { type ContainerManager, pathRouter } from '@dde/core';
import { cleanupsAfterEach, send, toolManager } from '@dde/test-support';
import { bodyParser } from '@koa/bodyparser';
import cors from '@koa/cors';
import Koa from 'koa';
import compress from 'koa-compress';
import session from 'koa-session';
import { describe, expect, it } from 'vitest';
import { koaProxy } from './koa-proxy.ts';

// The proxy inside a real Koa app with the middleware such apps mount around it.

const cleanups = cleanupsAfterEach();
const { listening } = cleanups;

const PAGE = `<p>${'the tool page '.repeat(50)}</p>`;

/**
 * A ready container whose tool answers a little later than the app's own code runs, chunked
 * (no length), with a cookie and a `Vary` of its own; it echoes request bodies.
 */
async function readyTool(seen: string[] = []): Promise<ContainerManager> {
  const tool = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      setTimeout(() => {
        res.setHeader('content-type', 'text/html');
        res.setHeader('set-cookie', 'tool=1; Path=/');
        res.setHeader('vary', 'Accept-Language');
        res.write(chunks.length > 0 ? Buffer.concat(chunks).toString() : PAGE);
        res.end();
      }, 5);
    });
  });
  return toolManager(cleanups, tool, 'koa-middleware');
}

/** GETs on one kept-alive connection: a response framed wrong spills into the next one. */
function getAll(
  port: number,
  paths: string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return Promise.all(
    paths.map(
      (path) =>
        new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
          request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
            res.on('error', reject);
          })
            .on('error', reject)
            .end();
        }),
    ),
  );
}

describe('koaProxy in an app with common middleware', () => {
  it('refuses at once, with the fix, a body @koa/bodyparser read before the proxy', async () => {
    const seen: string[] = [];
    const koa = new Koa();
    koa.use(bodyParser());
    koa.use(koaProxy({ manager: await readyTool(seen), router: pathRouter() }).middleware);
    const port = await listening(koa.listen(0, '127.0.0.1'));
    for (const [type, body] of [
      ['application/json', '{"a":1}'],
      ['application/x-www-form-urlencoded', 'a=1'],
    ] as const) {
      const headers = { 'content-type': type, accept: 'application/json' };
      const reply = await send(port, { method: 'POST', path: '/docker/tool/p', headers, body });
      expect(reply.status).toBe(500);
      expect(JSON.parse(reply.text)).toMatchObject({ code: 'BODY_ALREADY_READ' });
    }
    const other = { 'content-type': 'application/x-other' };
    expect(
      (await send(port, { method: 'POST', path: '/docker/tool/q', headers: other, body: 'xyz' })).text,
    ).toBe('xyz');
    expect(seen.filter((line) => line !== 'GET /')).toEqual(['POST /q']);
  });

  it('survives a 404 fallback, an error handler, a logger, cors, compression and a session around it', async () => {
    const logged: string[] = [];
    const koa = new Koa();
    koa.keys = ['test'];
    // A logger and timer that run after `await next()`.
    koa.use(async (ctx, next) => {
      const start = Date.now();
      await next();
      ctx.set('x-response-time', `${Date.now() - start}ms`);
      logged.push(`${ctx.method} ${ctx.url}`);
    });
    // The usual error handler, with a 404 page for what nothing answered.
    koa.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        ctx.status = 500;
        ctx.body = `app error: ${(error as Error).message}`;
      }
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.body = 'app 404 page';
        ctx.status = 404;
      }
    });
    koa.use(cors());
    koa.use(compress({ threshold: 0 }));
    koa.use(session({ rolling: true }, koa));
    koa.use(async (ctx, next) => {
      // A session that changes on every request: its cookie is set after `await next()`.
      (ctx.session as { views?: number }).views = ((ctx.session as { views?: number }).views ?? 0) + 1;
      await next();
    });
    koa.use(koaProxy({ manager: await readyTool(), router: pathRouter() }).middleware);
    koa.use((ctx) => {
      if (ctx.path === '/hello') ctx.body = 'hello from koa';
      else if (ctx.path === '/boom') throw new Error('boom');
    });
    const port = await listening(koa.listen(0, '127.0.0.1'));

    const proxied = await getAll(port, ['/docker/tool/a', '/docker/tool/b', '/hello', '/boom', '/nothing'], {
      origin: 'http://example.test',
    });
    for (const reply of proxied.slice(0, 2)) {
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(PAGE);
      expect(reply.headers['content-type']).toBe('text/html');
      expect(reply.headers['access-control-allow-origin']).toBe('*');
      const cookies = reply.headers['set-cookie'] ?? [];
      expect(cookies[0]).toBe('tool=1; Path=/docker/tool');
      expect(cookies.some((cookie) => cookie.startsWith('koa.sess='))).toBe(true);
      expect(reply.headers.vary?.split(/\s*,\s*/)).toEqual(
        expect.arrayContaining(['Accept-Language', 'Origin']),
      );
    }
    expect(proxied.slice(2).map(({ status, text }) => [status, text])).toEqual([
      [200, 'hello from koa'],
      [500, 'app error: boom'],
      [404, 'app 404 page'],
    ]);
    expect(logged).toHaveLength(5);
  });
});
