import { connect } from 'node:net';
import {
  buildFaultToolImage,
  cleanupNamespace,
  describeWithDocker,
  uniqueNamespace,
} from '@dde/test-support';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, generated, STRICTER, type Verdict, verdict } from './differential.ts';
import { type FaultStack, faultStack, getRequest, headRead, rawExchange, rawPath } from './fault-stack.ts';
import { type Nginx, nginxBinary, startNginx } from './nginx.ts';

// What a misbehaving tool sends, and what abusive clients send, through the proxy to a real
// container: tolerated where nginx tolerates it and nothing can be smuggled, refused with a 502
// at once (never by timeout, even on a connection the tool keeps open) where it is ambiguous.
const namespace = uniqueNamespace('pf');
const image = `dde-pf-framing:${namespace}`;
const name = `${namespace}-tool`;

/** The body of a complete response (framed by `Content-Length` or chunked), or undefined. */
function bodyOf(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = text.slice(0, end);
  const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
  if (length !== undefined) {
    return text.length < end + 4 + Number(length) ? undefined : text.slice(end + 4, end + 4 + Number(length));
  }
  if (!/\r\ntransfer-encoding: [^\r]*chunked/i.test(head)) return undefined;
  let body = '';
  for (let pos = end + 4; ; ) {
    const lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(text.slice(pos, lineEnd), 16);
    if (size === 0) return text.endsWith('\r\n\r\n') ? body : undefined;
    if (text.length < lineEnd + 2 + size + 2) return undefined;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    pos = lineEnd + 2 + size + 2;
  }
}
const complete = (bytes: Buffer): boolean => bodyOf(bytes) !== undefined;

await describeWithDocker('fault suite: framing and abuse', (docker) => {
  let stack: FaultStack;
  let nginx: Nginx | undefined;
  const binary = nginxBinary();

  beforeAll(async () => {
    await buildFaultToolImage(docker, image, namespace);
    stack = await faultStack(namespace, image, { upstreamTimeoutMs: 20_000 });
    await stack.launch(name);
    const upstream = stack.manager.get(name)?.upstream;
    if (binary !== undefined && upstream !== undefined) nginx = await startNginx(binary, upstream);
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await stack?.close();
    await cleanupNamespace(docker, namespace);
  }, 60_000);

  const through = (bytes: string, options: { version?: string; close?: boolean } = {}) =>
    rawExchange(stack.port, getRequest(name, rawPath(bytes, options.close), options.version), {
      timeoutMs: 10_000,
      until: options.version === '1.0' ? undefined : complete,
    });

  describe('responses', () => {
    it.each([
      ['LF-only line ends', 'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello'],
      ['LF-only chunked framing', 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n'],
      ['an LF then CRLF blank line', 'HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\nhello'],
    ])(
      'accepts %s (RFC 9112 §2.2, as nginx and browsers) from a keep-alive tool',
      async (_case, response) => {
        const reply = await through(response);
        expect(reply.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
        expect(bodyOf(reply.bytes)).toBe('hello');
        expect(reply.ms).toBeLessThan(2_000);
      },
    );

    it.each([
      ['a bare CR', 'HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\nhi'],
      ['a NUL in a field', 'HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nhi'],
      ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nhi'],
      [
        'Content-Length with Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
      ],
      ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!'],
      ['an unfinished head with a bare CR', 'HTTP/1.1 200 OK\r\nX: a\rb'],
      ['an unfinished head that is not HTTP', 'ICY 200 OK\r\n'],
    ])(
      'refuses %s with a 502 at once, though the tool keeps the connection open',
      async (_case, response) => {
        const reply = await through(response);
        expect(reply.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502/);
        expect(reply.ms).toBeLessThan(2_000);
      },
    );

    it('cuts the client at once when chunked framing goes bad after the head went out', async () => {
      const reply = await through('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\nzz\r\n');
      expect(reply.closed).toBe(true);
      expect(bodyOf(reply.bytes)).toBeUndefined();
      expect(reply.ms).toBeLessThan(2_000);
    });

    it.each([
      ['identity, chunked', 'identity'],
      ['gzip, chunked', 'gzip'],
    ])(
      'gives an HTTP/1.0 client the body without chunk framing when the tool sends %s',
      async (_case, codings) => {
        const response = `HTTP/1.1 200 OK\r\nTransfer-Encoding: ${codings}, chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`;
        const reply = await through(response, { version: '1.0' });
        const text = reply.bytes.toString('latin1');
        expect(reply.closed).toBe(true);
        const [head, body] = text.split('\r\n\r\n');
        expect(text).toMatch(/^HTTP\/1\.1 200/);
        expect(head).not.toMatch(/transfer-encoding/i);
        expect(body).toBe('hello world');
      },
    );

    it.each([
      [
        'bytes after a Content-Length body',
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil',
      ],
      [
        'a second response after a 204',
        'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil',
      ],
    ])('never hands %s to the next client', async (_case, response) => {
      await rawExchange(stack.port, getRequest(name, rawPath(response)), { until: headRead });
      const next = await rawExchange(stack.port, getRequest(name, '/id/mine'), { until: complete });
      expect(bodyOf(next.bytes)).toBe('mine');
    });
  });

  describe('clients', () => {
    it('reads slow small request bodies before asking the tool: dripping clients hold no tool connection', async () => {
      const clients = 30;
      const sockets = Array.from({ length: clients }, () => connect(stack.port, '127.0.0.1'));
      const replies = sockets.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let text = '';
            socket.on('data', (chunk) => {
              text += chunk.toString('latin1');
              if (complete(Buffer.from(text, 'latin1'))) resolve(text);
            });
            socket.on('error', () => resolve(text));
          }),
      );
      for (const socket of sockets) {
        socket.write(`POST /docker/${name}/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n`);
      }
      let peakWhileDripping = 0;
      for (let byte = 0; byte < 10; byte++) {
        for (const socket of sockets) socket.write('x');
        if (byte === 9) break; // every body is complete: the requests go to the tool now
        const conns = await rawExchange(stack.port, getRequest(name, '/conns'), { until: complete });
        peakWhileDripping = Math.max(peakWhileDripping, JSON.parse(bodyOf(conns.bytes) ?? '{}').open);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const bodies = (await Promise.all(replies)).map((text) => bodyOf(Buffer.from(text, 'latin1')));
      for (const socket of sockets) socket.destroy();
      expect(bodies).toEqual(Array(clients).fill('length=10'));
      // The /conns request itself, and an idle pooled connection or two.
      expect(peakWhileDripping).toBeLessThanOrEqual(3);
    });

    it('streams a body larger than requestBufferBytes', async () => {
      const body = Buffer.alloc(200 * 1024, 97);
      const reply = await rawExchange(
        stack.port,
        Buffer.concat([
          Buffer.from(
            `POST /docker/${name}/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`,
          ),
          body,
        ]),
        { until: complete },
      );
      expect(bodyOf(reply.bytes)).toBe(`length=${body.length}`);
    });

    it.each([
      [
        'Content-Length with Transfer-Encoding',
        `POST /docker/${name}/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /docker/${name}/id/smuggled HTTP/1.1\r\nHost: a\r\n\r\n`,
        /^HTTP\/1\.1 400/,
      ],
      [
        'two Host headers',
        `GET /docker/${name}/ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
        /^HTTP\/1\.1 400/,
      ],
      [
        'a path escaping its container',
        `GET /docker/${name}/../other/ok HTTP/1.1\r\nHost: a\r\n\r\n`,
        /^HTTP\/1\.1 (400|404)/,
      ],
      [
        'an encoded path escape',
        `GET /docker/${name}/%2e%2e/other/ok HTTP/1.1\r\nHost: a\r\n\r\n`,
        /^HTTP\/1\.1 (400|404)/,
      ],
      [
        'an upgrade carrying a body',
        `GET /docker/${name}/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 4\r\n\r\nabcd`,
        /^HTTP\/1\.1 400/,
      ],
    ])('refuses %s', async (_case, request, status) => {
      const reply = await rawExchange(stack.port, request, { until: headRead, timeoutMs: 5_000 });
      expect(reply.bytes.toString('latin1')).toMatch(status);
    });

    it('holds bytes sent behind an upgrade request until the tool accepted it', async () => {
      const early = `GET /docker/${name}/id/smuggled HTTP/1.1\r\nHost: a\r\n\r\n`;
      const reply = await rawExchange(
        stack.port,
        `GET /docker/${name}/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n${early}`,
        { until: (bytes) => bytes.includes(early), timeoutMs: 5_000 },
      );
      const text = reply.bytes.toString('latin1');
      // The tool saw them only as tunnel bytes after its 101, and echoed them as such.
      expect(text).toMatch(/^HTTP\/1\.1 101 /);
      expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe(early);
    });
  });

  // The same response bytes from the same container, through dde and through nginx: dde's
  // verdict (status and body, or refused) must equal nginx's, or be a refusal documented as
  // deliberately stricter. The tool closes after each response, so every verdict is final.
  describe('the response parser against nginx', () => {
    it.skipIf(binary === undefined && process.env.CI !== 'true')(
      'gives the verdict nginx gives, or a documented stricter refusal',
      async () => {
        expect(nginx, 'nginx is not installed').toBeDefined();
        const cases = [...CORPUS, ...fc.sample(generated, { numRuns: 60, seed: 15 })];
        const rows: string[] = [];
        const disagreements: string[] = [];
        const show = (v: Verdict): string =>
          v === 'refused' ? 'refused' : `${v.status} ${JSON.stringify(v.body)}`;
        for (const response of cases) {
          const path = rawPath(response, true);
          const [ours, theirs] = await Promise.all([
            verdict(stack.port, `/docker/${name}${path}`),
            verdict((nginx as Nginx).port, path),
          ]);
          const same = JSON.stringify(ours) === JSON.stringify(theirs);
          const head = response.slice(0, Math.max(0, response.search(/\r?\n\r?\n/)));
          const stricter =
            ours === 'refused' && theirs !== 'refused'
              ? STRICTER.find((rule) => rule.matches(head))
              : undefined;
          const verdictText = same ? 'same' : stricter ? `stricter (${stricter.why})` : 'DIFFERENT';
          rows.push(
            `${verdictText}: dde ${show(ours)} / nginx ${show(theirs)} <- ${JSON.stringify(response).slice(0, 90)}`,
          );
          if (!same && stricter === undefined) disagreements.push(rows.at(-1) as string);
        }
        process.stdout.write(`dde vs nginx on ${cases.length} responses:\n${rows.join('\n')}\n`);
        expect(disagreements).toEqual([]);
      },
      120_000,
    );
  });
});
