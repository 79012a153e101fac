import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets a burst of one second through, then paces calls at the rate', async () => {
    const bucket = new TokenBucket(20);
    const done: number[] = [];
    const takes = Array.from({ length: 30 }, (_, index) => bucket.take().then(() => done.push(index)));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toHaveLength(20);
    await vi.advanceTimersByTimeAsync(49);
    expect(done).toHaveLength(20);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toHaveLength(21);
    await vi.advanceTimersByTimeAsync(450);
    expect(done).toHaveLength(30);
    await Promise.all(takes);
    // First come, first served.
    expect(done).toEqual([...done].sort((a, b) => a - b));
  });

  it('refills while idle, up to its capacity only', async () => {
    const bucket = new TokenBucket(2, 2);
    await bucket.take();
    await bucket.take();
    await vi.advanceTimersByTimeAsync(10_000);
    let taken = 0;
    for (let index = 0; index < 3; index++) void bucket.take().then(() => taken++);
    await vi.advanceTimersByTimeAsync(0);
    expect(taken).toBe(2);
    await vi.advanceTimersByTimeAsync(500);
    expect(taken).toBe(3);
  });

  it('rejects a waiter whose signal aborts, and serves the next one in its place', async () => {
    const bucket = new TokenBucket(1, 1);
    await bucket.take();
    const controller = new AbortController();
    const aborted = bucket.take(controller.signal);
    const next = bucket.take();
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    let served = false;
    void next.then(() => {
      served = true;
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(served).toBe(true);
  });

  it('refuses at once when the signal already aborted', async () => {
    await expect(new TokenBucket(5).take(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
