import { equalsIgnoreCase, isFieldValue, isToken, TOKEN_CHARACTER, VALUE_CHARACTER } from './characters.ts';
import { codingsBesidesChunked } from './transfer-coding.ts';

/**
 * A strict, incremental HTTP/1.1 response parser for the proxy's upstream connections.
 *
 * Strict because a reverse proxy that guesses where a response ends can hand one user's bytes
 * to another's request: anything ambiguous (both `Content-Length` and `Transfer-Encoding`,
 * duplicate or malformed lengths, a bare CR, obsolete line folding, control characters,
 * malformed chunks) is an error, and the connection that carried it is never reused. A lone LF
 * ends a line, in the head and in chunked framing, as RFC 9112 §2.2 allows and nginx, curl and
 * browsers accept (busybox httpd passes a CGI's LF-only headers on). An incomplete head that
 * already holds a bare CR, a control character or no `HTTP/1.` prefix is refused at once, not
 * when the server finally closes.
 * Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked when
 * `Transfer-Encoding` ends with `chunked`; else `Content-Length`; else until the server closes.
 */

/** A final (non-1xx) response head. */
export interface ResponseHead {
  /** Status code, 200-999, or 101 when an upgrade request was accepted. */
  readonly status: number;
  /** Reason phrase, possibly empty. */
  readonly statusText: string;
  /** Header fields as a flat `[name, value, ...]` list, names as sent, in arrival order. */
  readonly headers: string[];
  /** The `Connection` header's value (repeated fields joined), when present. */
  readonly connection: string | undefined;
  /** Whether the connection may carry another request once this response has ended. */
  readonly keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N` hint, in ms. */
  readonly keepAliveTimeoutMs: number | undefined;
  /**
   * Transfer codings other than a final `chunked` (e.g. `gzip`): the body as delivered still
   * carries them, so whoever passes it on must say so in its own `Transfer-Encoding`.
   */
  readonly transferCodings: string | undefined;
  /**
   * The body's length when a `Content-Length` frames it; undefined for a body sent chunked or
   * until the close, and for none.
   */
  readonly bodyLength: number | undefined;
}

/** Where the parser reports what it read. */
export interface ResponseEvents {
  /** The head of the final response (1xx interim responses are skipped). */
  onHead(head: ResponseHead): void;
  /** A piece of the body: bytes `start` to `end` of the input, only valid during the call. */
  onBody(data: Buffer, start: number, end: number): void;
}

/** The response broke HTTP/1.1; the message says how. */
export class ResponseParseError extends Error {
  override readonly name = 'ResponseParseError';
}

const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_DATA_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
const DONE = 7;
const ABANDONED = 8;

const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Longest chunk-size line (with extensions) or trailer line. */
const MAX_LINE_BYTES = 16 * 1024;

/**
 * Parses one response at a time from the bytes of a connection. Call {@link reset} before each
 * request, {@link execute} with every chunk read, {@link finish} when the server closes.
 */
export class ResponseParser {
  readonly #events: ResponseEvents;
  readonly #maxHeaderBytes: number;
  #state = DONE;
  #headRequest = false;
  #upgrade = false;
  /** Bytes of an incomplete head, chunk-size line or trailer section, copied. */
  #pending: Buffer | undefined = undefined;
  /** Body bytes left in the current length-delimited body or chunk. */
  #remaining = 0;
  /** Whether the CR after a chunk's data was seen. */
  #chunkCr = false;
  /** Bytes of the trailer section so far. */
  #trailerBytes = 0;
  #started = false;

  constructor(events: ResponseEvents, maxHeaderBytes: number) {
    this.#events = events;
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /**
   * Prepares for the response to a new request (`headRequest`: its method is HEAD; `upgrade`:
   * it asked to switch protocols, so a `101` is its final answer and ends what is HTTP).
   */
  reset(headRequest: boolean, upgrade = false): void {
    this.#state = HEAD;
    this.#headRequest = headRequest;
    this.#upgrade = upgrade;
    this.#pending = undefined;
    this.#remaining = 0;
    this.#chunkCr = false;
    this.#trailerBytes = 0;
    this.#started = false;
  }

  /** Whether the response has ended (bytes after it belong to no request). */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Whether any byte of the current response has arrived. */
  get started(): boolean {
    return this.#started;
  }

  /** Stops parsing: the rest of this response will never be read. */
  abandon(): void {
    this.#state = ABANDONED;
    this.#pending = undefined;
  }

  /**
   * Parses bytes 0 to `end` of `data`; returns how many belong to the current response (fewer
   * than `end` only once it is {@link done}, or abandoned from a callback).
   *
   * @throws {@link ResponseParseError} when the bytes are not a valid response.
   */
  execute(data: Buffer, end: number = data.length): number {
    if (end > 0) this.#started = true;
    let pos = 0;
    while (pos < end) {
      switch (this.#state) {
        case HEAD:
          pos = this.#readHead(data, pos, end);
          break;
        case LENGTH:
          pos = this.#readBody(data, pos, end, DONE);
          break;
        case CHUNK_SIZE:
          pos = this.#readChunkSize(data, pos, end);
          break;
        case CHUNK_DATA:
          pos = this.#readBody(data, pos, end, CHUNK_DATA_END);
          break;
        case CHUNK_DATA_END:
          pos = this.#readChunkEnd(data, pos, end);
          break;
        case TRAILERS:
          pos = this.#readTrailers(data, pos, end);
          break;
        case UNTIL_CLOSE:
          this.#events.onBody(data, pos, end);
          pos = end;
          break;
        default:
          // DONE or ABANDONED: the rest is not ours.
          return pos;
      }
    }
    return pos;
  }

  /** Delivers up to `#remaining` body bytes; moves to `next` once they are all read. */
  #readBody(data: Buffer, pos: number, end: number, next: number): number {
    const take = Math.min(this.#remaining, end - pos);
    this.#remaining -= take;
    // The state changes first: the handler may look at `done` for the last piece.
    if (this.#remaining === 0) this.#state = next;
    this.#events.onBody(data, pos, pos + take);
    return pos + take;
  }

  /**
   * The server closed the connection. Returns true when that ends the response (a body
   * delimited by the close); false when the response is missing or cut short.
   */
  finish(): boolean {
    if (this.#state === UNTIL_CLOSE) {
      this.#state = DONE;
      return true;
    }
    return this.#state === DONE;
  }

  #readHead(data: Buffer, pos: number, end: number): number {
    let buffer = data;
    let from = pos;
    let searchFrom = pos;
    const prior = this.#pending?.length ?? 0;
    if (this.#pending !== undefined) {
      buffer = Buffer.concat([this.#pending, data.subarray(pos, end)]);
      from = 0;
      searchFrom = prior > 3 ? prior - 3 : 0;
      this.#pending = undefined;
    }
    const limit = buffer === data ? end : buffer.length;
    // CRLFCRLF first: one native search finds the end of almost every head. An LF-only blank line
    // before it is found by the parse of the head itself.
    let headEnd = buffer.indexOf(CRLF_CRLF, searchFrom);
    // The shared read buffer holds stale bytes past `end`.
    if (headEnd !== -1 && headEnd + 4 > limit) headEnd = -1;
    if (headEnd === -1) {
      // Bounded view: a search must never run into the stale bytes.
      const view = buffer.subarray(0, limit);
      headEnd = lfHeadEnd(view, searchFrom);
      if (headEnd === -1) {
        if (limit - from > this.#maxHeaderBytes) throw tooLarge(this.#maxHeaderBytes);
        checkPartialHead(view, from, prior > 0 ? prior - 1 : from);
        this.#pending = buffer === data ? Buffer.from(data.subarray(pos, end)) : buffer;
        return end;
      }
    } else headEnd += 4;
    const used = this.#parseHead(buffer.toString('latin1', from, headEnd));
    if (used > this.#maxHeaderBytes) throw tooLarge(this.#maxHeaderBytes);
    return buffer === data ? from + used : pos + used - prior;
  }

  /**
   * Parses a head that ends with a blank line somewhere in `text`; returns how many characters
   * it took (up to the end of the first blank line).
   */
  #parseHead(text: string): number {
    // One pass over the head: it checks every character (names are tokens; values and the
    // reason phrase hold no control character but HTAB; every line ends with CRLF or LF) while
    // it finds the fields. Obsolete line folding fails as a line that does not start with a name.
    const length = text.length;
    if (length < 12 || !text.startsWith('HTTP/1.')) {
      throw new ResponseParseError(`not an HTTP/1.x status line: ${JSON.stringify(text.slice(0, 40))}`);
    }
    const minor = text.charCodeAt(7) - 48;
    const status = digitAt(text, 9) * 100 + digitAt(text, 10) * 10 + digitAt(text, 11);
    let pos = 12;
    if ((minor !== 0 && minor !== 1) || text.charCodeAt(8) !== 32 || !(status >= 100)) {
      throw malformedStatusLine(text);
    }
    let statusText = '';
    const afterStatus = text.charCodeAt(pos);
    if (afterStatus !== 13 && afterStatus !== 10) {
      if (afterStatus !== 32) throw malformedStatusLine(text);
      pos = scanValue(text, pos + 1);
      statusText = text.slice(13, pos);
    }
    pos = afterLineEnd(text, pos);
    const interim = status < 200 && !(status === 101 && this.#upgrade);
    // 101 would switch protocols on a pooled connection that never asked to upgrade.
    if (status === 101 && interim)
      throw new ResponseParseError('101 Switching Protocols without an upgrade request');

    const headers: string[] = [];
    let contentLength = -1;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    let keepAliveHeader: string | undefined;
    for (;;) {
      const first = text.charCodeAt(pos);
      if (first === 13 || first === 10) {
        pos = afterLineEnd(text, pos); // the blank line: the head ends
        break;
      }
      const nameStart = pos;
      while (pos < length && TOKEN_CHARACTER[text.charCodeAt(pos)] === 1) pos++;
      if (pos === nameStart || text.charCodeAt(pos) !== 58 /* : */) {
        throw new ResponseParseError(
          `malformed header line: ${JSON.stringify(text.slice(nameStart, nameStart + 40))}`,
        );
      }
      const name = text.slice(nameStart, pos);
      pos++;
      while (isWhitespace(text.charCodeAt(pos))) pos++;
      const valueStart = pos;
      pos = scanValue(text, pos);
      let valueEnd = pos;
      while (valueEnd > valueStart && isWhitespace(text.charCodeAt(valueEnd - 1))) valueEnd--;
      const value = text.slice(valueStart, valueEnd);
      pos = afterLineEnd(text, pos);
      headers.push(name, value);
      // Only four names matter for framing; their lengths tell them apart before any compare.
      const size = name.length;
      if (size === 14 && equalsIgnoreCase(name, 'content-length')) {
        if (contentLength !== -1) throw new ResponseParseError('more than one Content-Length');
        contentLength = parseLength(value);
      } else if (size === 17 && equalsIgnoreCase(name, 'transfer-encoding')) {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
      } else if (size === 10) {
        if (equalsIgnoreCase(name, 'connection')) {
          connection = connection === undefined ? value : `${connection},${value}`;
        } else if (equalsIgnoreCase(name, 'keep-alive')) keepAliveHeader = value;
      }
    }
    // Interim response (100 Continue, 103 Early Hints): its fields go, the final one follows.
    if (interim) return pos;

    let close = false;
    let keepAliveToken = false;
    if (connection !== undefined) {
      if (equalsIgnoreCase(connection, 'keep-alive')) keepAliveToken = true;
      else if (equalsIgnoreCase(connection, 'close')) close = true;
      else {
        for (const token of connection.toLowerCase().split(',')) {
          const trimmed = token.trim();
          if (trimmed === 'close') close = true;
          else if (trimmed === 'keep-alive') keepAliveToken = true;
        }
      }
    }
    let keepAlive = !close && (minor === 1 || keepAliveToken);

    let state: number;
    if (status === 101) {
      state = DONE; // what follows speaks the new protocol
      keepAlive = false;
    } else if (status === 204 || status === 304) {
      state = DONE;
    } else if (this.#headRequest) {
      state = DONE;
      // No length and no coding: the GET's body would be framed by the close, so the server
      // closes after this answer too (busybox httpd's CGI does); a pooled connection would
      // carry the next request into that close, and a POST cannot be replayed.
      if (contentLength === -1 && transferEncoding === undefined) keepAlive = false;
    } else if (transferEncoding !== undefined) {
      if (contentLength !== -1) {
        throw new ResponseParseError('both Content-Length and Transfer-Encoding (a smuggling attempt?)');
      }
      state = chunkedIsFinal(transferEncoding) ? CHUNK_SIZE : UNTIL_CLOSE;
    } else if (contentLength !== -1) {
      state = contentLength === 0 ? DONE : LENGTH;
      this.#remaining = contentLength;
    } else {
      state = UNTIL_CLOSE;
    }
    if (state === UNTIL_CLOSE) keepAlive = false;
    this.#state = state;
    this.#events.onHead({
      status,
      statusText,
      headers,
      connection,
      keepAlive,
      keepAliveTimeoutMs: keepAliveHeader === undefined ? undefined : keepAliveTimeout(keepAliveHeader),
      transferCodings:
        transferEncoding === undefined || state === DONE
          ? undefined
          : codingsBesidesChunked(transferEncoding),
      bodyLength: state === LENGTH ? contentLength : undefined,
    });
    return pos;
  }

  /** One line from `pos` (ended by CRLF or a lone LF), without its end; undefined (rest kept) when incomplete. */
  #readLine(
    data: Buffer,
    pos: number,
    end: number,
    limit: number,
  ): { text: string; next: number } | undefined {
    let lf = data.indexOf(10, pos);
    if (lf >= end) lf = -1;
    const prior = this.#pending?.length ?? 0;
    if (lf === -1) {
      if (prior + end - pos > limit) throw new ResponseParseError('line in the chunked body too long');
      const rest = data.subarray(pos, end);
      this.#pending = this.#pending === undefined ? Buffer.from(rest) : Buffer.concat([this.#pending, rest]);
      return undefined;
    }
    if (prior + lf - pos > limit) throw new ResponseParseError('line in the chunked body too long');
    let text = data.toString('latin1', pos, lf);
    if (this.#pending !== undefined) {
      text = this.#pending.toString('latin1') + text;
      this.#pending = undefined;
    }
    // A CR elsewhere in the line is refused by whoever reads the line.
    return { text: text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text, next: lf + 1 };
  }

  #readChunkSize(data: Buffer, pos: number, end: number): number {
    const line = this.#readLine(data, pos, end, MAX_LINE_BYTES);
    if (line === undefined) return end;
    const size = parseChunkSize(line.text);
    if (size === 0) {
      this.#state = TRAILERS;
    } else {
      this.#remaining = size;
      this.#state = CHUNK_DATA;
    }
    return line.next;
  }

  #readChunkEnd(data: Buffer, pos: number, end: number): number {
    if (!this.#chunkCr) {
      if (data[pos] === 10) {
        this.#state = CHUNK_SIZE; // a lone LF, as nginx takes it
        return pos + 1;
      }
      if (data[pos] !== 13) throw new ResponseParseError('chunk data not followed by CRLF');
      this.#chunkCr = true;
      pos++;
      if (pos === end) return pos;
    }
    if (data[pos] !== 10) throw new ResponseParseError('chunk data not followed by CRLF');
    this.#chunkCr = false;
    this.#state = CHUNK_SIZE;
    return pos + 1;
  }

  #readTrailers(data: Buffer, pos: number, end: number): number {
    for (;;) {
      const line = this.#readLine(data, pos, end, this.#maxHeaderBytes - this.#trailerBytes);
      if (line === undefined) return end;
      this.#trailerBytes += line.next - pos;
      pos = line.next;
      if (line.text === '') {
        // Trailers are dropped, as most proxies do: the client already has the head.
        this.#state = DONE;
        return pos;
      }
      const colon = line.text.indexOf(':');
      if (colon <= 0 || !isToken(line.text.slice(0, colon)) || !isFieldValue(line.text)) {
        throw new ResponseParseError('malformed trailer field');
      }
      if (pos === end) return pos;
    }
  }
}

/** The index of the CR or LF that ends the value starting at `pos`. */
function scanValue(text: string, pos: number): number {
  const length = text.length;
  while (pos < length) {
    const code = text.charCodeAt(pos);
    if (VALUE_CHARACTER[code] !== 1) {
      if (code === 13 || code === 10) return pos;
      throw new ResponseParseError('control character in the response head');
    }
    pos++;
  }
  return pos;
}

/** Past the CRLF or lone LF at `pos`; a CR without its LF is refused. */
function afterLineEnd(text: string, pos: number): number {
  const code = text.charCodeAt(pos);
  if (code === 10) return pos + 1;
  if (code !== 13 || text.charCodeAt(pos + 1) !== 10)
    throw new ResponseParseError('bare CR in the response head');
  return pos + 2;
}

/**
 * Where a head ends whose blank line has a lone LF in it (`\n\n` or `\n\r\n`), searching
 * `view` from `from`; -1 when no blank line is complete yet.
 */
function lfHeadEnd(view: Buffer, from: number): number {
  const limit = view.length;
  for (let lf = view.indexOf(10, from); lf !== -1; lf = view.indexOf(10, lf + 1)) {
    const next = view[lf + 1];
    if (next === 10) return lf + 2;
    if (next === 13 && view[lf + 2] === 10) return lf + 3;
    if (lf + 2 >= limit) return -1;
  }
  return -1;
}

const STATUS_PREFIX = 'HTTP/1.';

/**
 * Refuses an incomplete head already known bad, so the client gets its 502 now rather than when
 * the server closes (or never, on a keep-alive connection): no `HTTP/1.` prefix, a CR not
 * followed by LF, or a control character. Scans from `scanFrom` (bytes before it were checked).
 */
function checkPartialHead(view: Buffer, from: number, scanFrom: number): void {
  const limit = view.length;
  for (let index = from; index < limit && index - from < STATUS_PREFIX.length; index++) {
    if (view[index] !== STATUS_PREFIX.charCodeAt(index - from)) {
      throw new ResponseParseError(
        `not an HTTP/1.x status line: ${JSON.stringify(view.toString('latin1', from, Math.min(limit, from + 40)))}`,
      );
    }
  }
  for (let index = Math.max(from, scanFrom); index < limit; index++) {
    const code = view[index] as number;
    if (code === 13) {
      if (index + 1 < limit && view[index + 1] !== 10)
        throw new ResponseParseError('bare CR in the response head');
    } else if (code !== 10 && VALUE_CHARACTER[code] !== 1) {
      throw new ResponseParseError('control character in the response head');
    }
  }
}

function digitAt(text: string, index: number): number {
  const digit = text.charCodeAt(index) - 48;
  return digit >= 0 && digit <= 9 ? digit : Number.NaN;
}

function malformedStatusLine(text: string): ResponseParseError {
  const end = text.indexOf('\r');
  return new ResponseParseError(
    `malformed status line: ${JSON.stringify(text.slice(0, Math.min(end === -1 ? 40 : end, 40)))}`,
  );
}

/** A Content-Length value: digits only, at most 15 of them. */
function parseLength(value: string): number {
  if (value.length === 0 || value.length > 15) throw invalidLength(value);
  let length = 0;
  for (let index = 0; index < value.length; index++) {
    const digit = value.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) throw invalidLength(value);
    length = length * 10 + digit;
  }
  return length;
}

function invalidLength(value: string): ResponseParseError {
  return new ResponseParseError(`invalid Content-Length: ${JSON.stringify(value.slice(0, 20))}`);
}

/** The `timeout=N` of a Keep-Alive header, in ms. */
function keepAliveTimeout(value: string): number | undefined {
  // Usually exactly `timeout=5` (Node) or `timeout=5, max=100` (Apache, nginx).
  const at = value.startsWith('timeout=') ? 0 : value.toLowerCase().indexOf('timeout=');
  if (at === -1) return undefined;
  let seconds = 0;
  let index = at + 8;
  for (; index < value.length; index++) {
    const digit = value.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) break;
    seconds = seconds * 10 + digit;
  }
  return index === at + 8 ? undefined : seconds * 1000;
}

function tooLarge(limit: number): ResponseParseError {
  return new ResponseParseError(`response head larger than ${limit} bytes`);
}

function isWhitespace(code: number): boolean {
  return code === 32 || code === 9;
}

/** Whether `chunked` is the last transfer coding; throws when it also appears earlier. */
function chunkedIsFinal(transferEncoding: string): boolean {
  const codings = transferEncoding.split(',');
  let last = '';
  for (let index = 0; index < codings.length; index++) {
    const coding = (codings[index] as string).trim().toLowerCase();
    if (coding === '') continue;
    if (last === 'chunked') throw new ResponseParseError('chunked applied before another transfer coding');
    last = coding;
  }
  return last === 'chunked';
}

/** The size of a chunk-size line: hex digits, optional whitespace, optional `;extensions`. */
function parseChunkSize(line: string): number {
  let size = 0;
  let index = 0;
  for (; index < line.length; index++) {
    const digit = hexValue(line.charCodeAt(index));
    if (digit === -1) break;
    if (size > (Number.MAX_SAFE_INTEGER - digit) / 16) throw new ResponseParseError('chunk size too large');
    size = size * 16 + digit;
  }
  if (index === 0) throw new ResponseParseError(`invalid chunk size: ${JSON.stringify(line.slice(0, 20))}`);
  while (index < line.length && isWhitespace(line.charCodeAt(index))) index++;
  if (index < line.length) {
    if (line.charCodeAt(index) !== 59 /* ; */ || !isFieldValue(line)) {
      throw new ResponseParseError(`invalid chunk size: ${JSON.stringify(line.slice(0, 20))}`);
    }
  }
  return size;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}
