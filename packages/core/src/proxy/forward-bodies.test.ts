import { randomBytes } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { describe, expect, it } from 'vitest';
import { testCleanups } from '../../test/servers.ts';
import { ContainerManager } from '../manager/container-manager.ts';
import { pathRouter } from '../routing/path-router.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import { createProxy } from './create-proxy.ts';

// Large response bodies reach the client as views of the upstream connection's read buffer
// when `res` writes as Node's own does, and as copies when the application wrapped its writes.
// Bodies are random bytes: a buffer overwritten before its write left shows as a mismatch.

const cleanups = testCleanups();
const { listen } = cleanups;

const body = randomBytes(16 * 1024 * 1024);

/** Serves `body` with a length (`/length`) or chunked, in writes of varied sizes. */
function serveBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/') {
    res.end('ready');
    return;
  }
  if (req.url === '/length') res.setHeader('content-length', body.length);
  let at = 0;
  let round = 0;
  const write = (): void => {
    while (at < body.length) {
      const size = [1, 700, 20_000, 65_536, 200_000][round++ % 5] as number;
      const piece = body.subarray(at, at + size);
      at += piece.length;
      if (!res.write(piece)) {
        res.once('drain', write);
        return;
      }
    }
    res.end();
  };
  write();
}

/** A proxy in front of a tool serving {@link body}; `app` may wrap `res` first, as middleware does. */
async function proxyPort(app: (res: ServerResponse) => void = () => {}): Promise<number> {
  const backend = new MemoryBackend({ namespace: 'bodies-unit' });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, negativeCacheMs: 0 });
  cleanups.push(() => manager.close());
  await manager.start();
  const proxy = createProxy({ manager, router: pathRouter() });
  cleanups.push(() => proxy.close());
  const toolPort = await listen(createServer(serveBody));
  backend.setUpstream('big', { host: '127.0.0.1', port: toolPort });
  backend.add({ name: 'big' });
  await manager.waitUntilReady('big', { signal: AbortSignal.timeout(3000) });
  return listen(
    createServer((req, res) => {
      app(res);
      proxy.handleRequest(req, res, () => res.end('not proxied'));
    }),
  );
}

/**
 * GETs `path` on `agent`'s connection, reading slowly: stops for a while after every 3 MB, long
 * enough for the kernel's buffers to fill and the proxy's writes to queue.
 */
function slowGet(
  port: number,
  path: string,
  agent: Agent,
): Promise<{ headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let nextStop = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= nextStop) {
          nextStop += 3 * 1024 * 1024;
          res.pause();
          setTimeout(() => res.resume(), 100);
        }
      });
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return agent;
}

describe('forwarding large response bodies', () => {
  it('delivers them intact to a slow client, with a length and chunked, one after another on one connection', async () => {
    const port = await proxyPort();
    const agent = keepAliveAgent();
    let sockets = 0;
    agent.on('free', () => sockets++);
    const withLength = await slowGet(port, '/docker/big/length', agent);
    expect(withLength.headers['content-length']).toBe(String(body.length));
    expect(withLength.body.equals(body)).toBe(true);
    const chunked = await slowGet(port, '/docker/big/chunked', agent);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.body.equals(body)).toBe(true);
    expect((await slowGet(port, '/docker/big/length', agent)).body.equals(body)).toBe(true);
    expect(sockets).toBe(3); // the same kept-alive connection, freed after each response
  });

  it("copies the pieces for an application whose writes keep them past the call (as compression's do)", async () => {
    // Writes and the end are carried out later, in order, holding the pieces meanwhile.
    const port = await proxyPort((res) => {
      const queue: (() => void)[] = [];
      const later = (run: () => void): void => {
        if (queue.push(run) === 1) setImmediate(flush);
      };
      const flush = (): void => {
        for (const run of queue.splice(0)) run();
      };
      const { write, end } = res;
      res.write = ((...args: Parameters<typeof write>) => {
        later(() => write.apply(res, args));
        return true;
      }) as typeof write;
      res.end = ((...args: Parameters<typeof end>) => {
        later(() => end.apply(res, args));
        return res;
      }) as typeof end;
    });
    const agent = keepAliveAgent();
    expect((await slowGet(port, '/docker/big/length', agent)).body.equals(body)).toBe(true);
    expect((await slowGet(port, '/docker/big/chunked', agent)).body.equals(body)).toBe(true);
  });

  it("keeps the last piece intact while an application's wrapped end holds it (as express-session's does), across responses", async () => {
    const port = await proxyPort((res) => {
      const { end } = res;
      res.end = ((...args: Parameters<typeof end>) => {
        setTimeout(() => end.apply(res, args), 20);
        return res;
      }) as typeof end;
    });
    const agent = keepAliveAgent();
    expect((await slowGet(port, '/docker/big/length', agent)).body.equals(body)).toBe(true);
    expect((await slowGet(port, '/docker/big/length', agent)).body.equals(body)).toBe(true);
  });
});
