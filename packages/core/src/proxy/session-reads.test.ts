// readThrough against real loopback sockets: a socket a server accepted reads into reused buffers.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { testCleanups } from '../../test/servers.ts';
import { OWN_READ_BYTES, readThrough, SessionReader } from './session-reads.ts';

const cleanups = testCleanups();

/** An accepted socket (paused, as the proxy holds a client's) and the client connected to it. */
async function acceptedPair(): Promise<{ accepted: Socket; client: Socket; model: Socket }> {
  const server: Server = createServer({ pauseOnConnect: true });
  const accepted: Socket[] = [];
  const both = new Promise<void>((resolve) =>
    server.on('connection', (socket: Socket) => {
      if (accepted.push(socket) === 2) resolve();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  // A socket connected with `onread`, as the proxy's socket to the container is.
  const model = connect({ host: '127.0.0.1', port, onread: new SessionReader() });
  const client = connect({ host: '127.0.0.1', port });
  await Promise.all([both, new Promise((resolve) => client.once('connect', resolve))]);
  const mine = accepted.find((socket) => socket.remotePort === client.localPort) as Socket;
  cleanups.push(() => {
    for (const socket of [model, client, ...accepted]) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { accepted: mine, client, model };
}

interface Read {
  readonly bytes: Buffer;
  readonly shared: boolean;
  /** The memory the read landed in. */
  readonly memory: ArrayBufferLike;
}

function recorder(reader: SessionReader, pauseAfter = Number.POSITIVE_INFINITY): Read[] {
  const reads: Read[] = [];
  reader.onRead = (chunk, shared) => {
    reads.push({ bytes: Buffer.from(chunk), shared, memory: chunk.buffer });
    return reads.length < pauseAfter;
  };
  return reads;
}

const received = (reads: readonly Read[]): number => reads.reduce((sum, read) => sum + read.bytes.length, 0);

describe('readThrough', () => {
  it('reads a streaming socket into one buffer of its own, reused for every read', async () => {
    const { accepted, client, model } = await acceptedPair();
    const reader = new SessionReader();
    const reads = recorder(reader);
    expect(readThrough(accepted, reader, model)).toBe(true);
    const sent = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < sent.length; i += 4) sent.writeUInt32BE(i, i);
    client.write(sent);
    await expect.poll(() => received(reads), { timeout: 5000 }).toBe(sent.length);
    expect(Buffer.concat(reads.map((read) => read.bytes)).equals(sent)).toBe(true);
    const own = reads.filter((read) => !read.shared);
    // Node's own reads would each land in a fresh ArrayBuffer of at most 64 KiB.
    expect(own.length).toBeGreaterThan(1);
    expect(new Set(own.map((read) => read.memory)).size).toBe(1);
    expect(own[0]?.memory.byteLength).toBe(OWN_READ_BYTES);
    expect(Math.max(...own.map((read) => read.bytes.length))).toBeGreaterThan(64 * 1024);
    // The stream's own data events stay silent: every byte went through the reader.
    expect(accepted.readableLength).toBe(0);
  });

  it('lets the own buffer go once the session is back to small reads, and takes one again for the next stream', async () => {
    const { accepted, client, model } = await acceptedPair();
    const reader = new SessionReader();
    const reads = recorder(reader);
    expect(readThrough(accepted, reader, model)).toBe(true);
    const stream = async (bytes: number) => {
      const before = received(reads);
      client.write(Buffer.alloc(bytes, 1));
      await expect.poll(() => received(reads), { timeout: 5000 }).toBe(before + bytes);
    };
    await stream(1024 * 1024);
    const firstOwn = reads.find((read) => !read.shared)?.memory;
    expect(firstOwn?.byteLength).toBe(OWN_READ_BYTES);
    // Chat: one small message at a time, each read on its own.
    for (let i = 0; i < 10; i++) await stream(100);
    const chat = reads.slice(-10);
    // The first ones still land in the own buffer; once it is let go, in the shared one.
    expect(chat.slice(0, 8).every((read) => read.memory === firstOwn)).toBe(true);
    expect(chat.slice(8).every((read) => read.shared)).toBe(true);
    await stream(1024 * 1024);
    const secondOwn = reads.slice(-3).find((read) => !read.shared)?.memory;
    expect(secondOwn?.byteLength).toBe(OWN_READ_BYTES);
    expect(secondOwn).not.toBe(firstOwn);
  });

  it('passes on first what the socket had buffered before the switch, then reads the rest', async () => {
    const { accepted, client, model } = await acceptedPair();
    accepted.resume();
    accepted.pause();
    client.write('early bytes');
    await expect.poll(() => accepted.readableLength).toBe(11);
    const reader = new SessionReader();
    const reads = recorder(reader);
    expect(readThrough(accepted, reader, model)).toBe(true);
    expect(reads.map((read) => String(read.bytes))).toEqual(['early bytes']);
    expect(reads[0]?.shared).toBe(true);
    client.write('later');
    await expect.poll(() => reads.map((read) => String(read.bytes))).toEqual(['early bytes', 'later']);
  });

  it('stops reading while the handler says so, until the socket is resumed', async () => {
    const { accepted, client, model } = await acceptedPair();
    const reader = new SessionReader();
    const reads = recorder(reader, 1);
    expect(readThrough(accepted, reader, model)).toBe(true);
    client.write('one');
    await expect.poll(() => reads.length).toBe(1);
    client.write('two');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reads).toHaveLength(1);
    accepted.resume();
    await expect.poll(() => reads.map((read) => String(read.bytes))).toEqual(['one', 'two']);
  });

  it('still ends: the end of the client reaches the socket as an end event', async () => {
    const { accepted, client, model } = await acceptedPair();
    const reader = new SessionReader();
    const reads = recorder(reader);
    expect(readThrough(accepted, reader, model)).toBe(true);
    const ended = new Promise<void>((resolve) => accepted.once('end', resolve));
    client.end('last');
    await ended;
    expect(reads.map((read) => String(read.bytes))).toEqual(['last']);
  });

  it('leaves a stream that is no net.Socket alone, for the caller to pipe', async () => {
    const { accepted, model } = await acceptedPair();
    const wrapped = Duplex.from({ readable: accepted, writable: accepted });
    wrapped.on('error', () => {}); // a premature close when the test's sockets are cut
    const reader = new SessionReader();
    const reads = recorder(reader);
    expect(readThrough(wrapped, reader, model)).toBe(false);
    expect(reads).toHaveLength(0);
  });
});
