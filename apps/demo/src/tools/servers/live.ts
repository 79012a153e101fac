/**
 * The live tool: a shared counter and an echo chat over a WebSocket (`ws`, relative to the
 * tool's own URL), spoken with a hand-written RFC 6455 handshake and framing because the image
 * holds nothing but Node. It also keeps its own cookie (`live_visits`), to show that the proxy
 * and the demo's login leave a tool's cookies alone.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  escapeHtml,
  inputSection,
  log,
  readInput,
  serveInputJson,
  startServer,
  toolPage,
} from './toolkit.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE_BYTES = 64 * 1024;

const received = await readInput();
const greeting = String(received.input.parameters?.greeting ?? 'Hello from the live tool');
let count = 0;
const clients = new Set<Duplex>();

const script = `
const status = document.getElementById('status');
const counter = document.getElementById('count');
const peers = document.getElementById('clients');
const messages = document.getElementById('messages');
const url = new URL('ws', location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
const socket = new WebSocket(url);
socket.onopen = () => { status.textContent = 'connected'; document.body.dataset.ws = 'open'; };
socket.onclose = () => { status.textContent = 'disconnected'; document.body.dataset.ws = 'closed'; };
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.type === 'state') { counter.textContent = message.count; peers.textContent = message.clients; }
  if (message.type === 'echo') {
    const item = document.createElement('li');
    item.textContent = message.at + ' echo: ' + message.text;
    messages.append(item);
  }
};
document.getElementById('increment').onclick = () => socket.send(JSON.stringify({ type: 'increment' }));
document.getElementById('say').onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById('text');
  if (input.value) socket.send(JSON.stringify({ type: 'say', text: input.value }));
  input.value = '';
};`;

function page(visits: number, cookieNames: readonly string[]): string {
  return toolPage({
    title: 'Live counter',
    accent: '#1f8a5b',
    body: `<section aria-labelledby="live-heading">
<h2 id="live-heading">${escapeHtml(greeting)}</h2>
<p>WebSocket: <strong id="status" role="status">connecting…</strong> · clients connected: <span id="clients">0</span></p>
<p>Shared counter: <strong id="count" data-testid="count">${count}</strong> <button id="increment" type="button">+1</button></p>
<form id="say"><label for="text">Message</label> <input id="text" autocomplete="off"> <button type="submit">Send</button></form>
<ul id="messages" aria-live="polite"></ul>
<p data-testid="visits">This browser opened this tool ${visits} time${visits === 1 ? '' : 's'} (the tool's own cookie <code>live_visits</code>).</p>
<p data-testid="cookies">Cookies this tool received: ${cookieNames.length === 0 ? 'none' : cookieNames.map((name) => `<code>${escapeHtml(name)}</code>`).join(' ')}</p>
</section>
${inputSection(received)}`,
    script,
  });
}

const server = startServer('live', (req, res) => {
  if (serveInputJson(req.url, received, res)) return;
  const cookie = req.headers.cookie ?? '';
  const visits = Number(/(?:^|;\s*)live_visits=(\d+)/.exec(cookie)?.[1] ?? 0) + 1;
  const cookieNames = cookie
    .split(';')
    .map((part) => part.split('=')[0]?.trim() ?? '')
    .filter((name) => name !== '');
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'set-cookie': `live_visits=${visits}; Path=/; HttpOnly; SameSite=Lax`,
  });
  res.end(page(visits, cookieNames));
});

server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
  const key = req.headers['sec-websocket-key'];
  socket.on('error', () => socket.destroy());
  if (
    req.url?.split('?')[0] !== '/ws' ||
    typeof key !== 'string' ||
    req.headers.upgrade?.toLowerCase() !== 'websocket'
  ) {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
  );
  clients.add(socket);
  log('live', `WebSocket opened (${clients.size} connected)`);
  socket.on('close', () => {
    clients.delete(socket);
    log('live', `WebSocket closed (${clients.size} connected)`);
    broadcastState();
  });
  readFrames(socket, head, (text) => onMessage(socket, text));
  broadcastState();
});

function onMessage(socket: Duplex, text: string): void {
  let message: { type?: unknown; text?: unknown };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return;
  }
  if (message.type === 'increment') {
    count += 1;
    log('live', `counter is now ${count}`);
    broadcastState();
  } else if (message.type === 'say' && typeof message.text === 'string') {
    const echo = {
      type: 'echo',
      text: message.text.slice(0, 500),
      at: new Date().toISOString().slice(11, 19),
    };
    socket.write(encodeFrame(0x1, Buffer.from(JSON.stringify(echo))));
  }
}

function broadcastState(): void {
  const frame = encodeFrame(
    0x1,
    Buffer.from(JSON.stringify({ type: 'state', count, clients: clients.size })),
  );
  for (const client of clients) client.write(frame);
}

/** Reads client frames; calls `onText` per text message; answers ping and close. */
function readFrames(socket: Duplex, head: Buffer, onText: (text: string) => void): void {
  let pending = head;
  const onData = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const frame = parseFrame(pending);
      if (frame === undefined) return;
      if (frame === 'too-large') {
        socket.end(encodeFrame(0x8, Buffer.from([0x03, 0xf1]))); // 1009: message too big
        return;
      }
      pending = pending.subarray(frame.length);
      if (frame.opcode === 0x8) {
        socket.end(encodeFrame(0x8, frame.payload.subarray(0, 2)));
        return;
      }
      if (frame.opcode === 0x9) socket.write(encodeFrame(0xa, frame.payload));
      else if (frame.opcode === 0x1 && frame.fin) onText(frame.payload.toString('utf8'));
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(Buffer.alloc(0));
}

interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
  /** Bytes the frame took in the input. */
  readonly length: number;
}

/** One complete frame from the start of `buf`, undefined while incomplete. */
function parseFrame(buf: Buffer): Frame | 'too-large' | undefined {
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
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_MESSAGE_BYTES)) return 'too-large';
    size = Number(big);
    offset = 10;
  }
  if (size > MAX_MESSAGE_BYTES) return 'too-large';
  const masked = (b1 & 0x80) !== 0;
  const maskEnd = offset + (masked ? 4 : 0);
  if (buf.length < maskEnd + size) return undefined;
  const payload = Buffer.from(buf.subarray(maskEnd, maskEnd + size));
  if (masked) {
    for (let i = 0; i < payload.length; i += 1) {
      payload[i] = (payload[i] as number) ^ (buf[offset + (i % 4)] as number);
    }
  }
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload, length: maskEnd + size };
}

/** A single unmasked frame (servers never mask). */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const header =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : payload.length < 65_536
        ? Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff])
        : (() => {
            const big = Buffer.alloc(10);
            big[0] = 0x80 | opcode;
            big[1] = 127;
            big.writeBigUInt64BE(BigInt(payload.length), 2);
            return big;
          })();
  return Buffer.concat([header, payload]);
}
