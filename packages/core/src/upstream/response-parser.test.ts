import { describe, expect, it } from 'vitest';
import { type ResponseHead, ResponseParseError, ResponseParser } from './response-parser.ts';
import { codingsBesidesChunked } from './transfer-coding.ts';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  /** Bytes of the input the response used. */
  used: number;
  done: boolean;
}

/** Parses `input` fed in pieces cut at `cuts`, as a socket would deliver it. */
function parse(
  input: string | Buffer,
  options: { cuts?: number[]; head?: boolean; upgrade?: boolean; max?: number } = {},
): Parsed {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const heads: ResponseHead[] = [];
  const body: Buffer[] = [];
  const parser = new ResponseParser(
    {
      onHead: (head) => heads.push(head),
      onBody: (data, start, end) => body.push(Buffer.from(data.subarray(start, end))),
    },
    options.max ?? 64 * 1024,
  );
  parser.reset(options.head === true, options.upgrade === true);
  const cuts = [...(options.cuts ?? []), bytes.length];
  let used = 0;
  let from = 0;
  for (const cut of cuts) {
    // A stale tail past `end`, as in the shared read buffer, must never be read.
    const piece = Buffer.concat([
      bytes.subarray(from, cut),
      Buffer.from('\r\n\r\nHTTP/1.1 200 stale\r\n\r\n'),
    ]);
    const consumed = parser.execute(piece, cut - from);
    used += consumed;
    if (consumed < cut - from || parser.done) break;
    from = cut;
  }
  return { heads, body: Buffer.concat(body).toString('latin1'), used, done: parser.done };
}

function parseError(input: string, options: { head?: boolean; max?: number } = {}): string {
  try {
    parse(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ResponseParseError);
    return (error as Error).message;
  }
  throw new Error('expected a parse error');
}

const simple = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';

describe('ResponseParser', () => {
  it('reads a length-delimited response with names as sent and the reason phrase', () => {
    const result = parse(`${simple}HTTP/1.1 204 No Content\r\n\r\n`);
    expect(result.done).toBe(true);
    expect(result.used).toBe(simple.length); // the next response is not this one's
    expect(result.body).toBe('hello');
    expect(result.heads).toEqual([
      {
        status: 200,
        statusText: 'OK',
        headers: ['Content-Type', 'text/plain', 'Content-Length', '5'],
        connection: undefined,
        keepAlive: true,
        keepAliveTimeoutMs: undefined,
        bodyLength: 5,
      },
    ]);
  });

  it('gives the same result wherever the bytes are split', () => {
    const response =
      'HTTP/1.1 200 Fine\r\nTransfer-Encoding: gzip, chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n' +
      '5;name="value"\r\nhello\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n0\r\nX-Trailer: t\r\n\r\n';
    const whole = parse(response);
    expect(whole.body).toBe('hello abcdefghijklmnopqrstuvwxy');
    expect(whole.done).toBe(true);
    expect(whole.heads[0]?.bodyLength).toBeUndefined(); // chunked: no length ahead
    expect(whole.used).toBe(response.length);
    for (let cut = 1; cut < response.length; cut++) {
      expect(parse(response, { cuts: [cut] }), `cut at ${cut}`).toEqual(whole);
    }
    const everyByte = Array.from({ length: response.length - 1 }, (_, index) => index + 1);
    expect(parse(response, { cuts: everyByte })).toEqual(whole);
  });

  it('reads the Keep-Alive hint and the Connection rules of HTTP/1.0 and 1.1', () => {
    const hint = parse('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n');
    expect(hint.heads[0]?.keepAliveTimeoutMs).toBe(5000);
    const close = parse('HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n');
    expect(close.heads[0]).toMatchObject({ keepAlive: false, connection: 'Close' });
    const old = parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(old.heads[0]?.keepAlive).toBe(false);
    const oldKept = parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
    expect(oldKept.heads[0]?.keepAlive).toBe(true);
  });

  it('reads a body without framing until the server closes', () => {
    const parser = new ResponseParser({ onHead() {}, onBody() {} }, 1024);
    parser.reset(false);
    const used = parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome bytes'));
    expect(used).toBe(29);
    expect(parser.done).toBe(false);
    expect(parser.finish()).toBe(true);
    expect(parser.done).toBe(true);
    const untilClose = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw');
    expect(untilClose.heads[0]?.keepAlive).toBe(false);
    expect(untilClose.body).toBe('raw');
  });

  it('says a response cut short is not complete', () => {
    const parser = new ResponseParser({ onHead() {}, onBody() {} }, 1024);
    parser.reset(false);
    expect(parser.started).toBe(false);
    expect(parser.finish()).toBe(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
    expect(parser.started).toBe(true);
    expect(parser.finish()).toBe(false);
  });

  it('knows HEAD, 204 and 304 responses have no body, whatever their headers say', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true })).toMatchObject({
      done: true,
      body: '',
    });
    expect(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nnext')).toMatchObject({
      done: true,
      used: 48,
    });
    expect(parse('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n').done).toBe(true);
  });

  it('does not keep a connection whose answer to HEAD implies a body framed by the close', () => {
    const unframed = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n', { head: true });
    expect(unframed.done).toBe(true);
    expect(unframed.heads[0]?.keepAlive).toBe(false);
    const framed = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true });
    expect(framed.heads[0]?.keepAlive).toBe(true);
    const chunked = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { head: true });
    expect(chunked.heads[0]?.keepAlive).toBe(true);
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n').heads[0]?.keepAlive).toBe(true);
  });

  it('skips interim responses and refuses an unasked protocol switch', () => {
    const result = parse(
      `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n${simple}`,
    );
    expect(result.heads.map((head) => head.status)).toEqual([200]);
    expect(result.body).toBe('hello');
    expect(parseError('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')).toMatch(/101/);
  });

  it('ends at the head of a 101 answering an upgrade request, whatever follows', () => {
    const answer = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const frames = '\x81\x02hi';
    for (const cut of [1, 10, answer.length - 1, answer.length]) {
      const result = parse(`HTTP/1.1 100 Continue\r\n\r\n${answer}${frames}`, { upgrade: true, cuts: [cut] });
      expect(result.heads).toMatchObject([
        { status: 101, headers: ['Upgrade', 'websocket', 'Connection', 'Upgrade'] },
      ]);
      expect(result).toMatchObject({ done: true, body: '', used: 25 + answer.length });
    }
    // A refusal is an ordinary response, body and all.
    expect(parse(simple, { upgrade: true })).toMatchObject({ body: 'hello', done: true });
  });

  it('reports the transfer codings a body still carries besides chunked', () => {
    const coded = (value: string) =>
      parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${value}\r\n\r\n0\r\n\r\n`).heads[0]?.transferCodings;
    expect(coded('chunked')).toBeUndefined();
    expect(coded('gzip, chunked')).toBe('gzip');
    expect(coded('gzip')).toBe('gzip'); // not chunked: the body runs until the close
    expect(parse(simple).heads[0]?.transferCodings).toBeUndefined();
    expect(codingsBesidesChunked(' br ,gzip,, Chunked')).toBe('br, gzip');
  });

  it('accepts empty reason phrases, obs-text and whitespace around values', () => {
    const result = parse(
      'HTTP/1.1 200\r\nX-A:  spaced \t\r\nX-B:\r\nX-C: caf\xe9\r\nContent-Length: 0\r\n\r\n',
    );
    expect(result.heads[0]?.statusText).toBe('');
    expect(result.heads[0]?.headers).toEqual([
      'X-A',
      'spaced',
      'X-B',
      '',
      'X-C',
      'caf\xe9',
      'Content-Length',
      '0',
    ]);
    expect(parse('HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n').heads[0]?.statusText).toBe('');
  });

  it.each([
    ['both framings', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', /both/],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n', /more than one/],
    ['a length list', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n', /Content-Length/],
    ['a signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n', /Content-Length/],
    ['a hex length', 'HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\n', /Content-Length/],
    ['an empty length', 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n', /Content-Length/],
    ['a huge length', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n', /Content-Length/],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', /chunked/],
    [
      'chunked then gzip',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n',
      /chunked/,
    ],
    ['a bare CR', 'HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n', /bare CR/],
    ['a bare CR ending a line', 'HTTP/1.1 200 OK\r\nA: 1\r\r\n\r\n', /bare CR/],
    ['a bare CR in an LF-only head', 'HTTP/1.1 200 OK\nA: 1\rB: 2\n\n', /bare CR/],
    ['obsolete folding in an LF-only head', 'HTTP/1.1 200 OK\nA: 1\n continued\n\n', /malformed header/],
    [
      'obsolete folding',
      'HTTP/1.1 200 OK\r\nA: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n',
      /malformed header/,
    ],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', /malformed header/],
    ['a line without colon', 'HTTP/1.1 200 OK\r\nnonsense\r\n\r\n', /malformed header/],
    ['an empty name', 'HTTP/1.1 200 OK\r\n: value\r\n\r\n', /malformed header/],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n', /control character/],
    ['a control character in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', /control character/],
    ['HTTP/2', 'HTTP/2.0 200 OK\r\n\r\n', /status line/],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n', /status line/],
    ['a short status', 'HTTP/1.1 20 OK\r\n\r\n', /status line/],
    ['a long status', 'HTTP/1.1 2000 OK\r\n\r\n', /status line/],
    ['a status below 100', 'HTTP/1.1 099 Odd\r\n\r\n', /status line/],
    ['a missing space', 'HTTP/1.1200 OK\r\n\r\n', /status line/],
    ['another protocol', 'ICY 200 OK\r\nicy-name: x\r\n\r\n', /status line/],
  ])('refuses %s', (_name, response, message) => {
    expect(parseError(response)).toMatch(message);
  });

  it.each([
    ['a chunk size that is not hex', 'xyz\r\n', /chunk size/],
    ['an empty chunk size', '\r\nabc\r\n', /chunk size/],
    ['junk after a chunk size', '5 x\r\nhello\r\n', /chunk size/],
    ['a chunk size that overflows', 'fffffffffffffffff\r\n', /too large/],
    ['a chunk without its CRLF', '5\r\nhelloX\r\n', /CRLF/],
    ['a chunk with only its CR', '5\r\nhello\rX', /CRLF/],
    ['a bare CR after a chunk size', '5\rhello\r\n', /chunk size/],
    ['a bare CR after chunk data', '5\r\nhello\r5\r\n', /CRLF/],
    ['a control character in an extension', '5;a=\x01\r\nhello\r\n', /chunk size/],
    ['a malformed trailer', '0\r\nnot a field\r\n\r\n', /trailer/],
  ])('refuses %s in a chunked body', (_name, body, message) => {
    expect(parseError(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`)).toMatch(message);
  });

  it.each([
    ['LF-only', 'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello'],
    ['mixed', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\nContent-Length: 5\r\n\nhello'],
    ['LF then CRLF', 'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\r\nhello'],
  ])('accepts %s line ends in the head, whole or in pieces (RFC 9112 §2.2, as nginx)', (_name, response) => {
    for (const cuts of [[], [3], [16], [20, 40], [response.length - 7, response.length - 6]]) {
      const result = parse(`${response}HTTP/1.1 200 stale\r\n\r\n`, { cuts });
      expect(result.heads[0]?.headers).toEqual(['Content-Type', 'text/plain', 'Content-Length', '5']);
      expect(result.body).toBe('hello');
      expect(result.used).toBe(response.length);
    }
  });

  it('ends an LF-only head at its blank line even when the body holds CRLFCRLF', () => {
    const result = parse('HTTP/1.1 200 OK\nContent-Length: 6\n\nab\r\n\r\n');
    expect(result.body).toBe('ab\r\n\r\n');
    expect(result.done).toBe(true);
  });

  it('skips the fields of an interim response, LF-only too', () => {
    const result = parse(
      'HTTP/1.1 103 Early Hints\nLink: </a.css>\n\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
    );
    expect(result.heads.map((head) => head.status)).toEqual([200]);
    expect(result.body).toBe('x');
  });

  it('accepts lone LFs in chunked framing and trailers', () => {
    const result = parse(
      'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n3;x=1\nabc\r\n0\nT: 1\n\n',
      {
        cuts: [44, 50],
      },
    );
    expect(result.body).toBe('helloabc');
    expect(result.done).toBe(true);
  });

  it.each([
    ['no HTTP/1. prefix', 'ICY 2', /status line/],
    ['a bare CR', 'HTTP/1.1 200 OK\rX', /bare CR/],
    ['a NUL', 'HTTP/1.1 200 OK\r\nA: \x00', /control character/],
  ])('refuses an incomplete head with %s at once', (_name, response, message) => {
    expect(parseError(response)).toMatch(message);
    expect(() => parse(response, { cuts: [1, 4] })).toThrow(message);
  });

  it('refuses heads larger than the limit, even when they arrive in pieces', () => {
    const big = `HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: ${'a'.repeat(200)}\r\n\r\n`;
    expect(() => parse(big, { max: 100 })).toThrow(/larger than 100 bytes/);
    expect(() => parse(big, { max: 100, cuts: [50, 120, 150] })).toThrow(/larger than 100 bytes/);
    expect(parse(big, { max: 300 }).done).toBe(true);
  });

  it('refuses endless chunk-size lines', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    expect(() => parse(`${head}5;${'x'.repeat(20_000)}`)).toThrow(/too long/);
  });

  it('stops at once when abandoned from a callback', () => {
    const parser: ResponseParser = new ResponseParser(
      {
        onHead: () => parser.abandon(),
        onBody: () => {
          throw new Error('no body after abandon');
        },
      },
      1024,
    );
    parser.reset(false);
    expect(parser.execute(Buffer.from(simple))).toBe(simple.length - 5);
    expect(parser.done).toBe(false);
  });
});
