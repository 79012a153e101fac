import { get } from 'node:http';
import fc from 'fast-check';

// The corpus and the rules of the differential test of dde's response parser against nginx.

/** What a client got: the status and body, or nothing usable. */
export type Verdict = { status: number; body: string } | 'refused';

/**
 * Where dde refuses what nginx takes, on purpose (see the root README): each would let a tool's
 * answer mean two things to two parsers.
 */
export const STRICTER: readonly { why: string; matches: (head: string) => boolean }[] = [
  // nginx drops a field whose name holds a space or other non-token character (its
  // `ignore_invalid_headers`); dde refuses the response.
  {
    why: 'invalid field name',
    matches: (head) => /\n[^\s:]*[ \t][^:\r\n]*:/.test(head),
  },
  // Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: "ought to be handled as an error").
  {
    why: 'Content-Length with Transfer-Encoding',
    matches: (head) => /\ncontent-length:/i.test(head) && /\ntransfer-encoding:/i.test(head),
  },
  // nginx takes the last of several lengths; dde will not guess which one frames the body.
  { why: 'several Content-Lengths', matches: (head) => (head.match(/\ncontent-length:/gi) ?? []).length > 1 },
  // nginx reads a malformed length as none (the body then runs to the close).
  {
    why: 'malformed Content-Length',
    matches: (head) => /\ncontent-length:(?![ \t]*\d+[ \t]*\r?(\n|$))/i.test(head),
  },
  // nginx takes any `HTTP/x.y` status line; dde only HTTP/1.0 and HTTP/1.1.
  { why: 'not HTTP/1.x', matches: (head) => !/^HTTP\/1\.[01] /.test(head) },
];

/** GETs `path` on a loopback port and says what came back. */
export function verdict(port: number, path: string): Promise<Verdict> {
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

/** Response byte streams dde and nginx must agree on: the fault cases, tolerated and refused. */
export const CORPUS: readonly string[] = [
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
  'HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nhi',
  'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi',
];

/** Responses built from parts that tools really send, with their line ends mixed at random. */
export const generated: fc.Arbitrary<string> = fc
  .record({
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
    status: fc.constantFrom('200 OK', '201 Created', '404 Not Found', '200'),
    fields: fc.subarray([
      'Content-Type: text/plain',
      'X-Spaced:   v   ',
      'X-Tab:\tv',
      'Server: tool',
      'X-Empty:',
    ]),
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
