import { DdeError, isDdeError } from '@dde/core';
import { describeSharedStateConformance } from '@dde/core/testing';
import { redisAvailable, startRedis, type TestRedis } from '@dde/test-support';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.ts';

const available = redisAvailable();
let redis: TestRedis;
let run = 0;

describe.skipIf(!available)('RedisStore', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  describeSharedStateConformance('against a real Redis', async () => {
    const namespace = `rep-conformance-${++run}`;
    const a = new RedisStore({
      url: redis.url,
      namespace,
      maxRecordsPerContainer: 5,
      flushIntervalMs: 60_000,
    });
    const b = new RedisStore({
      url: redis.url,
      namespace,
      maxRecordsPerContainer: 5,
      flushIntervalMs: 60_000,
    });
    return {
      historyA: a.history,
      historyB: b.history,
      coordinationA: a.coordination,
      coordinationB: b.coordination,
      settle: async () => {
        await a.history.flush();
        await b.history.flush();
        await a.history.flush();
      },
      cleanup: async () => {
        await a.close();
        await b.close();
      },
    };
  });

  it('refuses bad options with the field named', () => {
    expect(() => new RedisStore({ url: 'http://x' })).toThrow(/url must be a redis:\/\//);
    expect(() => new RedisStore({ url: redis.url, flushIntervalMS: 5 } as never)).toThrow(
      /did you mean flushIntervalMs/,
    );
    expect(() => new RedisStore({ url: redis.url, namespace: 'Bad Name' })).toThrow(DdeError);
  });

  it('rejects start() with STATE_UNAVAILABLE naming the URL (password hidden) when Redis is unreachable', async () => {
    const store = new RedisStore({ url: 'redis://:secret@127.0.0.1:1', commandTimeoutMs: 500 });
    const error = await store.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isDdeError(error) && error.code).toBe('STATE_UNAVAILABLE');
    expect(String((error as Error).message)).toMatch(/127\.0\.0\.1:1/);
    expect(String((error as Error).message)).not.toMatch(/secret/);
    await store.close();
  });

  it('a lock whose holder died is free once its expiry passes', async () => {
    const namespace = `rep-lock-${++run}`;
    const store = new RedisStore({ url: redis.url, namespace });
    await store.start();
    // What a holder that crashed leaves behind: the key, with the expiry it last renewed.
    const raw = new Redis(redis.url);
    await raw.set(`${store.prefix}lock:admission`, 'dead-instance:token', 'PX', 400);
    await raw.quit();
    expect(await store.coordination.withLock('admission', async () => 1, { ttlMs: 1000, waitMs: 0 })).toEqual(
      {
        ran: false,
      },
    );
    const started = Date.now();
    const outcome = await store.coordination.withLock('admission', async () => 2, {
      ttlMs: 1000,
      waitMs: 3000,
    });
    expect(outcome).toEqual({ ran: true, value: 2 });
    expect(Date.now() - started).toBeLessThan(1000);
    await store.close();
  });

  it('numbers a new queue ticket after those that came back once Redis lost its data (a restart without persistence)', async () => {
    const namespace = `rep-queue-${++run}`;
    const a = new RedisStore({ url: redis.url, namespace });
    const b = new RedisStore({ url: redis.url, namespace });
    await a.start();
    await b.start();
    for (const name of ['q1', 'q2', 'q3']) await a.coordination.enqueue(name, 5000);
    const { ticket: waiting } = await a.coordination.enqueue('early', 5000);
    // What a restart without persistence leaves of the queue and its counter: nothing.
    const raw = new Redis(redis.url);
    await raw.del(`${a.prefix}queue`, `${a.prefix}queue-seq`);
    await raw.quit();
    // The waiting instance's renewal puts its ticket back, with its number.
    expect((await a.coordination.renewQueue([waiting], 5000)).map((ticket) => ticket.name)).toEqual([
      'early',
    ]);
    const { ticket, queue } = await b.coordination.enqueue('late', 5000);
    expect(ticket.seq).toBeGreaterThan(waiting.seq);
    expect(queue.map((queued) => queued.name)).toEqual(['early', 'late']);
    expect((await b.coordination.admissionState()).queue.map((queued) => queued.name)).toEqual([
      'early',
      'late',
    ]);
    await a.close();
    await b.close();
  });

  it('a live holder keeps its lock past the ttl by renewing it', async () => {
    const namespace = `rep-renew-${++run}`;
    const a = new RedisStore({ url: redis.url, namespace });
    const b = new RedisStore({ url: redis.url, namespace });
    await a.start();
    await b.start();
    const held = a.coordination.withLock('cull', () => new Promise((resolve) => setTimeout(resolve, 700)), {
      ttlMs: 200,
      waitMs: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(await b.coordination.withLock('cull', async () => 1, { ttlMs: 200, waitMs: 0 })).toEqual({
      ran: false,
    });
    expect((await held).ran).toBe(true);
    expect((await b.coordination.withLock('cull', async () => 1, { ttlMs: 200, waitMs: 0 })).ran).toBe(true);
    await a.close();
    await b.close();
  });
});
