import type Dockerode from 'dockerode';
import { buildNodeScriptImage } from './tool-images.ts';

/**
 * A misbehaving HTTP/1.1 server on a raw socket, for fault tests: it answers what the request
 * path asks for, byte for byte, and keeps the connection open unless told otherwise.
 * - `/ok`: 200 `ok` (keep-alive); `/id/<x>`: 200 with the body `<x>`;
 * - `/raw/<base64url>`: those bytes exactly, then the connection stays open and serves the next
 *   request; `/raw-close/<base64url>`: the bytes, then the server closes;
 * - `/big`: an endless 200 download with a huge `Content-Length`, at the reader's pace;
 * - `/stall`: a 200 promising 100 bytes that sends 10, then nothing;
 * - `/sse`: a `text/event-stream` that sends one event, then idles;
 * - `/conns`: JSON `{ open, peak }` of the connections open now and at most (this one counted);
 * - a POST anywhere: 200 with the body's length (`Content-Length` or chunked bodies);
 * - an `Upgrade: websocket` request: `101`, then every byte comes back as sent (no framing).
 */
export const FAULT_TOOL_SCRIPT: string = String.raw`
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';

const open = new Set();
let peak = 0;

function answer(socket, status, body, extra = '') {
  socket.write('HTTP/1.1 ' + status + ' X\r\ncontent-length: ' + Buffer.byteLength(body) + '\r\n' + extra + '\r\n' + body);
}

createServer((socket) => {
  open.add(socket);
  peak = Math.max(peak, open.size);
  socket.on('close', () => open.delete(socket));
  socket.on('error', () => {});
  let buffer = Buffer.alloc(0);
  let tunnel = false;
  socket.on('data', (chunk) => {
    if (tunnel) {
      socket.write(chunk);
      return;
    }
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const [method, target] = (lines[0] ?? '').split(' ');
      const field = (name) => {
        const line = lines.find((l) => l.toLowerCase().startsWith(name + ':'));
        return line === undefined ? undefined : line.slice(name.length + 1).trim();
      };
      let used = end + 4;
      let bodyLength = 0;
      if (field('transfer-encoding') !== undefined) {
        const last = buffer.indexOf('\r\n0\r\n\r\n', end);
        if (last === -1 && buffer.indexOf('0\r\n\r\n', end + 4) !== end + 4) return;
        const stop = last === -1 ? end + 9 : last + 7;
        bodyLength = stop - used;
        used = stop;
      } else {
        bodyLength = Number(field('content-length') ?? 0);
        if (buffer.length < used + bodyLength) return;
        used += bodyLength;
      }
      buffer = buffer.subarray(used);
      const path = target ?? '/';
      if ((field('upgrade') ?? '').toLowerCase() === 'websocket') {
        const accept = createHash('sha1').update((field('sec-websocket-key') ?? '') + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ' + accept + '\r\n\r\n');
        tunnel = true;
        if (buffer.length > 0) socket.write(buffer);
        return;
      }
      if (method === 'POST') answer(socket, 200, 'length=' + bodyLength);
      else if (path === '/ok') answer(socket, 200, 'ok');
      else if (path.startsWith('/id/')) answer(socket, 200, path.slice(4));
      else if (path === '/conns') answer(socket, 200, JSON.stringify({ open: open.size, peak }), 'content-type: application/json\r\n');
      else if (path.startsWith('/raw/')) socket.write(Buffer.from(path.slice(5), 'base64url'));
      else if (path.startsWith('/raw-close/')) {
        socket.end(Buffer.from(path.slice(11), 'base64url'));
        return;
      } else if (path === '/big') {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100000000000\r\n\r\n');
        const block = Buffer.alloc(64 * 1024, 120);
        const pump = () => {
          while (!socket.destroyed && socket.write(block)) {}
        };
        socket.on('drain', pump);
        pump();
        return;
      } else if (path === '/stall') {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789');
        return;
      } else if (path === '/sse') {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n');
        return;
      } else answer(socket, 404, 'not found');
    }
  });
}).listen(80);
`;

/**
 * An image running {@link FAULT_TOOL_SCRIPT} on port 80 (see {@link buildNodeScriptImage}).
 */
export function buildFaultToolImage(docker: Dockerode, tag: string, namespace: string): Promise<string> {
  return buildNodeScriptImage(docker, tag, namespace, FAULT_TOOL_SCRIPT);
}
