/**
 * The benchmark's upstream: runs inside the container on a bare `node` binary, so it imports
 * nothing but Node's own modules. Every HTTP request gets the same 1 KiB body over a keep-alive
 * connection; a WebSocket upgrade (any path) gets an echo server, spoken with a hand-written
 * RFC 6455 handshake and framing because there is no `ws` package in the image.
 * For large bodies (the `bodies` and `ws` suites), on any path:
 * - `?download=<bytes>`: a body of that many bytes (with its length), written at the reader's pace;
 * - `?upload` (with a body): the body is read and dropped; the answer is `{"bytes":<n>}`;
 * - a WebSocket upgrade with `?source=<bytes>`: that many bytes in 64 KiB binary frames, then a close.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';

const PORT = Number(process.env.PORT ?? 80);
// A tool that is slow to come up (the coldstart suite): listen this many ms after starting.
const LISTEN_DELAY_MS = Number(process.env.LISTEN_DELAY_MS ?? 0);
const BODY = Buffer.alloc(1024, 'x');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** 64 KiB of filler: large bodies and streams repeat it. */
const BLOCK = Buffer.alloc(64 * 1024, 'y');

/** The request's query; undefined without one (the 1 KiB GETs of the hot path: no parsing). */
function query(url: string | undefined): URLSearchParams | undefined {
  const at = url?.indexOf('?') ?? -1;
  return at === -1 ? undefined : new URLSearchParams(url?.slice(at + 1));
}

/** The number after `name=` in the query, if any. */
function queryNumber(params: URLSearchParams | undefined, name: string): number | undefined {
  const value = params?.get(name);
  return value === null || value === undefined ? undefined : Number(value);
}

/** Writes `bytes` bytes of filler, each block once the previous one is taken. */
function writeFiller(out: NodeJS.WritableStream, bytes: number, done: () => void): void {
  let left = bytes;
  const more = (): void => {
    while (left > 0) {
      const block = left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
      left -= block.length;
      if (!out.write(block)) {
        out.once('drain', more);
        return;
      }
    }
    done();
  };
  more();
}

const server = createServer((req, res) => {
  const params = query(req.url);
  const download = queryNumber(params, 'download');
  if (download !== undefined) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': download });
    writeFiller(res, download, () => res.end());
    return;
  }
  if (params?.has('upload')) {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      const body = JSON.stringify({ bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});
// Longer than any proxy's pooled-connection idle timeout, so the upstream never closes a
// connection a proxy is about to reuse (that race shows up as sporadic 502s).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;

server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
  );
  const source = queryNumber(query(req.url), 'source');
  if (source === undefined) echoFrames(socket, head);
  else sourceFrames(socket, source);
});

/** Sends `bytes` bytes as 64 KiB binary frames (the last one shorter), then a close frame. */
function sourceFrames(socket: Duplex, bytes: number): void {
  socket.on('error', () => socket.destroy());
  socket.resume(); // whatever the client sends (its close frame) is dropped
  const frame = encodeFrame(0x2, BLOCK);
  let left = bytes;
  const more = (): void => {
    while (left > 0) {
      const data = left >= BLOCK.length ? frame : encodeFrame(0x2, BLOCK.subarray(0, left));
      left -= Math.min(left, BLOCK.length);
      if (!socket.write(data)) {
        socket.once('drain', more);
        return;
      }
    }
    socket.end(encodeFrame(0x8, Buffer.from([0x03, 0xe8])));
  };
  more();
}

/** Echoes every data frame back unmasked; answers ping with pong and close with close. */
function echoFrames(socket: Duplex, head: Buffer): void {
  // Chunks are joined only once a whole frame is there: joining on every chunk would copy a
  // 16 MiB frame hundreds of times, and the upstream, not the proxy, would set the pace.
  let chunks: Buffer[] = head.length > 0 ? [head] : [];
  let buffered = head.length;
  /** Bytes needed before parsing can make progress. */
  let needed = 2;
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    if (chunk.length > 0) {
      chunks.push(chunk);
      buffered += chunk.length;
    }
    if (buffered < needed) return;
    let pending = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, buffered);
    for (;;) {
      const frame = parseFrame(pending);
      if (typeof frame === 'number') {
        chunks = pending.length > 0 ? [pending] : [];
        buffered = pending.length;
        needed = frame;
        return;
      }
      pending = pending.subarray(frame.length);
      if (frame.opcode === 0x8) {
        socket.end(encodeFrame(0x8, frame.payload));
        return;
      }
      // Echo text/binary/continuation as they came; pong a ping; ignore a pong.
      if (frame.opcode === 0x9) socket.write(encodeFrame(0xa, frame.payload));
      else if (frame.opcode !== 0xa) socket.write(encodeFrame(frame.opcode, frame.payload, frame.fin));
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(Buffer.alloc(0));
}

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** Bytes the frame took in the input. */
  length: number;
}

/** One complete frame from the start of `buf`, or while it is incomplete, the bytes it needs. */
function parseFrame(buf: Buffer): Frame | number {
  if (buf.length < 2) return 2;
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  let offset = 2;
  let size = b1 & 0x7f;
  if (size === 126) {
    if (buf.length < 4) return 4;
    size = buf.readUInt16BE(2);
    offset = 4;
  } else if (size === 127) {
    if (buf.length < 10) return 10;
    size = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const maskAt = offset;
  if (masked) offset += 4;
  if (buf.length < offset + size) return offset + size;
  const payload = Buffer.from(buf.subarray(offset, offset + size));
  if (masked)
    for (let i = 0; i < size; i++) payload[i] = (payload[i] as number) ^ (buf[maskAt + (i % 4)] as number);
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload, length: offset + size };
}

/** A server-to-client frame (servers never mask). */
function encodeFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const size = payload.length;
  const header = size < 126 ? Buffer.alloc(2) : size < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (size < 126) header[1] = size;
  else if (size < 65_536) {
    header[1] = 126;
    header.writeUInt16BE(size, 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(size), 2);
  }
  return Buffer.concat([header, payload]);
}

/** What the upstream prints once it listens: the coldstart suite reads it from the container's log. */
const LISTENING_MARKER = 'dde-bench-upstream listening at ';

function listen(): void {
  server.listen(PORT, '0.0.0.0', () => {
    // Epoch ms with a fraction: the container shares the host's clock, so the bench can tell
    // when the tool began to answer.
    process.stdout.write(`${LISTENING_MARKER}${performance.timeOrigin + performance.now()}\n`);
  });
}
if (LISTEN_DELAY_MS > 0) setTimeout(listen, LISTEN_DELAY_MS);
else listen();
// PID 1 in a container gets no default signal handlers: exit promptly on stop.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
