/**
 * Large transfers, in a process of its own, one after another (never concurrently): the time
 * each takes, from the request (or the open WebSocket) to the last byte. Prints one JSON line
 * `{"seconds":[...],"bytes":n}`. Argument: `{"url":...,"mode":...,"bytes":...,"repeats":...}` with
 * mode `download` | `upload` (HTTP, against the upstream's `?download=` / `?upload`),
 * `ws-stream` (the upstream's `?source=` WebSocket) or `ws-frame` (one binary frame echoed).
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import type { TransferMode } from './transfer.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  mode: TransferMode;
  bytes: number;
  repeats: number;
};
const BLOCK = Buffer.alloc(64 * 1024, 'u');

function withQuery(url: string, query: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

function fail(what: string): never {
  throw new Error(`${options.mode} through ${options.url}: ${what}`);
}

/** GET `?download=<bytes>`; resolves once every byte arrived. */
function download(): Promise<void> {
  return new Promise((resolve, reject) => {
    request(withQuery(options.url, `download=${options.bytes}`), { agent: false }, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200 || received !== options.bytes) {
          reject(new Error(`status ${res.statusCode}, ${received} of ${options.bytes} bytes`));
        } else resolve();
      });
    })
      .on('error', reject)
      .end();
  });
}

/** POSTs `bytes` bytes to `?upload`; resolves once the upstream says it read them all. */
function upload(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      withQuery(options.url, 'upload'),
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream', 'content-length': options.bytes },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const read = res.statusCode === 200 ? (JSON.parse(body) as { bytes: number }).bytes : -1;
          if (read !== options.bytes) reject(new Error(`status ${res.statusCode}: ${body.slice(0, 200)}`));
          else resolve();
        });
      },
    );
    req.on('error', reject);
    let left = options.bytes;
    const more = (): void => {
      while (left > 0) {
        const block = left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
        left -= block.length;
        if (!req.write(block)) {
          req.once('drain', more);
          return;
        }
      }
      req.end();
    };
    more();
  });
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Opens a `?source=<bytes>` WebSocket; resolves once every byte and the close arrived. */
async function wsStream(): Promise<void> {
  const ws = new WebSocket(withQuery(options.url, `source=${options.bytes}`), {
    perMessageDeflate: false,
  });
  let received = 0;
  ws.on('message', (data: Buffer) => {
    received += data.length;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', () =>
      received === options.bytes ? resolve() : reject(new Error(`${received} of ${options.bytes} bytes`)),
    );
  });
}

async function main(): Promise<void> {
  const seconds: number[] = [];
  let socket: WebSocket | undefined;
  const frame = options.mode === 'ws-frame' ? Buffer.alloc(options.bytes, 'f') : undefined;
  if (frame) socket = await open(options.url);
  for (let i = 0; i < options.repeats; i++) {
    const started = process.hrtime.bigint();
    if (options.mode === 'download') await download();
    else if (options.mode === 'upload') await upload();
    else if (options.mode === 'ws-stream') await wsStream();
    else if (socket && frame) {
      const ws = socket;
      const echoed = new Promise<Buffer>((resolve, reject) => {
        ws.once('message', resolve);
        ws.once('close', () => reject(new Error('closed before the echo')));
      });
      ws.send(frame, { binary: true });
      if ((await echoed).length !== frame.length) fail('the echo has the wrong length');
    } else fail('unknown mode');
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  socket?.terminate();
  process.stdout.write(`${JSON.stringify({ seconds, bytes: options.bytes })}\n`);
}

await main();
process.exit(0);
