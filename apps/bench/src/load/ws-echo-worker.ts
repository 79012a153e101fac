/**
 * WebSocket echo load, in a process of its own: `connections` clients each keep exactly one
 * message in flight (send, wait for the echo, send again). Prints one JSON line whose
 * `requestsPerSecond` counts round trips. Argument:
 * `{"url":...,"connections":...,"seconds":...,"warmupSeconds":...,"messageBytes":...}`.
 */
import WebSocket from 'ws';
import { percentile } from './percentile.ts';
import type { LoadResult } from './types.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  messageBytes: number;
};
const payload = Buffer.alloc(options.messageBytes, 'm');
const latencies: number[] = [];
let measuring = false;
let stopped = false;
let errors = 0;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const sockets = await Promise.all(Array.from({ length: options.connections }, () => open(options.url)));
for (const ws of sockets) {
  let sentAt = 0n;
  const send = () => {
    sentAt = process.hrtime.bigint();
    ws.send(payload);
  };
  ws.on('message', () => {
    if (measuring) latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
    if (!stopped) send();
  });
  ws.on('error', () => {
    errors++;
  });
  ws.on('close', () => {
    if (!stopped) errors++;
  });
  send();
}

await new Promise((resolve) => setTimeout(resolve, options.warmupSeconds * 1000));
measuring = true;
const started = process.hrtime.bigint();
await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
measuring = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
stopped = true;
for (const ws of sockets) ws.close();

latencies.sort((a, b) => a - b);
const result: LoadResult = {
  requestsPerSecond: latencies.length / seconds,
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  requests: latencies.length,
  errors,
  seconds,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
// Do not wait for every close handshake: the numbers are out.
process.exit(0);
