import { get } from 'node:http';
import { buildFaultToolImage, cleanupNamespace, describeWithDocker, uniqueNamespace } from '@dde/test-support';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultStack, faultStack, rawPath } from './fault-stack.ts';
import { type Nginx, nginxBinary, startNginx } from './nginx.ts';

// The same response bytes from the same container, through dde and through nginx: dde's verdict
// (status and body, or refused) must equal nginx's, or be a refusal this file documents as
// deliberately stricter. The tool closes after each response, so every verdict is final.
const namespace = uniqueNamespace('pf');
const image = `dde-pf-diff:${namespace}`;
const name = `${namespace}-tool`;

type Verdict = { status: number; body: string } | 'refused';

/**
 * Where dde refuses what nginx takes, on purpose (see the root README): each would let a tool's
 * answer mean two things to two parsers.
 */
const STRICTER: readonly { why: string; matches: (head: string) => boolean }[] = [
  // nginx drops a field whose name holds a space or other non-token character (its
  // `ignore_invalid_headers`); dde refuses the response.
  { why: 'invalid field name', matches: (head) => /(^|\n)[^\s:]*[ \t][^:\r\n]*:/.test(head.replace(/^[^\n]*\n/, '')) },
  // Obsolete line folding (RFC 9112 §5.2 lets a proxy refuse it).
  { why: 'obsolete line folding', matches: (head) => /\n[ \t]/.test(head) },
  // Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: "ought to be handled as an error").
  { why: 'Content-Length with Transfer-Encoding', matches: (head) => /content-length/i.test(head) && /transfer-encoding/i.test(head) },
];

function verdict(port: number, path: string): Promise<Verdict> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false, timeout: 8_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => {});
      res.on('close', () => {
        const status = res.statusCode ?? 0;
        resolve(
          !res.complete || status === 502 || status === 504
            ? 'refused'
            : { status, body: Buffer.concat(chunks).toString('latin1') },
        );
      });
    });
    request.on('error', () => resolve('refused'));
    request.on('timeout', () => request.destroy());
  });
}

const CORPUS: readonly string[] = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello',
  'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n',
  'HTTP/1.1 200 OK\r\n\r\nuntil close',
  'HTTP/1.0 200 OK\r\n\r\nuntil close',
  'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope',
  'HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nhi',
  'HTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\nhi',
  'HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nhi',
  'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nhi',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!',
  'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi',
  'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nhi',
  'ICY 200 OK\r\n\r\nhi',
  'HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nhi',
];

/** Responses built from parts that tools really send, with their line ends mixed at random. */
const generated = fc
  .record({
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
    status: fc.constantFrom('200 OK', '201 Created', '404 Not Found', '200'),
    fields: fc.subarray(['Content-Type: text/plain', 'X-Spaced:   v   ', 'X-Tab:\tv', 'Server: tool', 'X-Empty:']),
    framing: fc.constantFrom('length', 'chunked', 'close', 'extension', 'short'),
    body: fc.stringMatching(/^[a-z0-9 ]{1,24}$/),
    lf: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
  })
  .map(({ version, status, fields, framing, body, lf }) => {
    let index = 0;
    const end = (): string => (lf[index++ % lf.length] ? '\n' : '\r\n');
    let head = `${version} ${status}${end()}`;
    for (const field of fields) head += `${field}${end()}`;
    const size = body.length.toString(16);
    if (framing === 'length') return `${head}Content-Length: ${body.length}${end()}${end()}${body}`;
    if (framing === 'short') return `${head}Content-Length: ${body.length + 5}${end()}${end()}${body}`;
    if (framing === 'close') return `${head}${end()}${body}`;
    const extension = framing === 'extension' ? ';a=b' : '';
    return `${head}Transfer-Encoding: chunked${end()}${end()}${size}${extension}${end()}${body}${end()}0${end()}${end()}`;
  });

await describeWithDocker('fault suite: response parser against nginx', (docker) => {
  let stack: FaultStack;
  let nginx: Nginx | undefined;
  const binary = nginxBinary();

  beforeAll(async () => {
    if (binary === undefined && process.env.CI === 'true') throw new Error('nginx is not installed');
    await buildFaultToolImage(docker, image, namespace);
    stack = await faultStack(namespace, image);
    await stack.launch(name);
    const upstream = stack.manager.get(name)?.upstream;
    if (binary !== undefined && upstream !== undefined) nginx = await startNginx(binary, upstream);
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await stack?.close();
    await cleanupNamespace(docker, namespace);
  }, 60_000);

  it.skipIf(binary === undefined && process.env.CI !== 'true')(
    'gives the verdict nginx gives, or a documented stricter refusal',
    async () => {
      const cases = [...CORPUS, ...fc.sample(generated, { numRuns: 60, seed: 15 })];
      const rows: string[] = [];
      const disagreements: string[] = [];
      for (const response of cases) {
        const path = rawPath(response, true);
        const [ours, theirs] = await Promise.all([
          verdict(stack.port, `/docker/${name}${path}`),
          verdict((nginx as Nginx).port, path),
        ]);
        const show = (v: Verdict): string => (v === 'refused' ? 'refused' : `${v.status} ${JSON.stringify(v.body)}`);
        const same = JSON.stringify(ours) === JSON.stringify(theirs);
        const head = response.slice(0, Math.max(0, response.search(/\r?\n\r?\n/)));
        const stricter = ours === 'refused' && theirs !== 'refused' ? STRICTER.find((rule) => rule.matches(head)) : undefined;
        rows.push(`${same ? 'same' : stricter ? `stricter (${stricter.why})` : 'DIFFERENT'}: dde ${show(ours)} / nginx ${show(theirs)} <- ${JSON.stringify(response).slice(0, 90)}`);
        if (!same && stricter === undefined) disagreements.push(rows.at(-1) as string);
      }
      console.log(`dde vs nginx on ${cases.length} responses:\n${rows.join('\n')}`);
      expect(disagreements).toEqual([]);
    },
    120_000,
  );
});
