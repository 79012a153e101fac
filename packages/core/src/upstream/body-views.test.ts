import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { testCleanups } from '../../test/servers.ts';
import type { DdeError } from '../errors.ts';
import type { Exchange, UpstreamRequest } from './exchange.ts';
import { UpstreamPool } from './pool.ts';

// A large body streams to a handler that takes views of the connection's own read buffer: no
// read may land in that buffer while a view of it is held. Each body is random bytes, so a view
// overwritten too early shows as a mismatch.

const cleanups = testCleanups();

/** A TCP server writing `responses[i]` whole for the i-th request on a connection; counts connections. */
async function server(
  responses: readonly Buffer[],
): Promise<{ port: number; opened: () => number; closed: () => number }> {
  let opened = 0;
  let closed = 0;
  const sockets = new Set<Socket>();
  const listener = createServer((socket) => {
    opened++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      closed++;
      sockets.delete(socket);
    });
    let index = 0;
    let head = '';
    socket.on('data', (data) => {
      head += data.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        head = head.slice(head.indexOf('\r\n\r\n') + 4);
        const response = responses[index++];
        if (response !== undefined) socket.write(response);
      }
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  );
  return { port: (listener.address() as AddressInfo).port, opened: () => opened, closed: () => closed };
}

function withLength(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

/** Chunked framing in pieces of `size` bytes: one read holds several of them. */
function chunked(body: Buffer, size: number): Buffer {
  const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function pool(port: number): UpstreamPool {
  const created = new UpstreamPool('127.0.0.1', port, {});
  cleanups.push(() => created.destroy());
  return created;
}

const request = (extra: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  method: 'GET',
  path: '/',
  headers: [],
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 0,
  ...extra,
});

interface Received {
  /** The body as read when each piece was released (a view read later than that is not trusted). */
  body: Buffer;
  views: number;
  copies: number;
}

/**
 * Receives a body taking views: `keep` says how long to hold each (ms; undefined: written at
 * once, released on the next tick as a write callback would), and the bytes are read only when
 * it is released, as a socket write would.
 */
function receive(
  target: UpstreamPool,
  keep: (index: number) => number | undefined,
  extra: Partial<UpstreamRequest> = {},
  onView?: (exchange: Exchange, index: number) => void,
): Promise<Received> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    let views = 0;
    let copies = 0;
    let pending = 0;
    let ended = false;
    const settle = (): void => {
      if (ended && pending === 0) resolve({ body: Buffer.concat(pieces), views, copies });
    };
    const exchange: Exchange = target.dispatch(request(extra), {
      takesViews: true,
      onResponseStart() {},
      onResponseData(chunk) {
        copies++;
        pieces.push(chunk);
        return true;
      },
      onResponseView(view, _last, release) {
        const index = views++;
        const slot = pieces.push(Buffer.alloc(0)) - 1;
        pending++;
        const ms = keep(index);
        const done = (): void => {
          pieces[slot] = Buffer.from(view);
          pending--;
          release();
          settle();
        };
        if (ms === undefined) {
          pieces[slot] = Buffer.from(view);
          process.nextTick(() => {
            pending--;
            release();
            settle();
          });
        } else setTimeout(done, ms);
        onView?.(exchange, index);
        return ms === undefined;
      },
      onResponseEnd() {
        ended = true;
        settle();
      },
      onResponseError: reject,
    });
  });
}

describe('UpstreamConnection: bodies as views of its own read buffer', () => {
  it('reads on only once every view of a large body is released', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const { port } = await server([withLength(body)]);
    const received = await receive(pool(port), (index) => (index % 3 === 0 ? 2 : 0));
    expect(received.views).toBeGreaterThan(10);
    expect(received.body.equals(body)).toBe(true);
  });

  it('waits for the last of several views of one read (chunked pieces), released in turn', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const { port } = await server([chunked(body, 5000)]);
    // Views of one read released one after another: resuming at the first would overwrite the rest.
    const received = await receive(pool(port), (index) => 1 + (index % 7));
    expect(received.views).toBeGreaterThan(100);
    expect(received.body.equals(body)).toBe(true);
  });

  it('reads on at once after views the handler is done with', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const { port } = await server([chunked(body, 40_000)]);
    const received = await receive(pool(port), () => undefined);
    expect(received.views).toBeGreaterThan(10);
    expect(received.body.equals(body)).toBe(true);
  });

  it('gives the next response on the connection a buffer of its own while a write still holds the last one', async () => {
    const first = randomBytes(1024 * 1024);
    const second = randomBytes(1024 * 1024);
    const { port, opened } = await server([withLength(first), withLength(second)]);
    const client = pool(port);
    // The first body's last view stays held until the second body has been read whole.
    let lastHeld: { view: Buffer; copy: Buffer; release: () => void } | undefined;
    const pieces: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      client.dispatch(request(), {
        takesViews: true,
        onResponseStart() {},
        onResponseData(chunk) {
          pieces.push(chunk);
          return true;
        },
        onResponseView(view, last, release) {
          pieces.push(Buffer.from(view));
          if (last) {
            lastHeld = { view, copy: Buffer.from(view), release };
            return false;
          }
          process.nextTick(release);
          return true;
        },
        onResponseEnd: resolve,
        onResponseError: reject,
      });
    });
    expect(Buffer.concat(pieces).equals(first)).toBe(true);
    expect(lastHeld).toBeDefined();
    const held = lastHeld as NonNullable<typeof lastHeld>;
    const received = await receive(client, () => 0);
    expect(opened()).toBe(1);
    expect(received.views).toBeGreaterThan(0);
    expect(received.body.equals(second)).toBe(true);
    // The held view still shows the first body's bytes: the second was read elsewhere.
    expect(held.view.equals(held.copy)).toBe(true);
    held.release(); // late: changes nothing
    expect(client.stats).toMatchObject({ connections: 1, idle: 1 });
  });

  it('closes the connection of an exchange aborted while views are held, and stays usable', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const { port, opened, closed } = await server([withLength(body), withLength(body)]);
    const client = pool(port);
    const releases: (() => void)[] = [];
    const failed: DdeError[] = [];
    await new Promise<void>((resolve) => {
      const exchange = client.dispatch(request(), {
        takesViews: true,
        onResponseStart() {},
        onResponseData: () => true,
        onResponseView(_view, _last, release) {
          releases.push(release); // held: never written
          setTimeout(() => {
            exchange.abort();
            resolve();
          }, 20);
          return false;
        },
        onResponseEnd() {
          throw new Error('no end after abort');
        },
        onResponseError: (error) => failed.push(error),
      });
    });
    expect(releases).toHaveLength(1); // reading stopped while it was held
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed()).toBe(1);
    for (const release of releases) release(); // late releases of an aborted exchange change nothing
    const received = await receive(client, () => 0);
    expect(received.body.equals(body)).toBe(true);
    expect(opened()).toBe(2);
    expect(failed).toEqual([]);
  });

  it('does not time a body out while the handler holds a view', async () => {
    const body = randomBytes(1024 * 1024);
    const { port } = await server([withLength(body)]);
    const received = await receive(pool(port), (index) => (index === 0 ? 400 : 0), { bodyTimeoutMs: 150 });
    expect(received.body.equals(body)).toBe(true);
  });
});
