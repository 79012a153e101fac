import { connect, type Socket } from 'node:net';
import {
  buildFaultToolImage,
  cleanupNamespace,
  describeWithDocker,
  eventually,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultStack, faultStack, getRequest, headRead, rawExchange } from './fault-stack.ts';

// A flood of clients dripping bodies too large to buffer: each would hold a connection to the
// tool while it drips. The pool caps them per container, queues a bounded number, and turns the
// rest away with a prompt 503; another container's clients never notice.
const namespace = uniqueNamespace('flt-cap');
const image = `dde-flt-cap:${namespace}`;
const CAP = 32;
const QUEUE = 100;
const CLIENTS = 1_000;
/**
 * How soon an overflowing request must be refused: it is refused when dispatched, not after the
 * queue's wait (`upstreamTimeoutMs`, 60 s here); the margin is for a loaded 2-core machine
 * accepting a thousand connections.
 */
const PROMPT_MS = 15_000;
const QUEUE_WAIT_MS = 60_000;

await describeWithDocker('fault suite: connection cap', (docker) => {
  let stack: FaultStack;
  const busy = `${namespace}-busy`;
  const calm = `${namespace}-calm`;

  beforeAll(async () => {
    await buildFaultToolImage(docker, image, namespace);
    stack = await faultStack(
      namespace,
      image,
      { upstreamTimeoutMs: QUEUE_WAIT_MS },
      { connections: CAP, maxQueuedRequests: QUEUE },
    );
    await Promise.all([stack.launch(busy), stack.launch(calm)]);
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
    await cleanupNamespace(docker, namespace);
  }, 60_000);

  it(`${CLIENTS} slow-body clients open at most ${CAP} connections to one container; the overflow gets 503 at once`, async () => {
    const sockets: Socket[] = [];
    try {
      // Bodies of 128 KiB, above requestBufferBytes (64 KiB): they stream, so each dispatched
      // request holds a connection to the tool until its body is complete.
      const open = (): Promise<{ head: string; ms: number }> => {
        const socket = connect(stack.port, '127.0.0.1');
        sockets.push(socket);
        const started = Date.now();
        return new Promise<{ head: string; ms: number }>((resolve) => {
          let text = '';
          socket.on('data', (chunk) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n')) resolve({ head: text, ms: Date.now() - started });
          });
          socket.on('error', () => resolve({ head: text, ms: Date.now() - started }));
          socket.on('close', () => resolve({ head: text, ms: Date.now() - started }));
          socket.write(
            `POST /docker/${busy}/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${128 * 1024}\r\n\r\nxxxx`,
          );
        });
      };
      // In batches of 100, so the tests sharing these 2 cores see a flood, not a stall.
      const replies: Promise<{ head: string; ms: number }>[] = [];
      for (let batch = 0; batch < CLIENTS / 100; batch++) {
        for (let index = 0; index < 100; index++) replies.push(open());
        await sleep(100);
      }
      const overflow = CLIENTS - CAP - QUEUE;
      // The overflow is answered while every body still drips.
      const answered: { head: string; ms: number }[] = [];
      for (const reply of replies) void reply.then((answer) => answered.push(answer));
      const deadline = Date.now() + PROMPT_MS;
      while (answered.length < overflow && Date.now() < deadline) await sleep(50);
      // No more than the overflow: the queued and connected ones still wait for their bodies.
      await sleep(200);
      const refused = answered.slice();
      expect(refused).toHaveLength(overflow);
      for (const answer of refused) {
        expect(answer.head).toMatch(/^HTTP\/1\.1 503 /);
        expect(answer.head).toMatch(/\r\nretry-after: 1\r\n/i);
        expect(answer.head).toMatch(/all its connections in use/);
        expect(answer.ms).toBeLessThan(PROMPT_MS);
      }
      const pool = stack.manager.get(busy)?.pool;
      expect(pool?.stats).toMatchObject({ connections: CAP, queued: QUEUE });
      // A normal client of another container is served at once meanwhile.
      const other = await rawExchange(stack.port, getRequest(calm, '/id/calm'), {
        timeoutMs: 2_000,
        until: (bytes) => bytes.toString('latin1').endsWith('calm'),
      });
      expect(other.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200[\s\S]*\r\n\r\ncalm$/);
      expect(other.ms).toBeLessThan(1_000);
      // The tool's own count: never more than the cap open at once (this last request included).
      for (const socket of sockets) socket.destroy();
      await eventually(
        () => ((pool?.stats.connections ?? 0) + (pool?.stats.queued ?? 0) === 0 ? true : undefined),
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      const conns = await rawExchange(stack.port, getRequest(busy, '/conns'), {
        timeoutMs: 5_000,
        until: (bytes) => headRead(bytes) && bytes.toString('latin1').endsWith('}'),
      });
      const { peak } = JSON.parse(conns.bytes.toString('latin1').split('\r\n\r\n')[1] ?? '{}');
      process.stdout.write(
        `connection cap: ${CLIENTS} slow clients -> ${CAP} connections, ${QUEUE} queued, ` +
          `${refused.length} refused with 503 (slowest after ${Math.max(...refused.map((r) => r.ms))} ms); ` +
          `tool peak ${peak}; other container answered in ${other.ms} ms\n`,
      );
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(CAP);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 120_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
