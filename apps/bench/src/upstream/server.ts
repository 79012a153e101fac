/**
 * The benchmark's upstream: runs inside the container on a bare `node` binary, so it imports
 * nothing but Node's own modules. Every HTTP request gets the same 1 KiB body over a keep-alive
 * connection; a WebSocket upgrade (any path) gets an echo server, spoken with a hand-written
 * RFC 6455 handshake and framing because there is no `ws` package in the image.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';

const PORT = Number(process.env.PORT ?? 80);
// A tool that is slow to come up (the coldstart suite): listen this many ms after starting.
const LISTEN_DELAY_MS = Number(process.env.LISTEN_DELAY_MS ?? 0);
const BODY = Buffer.alloc(1024, 'x');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const server = createServer((_req, res) => {
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
  echoFrames(socket, head);
});

/** Echoes every data frame back unmasked; answers ping with pong and close with close. */
function echoFrames(socket: Duplex, head: Buffer): void {
  let pending = head;
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const frame = parseFrame(pending);
      if (frame === undefined) return;
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

/** One complete frame from the start of `buf`, or undefined while it is incomplete. */
function parseFrame(buf: Buffer): Frame | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  let offset = 2;
  let size = b1 & 0x7f;
  if (size === 126) {
    if (buf.length < 4) return undefined;
    size = buf.readUInt16BE(2);
    offset = 4;
  } else if (size === 127) {
    if (buf.length < 10) return undefined;
    size = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const maskAt = offset;
  if (masked) offset += 4;
  if (buf.length < offset + size) return undefined;
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
