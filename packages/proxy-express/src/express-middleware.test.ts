import { createServer, request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { type ContainerManager, pathRouter } from '@dde/core';
import { cleanupsAfterEach, send, toolManager } from '@dde/test-support';
import compression from 'compression';
import cors from 'cors';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';
import morgan from 'morgan';
import { describe, expect, it } from 'vitest';
import { expressProxy } from './express-proxy.ts';

// The proxy inside a real Express app with the middleware such apps mount globally.

const cleanups = cleanupsAfterEach();
const { listening } = cleanups;

/** A ready container whose tool echoes what it received, sets two cookies, and streams events. */
async function readyTool(seen: string[] = []): Promise<ContainerManager> {
  const tool = createServer((req, res) => {
    if (req.url === '/download' || req.url === '/stream') {
      // The same 40 KiB in 20 pieces, with and without a declared length.
      const piece = `${'a row of a large table, '.repeat(85)}\n`;
      if (req.url === '/download') res.setHeader('content-length', Buffer.byteLength(piece) * 20);
      res.setHeader('content-type', 'text/plain');
      let sent = 0;
      const timer = setInterval(() => {
        res.write(piece);
        if (++sent === 20) {
          clearInterval(timer);
          res.end();
        }
      }, 3);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      const timer = setTimeout(() => res.end('data: two\n\n'), 300);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('content-type', 'text/plain');
      res.end(`tool saw ${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
    });
  });
  return toolManager(cleanups, tool, 'express-middleware');
}

describe('expressProxy in an app with common middleware', () => {
  it.each([
    ['express.json()', () => express.json(), 'application/json', '{"a":1}'],
    ['express.urlencoded()', () => express.urlencoded(), 'application/x-www-form-urlencoded', 'a=1'],
    ['express.text()', () => express.text(), 'text/plain', 'hello'],
    ['express.raw()', () => express.raw(), 'application/octet-stream', 'bytes'],
  ])('refuses at once, with the fix, a body %s read before the proxy', async (_title, parser, type, body) => {
    const seen: string[] = [];
    const app = express();
    app.use(parser());
    // A later step that hands on asynchronously (a session store): the body's end is long gone.
    app.use((_req, _res, next) => setTimeout(next, 5));
    app.use(expressProxy({ manager: await readyTool(seen), router: pathRouter() }).middleware);
    const port = await listening(app.listen(0, '127.0.0.1'));
    const headers = { 'content-type': type, accept: 'application/json' };
    for (const sent of [body, [Buffer.from(body.slice(0, 2)), Buffer.from(body.slice(2))]]) {
      const reply = await send(port, { method: 'POST', path: '/docker/tool/p', headers, body: sent });
      expect(reply.status).toBe(500);
      expect(JSON.parse(reply.text)).toMatchObject({ code: 'BODY_ALREADY_READ' });
    }
    // Requests the parser leaves alone still reach the container, their body intact.
    const other = { 'content-type': 'application/x-other' };
    expect(
      (await send(port, { method: 'POST', path: '/docker/tool/q', headers: other, body: 'xyz' })).text,
    ).toBe('tool saw POST /q xyz');
    expect((await send(port, { path: '/docker/tool/g' })).text).toBe('tool saw GET /g ');
    expect(seen.filter((line) => line !== 'GET /')).toEqual(['POST /q', 'GET /g']);
  });

  it('passes server-sent events through compression() as the container sends them', async () => {
    const app = express();
    app.use(compression());
    app.use(expressProxy({ manager: await readyTool(), router: pathRouter() }).middleware);
    const port = await listening(app.listen(0, '127.0.0.1'));
    const first = await new Promise<{ encoding: string | undefined; elapsed: number }>((resolve, reject) => {
      const started = Date.now();
      const req = request(
        { host: '127.0.0.1', port, path: '/docker/tool/events', headers: { 'accept-encoding': 'gzip' } },
        (res) => {
          let received = Buffer.alloc(0);
          res.on('data', (chunk: Buffer) => {
            received = Buffer.concat([received, chunk]);
            // A gzip stream flushed after the first event decodes to it alone.
            try {
              const text = gunzipSync(received, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).toString();
              if (text === 'data: one\n\n') {
                resolve({ encoding: res.headers['content-encoding'], elapsed: Date.now() - started });
                req.destroy();
              }
            } catch {
              // Not a whole block yet.
            }
          });
          res.on('end', () => reject(new Error('the first event came only with the end')));
        },
      );
      req.on('error', () => {});
      req.end();
    });
    expect(first.encoding).toBe('gzip');
    expect(first.elapsed).toBeLessThan(250);
  });

  it('lets compression() keep its blocks for a body of known length, flushing only streams', async () => {
    const app = express();
    app.use(compression());
    app.use(expressProxy({ manager: await readyTool(), router: pathRouter() }).middleware);
    const port = await listening(app.listen(0, '127.0.0.1'));
    const gzipped = (path: string) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path, headers: { 'accept-encoding': 'gzip' } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
    const download = await gzipped('/docker/tool/download');
    const stream = await gzipped('/docker/tool/stream');
    expect(gunzipSync(download).toString()).toBe(gunzipSync(stream).toString());
    // Each flush ends a deflate block: the stream's pieces each cost a few bytes more.
    expect(download.length).toBeLessThan(stream.length);
  });

  it('keeps every cookie and header of helmet, cors, express-session, morgan and compression', async () => {
    const logged: string[] = [];
    const app = express();
    app.use(
      morgan(':method :url :status', { stream: { write: (line: string) => logged.push(line.trim()) } }),
    );
    app.use(helmet());
    app.use(cors());
    app.use(compression({ threshold: 0 }));
    app.use(session({ secret: 'test', resave: false, saveUninitialized: true }));
    app.use(expressProxy({ manager: await readyTool(), router: pathRouter() }).middleware);
    const port = await listening(app.listen(0, '127.0.0.1'));
    const reply = await send(port, { path: '/docker/tool/x', headers: { 'accept-encoding': 'gzip' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(reply.body).toString()).toBe('tool saw GET /x ');
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['x-frame-options']).toBe('SAMEORIGIN');
    const cookies = reply.headers['set-cookie'] ?? [];
    expect(cookies.slice(0, 2)).toEqual(['a=1; Path=/docker/tool', 'b=2; Path=/docker/tool']);
    expect(cookies[2]).toMatch(/^connect\.sid=/);
    const head = await send(port, { method: 'HEAD', path: '/docker/tool/x' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(logged).toEqual(['GET /docker/tool/x 200', 'HEAD /docker/tool/x 200']);
  });
});
