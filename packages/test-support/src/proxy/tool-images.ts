import { readFileSync, realpathSync } from 'node:fs';
import type Dockerode from 'dockerode';
import { buildImage, NAMESPACE_LABEL } from '../docker.ts';
import { sharedLibraries } from '../ldd.ts';

/**
 * A busybox `httpd` tool: `/www/index.html` (with the marker `dde busybox tool`), a 10 MB
 * `/www/big.bin` with its `sha256sum` in `/www/big.sha256`, and a CGI script
 * `/www/cgi-bin/echo` that prints the method, query, a few headers and (for POST) the body.
 * Run it with `httpd -f -p 80 -h /www`.
 */
export async function buildHttpdImage(docker: Dockerode, tag: string, namespace: string): Promise<string> {
  const echo = [
    '#!/bin/sh',
    "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
    'echo "method=$REQUEST_METHOD"',
    'echo "query=$QUERY_STRING"',
    'echo "cookie=$HTTP_COOKIE"',
    'echo "x-forwarded-for=$HTTP_X_FORWARDED_FOR"',
    'echo "x-forwarded-proto=$HTTP_X_FORWARDED_PROTO"',
    'echo "host=$HTTP_HOST"',
    'if [ "$REQUEST_METHOD" = POST ] && [ -n "$CONTENT_LENGTH" ]; then echo "body=$(head -c "$CONTENT_LENGTH")"; fi',
    '',
  ].join('\n');
  return buildImage(docker, tag, {
    labels: { [NAMESPACE_LABEL]: namespace },
    files: {
      'www/index.html': '<!doctype html><title>tool</title><p>dde busybox tool</p>\n',
      'www/cgi-bin/echo': echo,
    },
    dockerfile: [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'COPY www /www',
      'RUN chmod 755 /www/cgi-bin/echo && dd if=/dev/urandom of=/www/big.bin bs=1048576 count=10 2>/dev/null && cd /www && sha256sum big.bin > big.sha256',
      '',
    ].join('\n'),
  });
}

/**
 * The tool server of {@link buildNodeToolImage}, written with Node's built-ins only:
 * - `GET /redirect`: 302 to `/target?from=redirect` with two cookies (`Path=/`, `Path=/app`);
 * - any other request: JSON `{ method, url, headers, length, sha256 }` of what it received,
 *   `delayMs` ms after its body ended when the query has `delayMs=<n>` (a request in flight);
 * - WebSocket upgrades (RFC 6455 handshake by hand): echoes text and binary frames, answers
 *   pings, closes on close; the handshake answer carries `x-echo-path`.
 */
export const NODE_TOOL_SCRIPT: string = String.raw`
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const server = createServer((req, res) => {
  if (req.url === '/redirect') {
    res.writeHead(302, { location: '/target?from=redirect', 'set-cookie': ['tool=1; Path=/', 'scoped=2; Path=/app; HttpOnly'] });
    res.end();
    return;
  }
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk) => { hash.update(chunk); length += chunk.length; });
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length, sha256: hash.digest('hex') });
    const delayMs = Number(new URL(req.url, 'http://tool').searchParams.get('delayMs') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, delayMs);
  });
});

function frame(opcode, payload) {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, length])
    : length < 65536 ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 255])
    : Buffer.concat([Buffer.from([0x80 | opcode, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([head, payload]);
}

function drain(state, socket) {
  let buffer = state.buffer;
  while (buffer.length >= 2) {
    const opcode = buffer[0] & 0x0f;
    const masked = (buffer[1] & 0x80) !== 0;
    let length = buffer[1] & 0x7f;
    let offset = 2;
    if (length === 126) { if (buffer.length < 4) break; length = buffer.readUInt16BE(2); offset = 4; }
    else if (length === 127) { if (buffer.length < 10) break; length = Number(buffer.readBigUInt64BE(2)); offset = 10; }
    const maskAt = offset;
    if (masked) offset += 4;
    if (buffer.length < offset + length) break;
    const payload = Buffer.from(buffer.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < length; i++) payload[i] ^= buffer[maskAt + (i % 4)];
    buffer = buffer.subarray(offset + length);
    if (opcode === 0x8) { socket.end(frame(0x8, payload)); break; }
    if (opcode === 0x9) socket.write(frame(0xa, payload));
    else if (opcode === 0x1 || opcode === 0x2) socket.write(frame(opcode, payload));
  }
  state.buffer = buffer;
}

server.on('upgrade', (req, socket, head) => {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string') { socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'); return; }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ' + accept + '\r\nx-echo-path: ' + req.url + '\r\n\r\n');
  const state = { buffer: head };
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk) => { state.buffer = Buffer.concat([state.buffer, chunk]); drain(state, socket); });
  drain(state, socket);
});

server.listen(Number(process.env.PORT ?? 80));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * An image running {@link NODE_TOOL_SCRIPT} on port 80 with the Node binary running the tests
 * (`process.execPath`) and the shared libraries `ldd` lists for it, plus busybox. Needed where
 * busybox falls short: WebSockets, request bodies on every method, chunked uploads.
 */
export function buildNodeToolImage(docker: Dockerode, tag: string, namespace: string): Promise<string> {
  return buildNodeScriptImage(docker, tag, namespace, NODE_TOOL_SCRIPT);
}

/**
 * An image running the Node module `script` (as `/app/tool.mjs`) with the Node binary running
 * the tests and the shared libraries `ldd` lists for it, plus busybox.
 */
export async function buildNodeScriptImage(
  docker: Dockerode,
  tag: string,
  namespace: string,
  script: string,
): Promise<string> {
  const files: Record<string, Uint8Array | string> = {
    'rootfs/usr/local/bin/node': readFileSync(process.execPath),
    'rootfs/app/tool.mjs': script,
  };
  const libraries = await sharedLibraries(process.execPath);
  for (const library of libraries) files[`rootfs${library}`] = readFileSync(realpathSync(library));
  return buildImage(docker, tag, {
    labels: { [NAMESPACE_LABEL]: namespace },
    files,
    dockerfile: [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'COPY rootfs /',
      // The build context's files arrive as 0644; the binary and its loader must be executable.
      `RUN chmod 755 /usr/local/bin/node ${libraries.join(' ')}`,
      'CMD ["/usr/local/bin/node", "/app/tool.mjs"]',
      '',
    ].join('\n'),
  });
}
