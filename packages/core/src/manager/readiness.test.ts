import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamPool } from '../upstream/pool.ts';
import {
  PROBE_FAST_INTERVAL_MS,
  PROBE_FAST_PHASE_MS,
  PROBE_MAX_INTERVAL_MS,
  PROBE_MIN_INTERVAL_MS,
  probeInterval,
  probeReadiness,
} from './readiness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('probeInterval', () => {
  it('probes every 20-50 ms for the first 10 s, then backs off to once a second', () => {
    expect(probeInterval(0)).toBe(PROBE_MIN_INTERVAL_MS);
    expect(probeInterval(400)).toBe(PROBE_MIN_INTERVAL_MS);
    expect(probeInterval(1000)).toBe(40);
    expect(probeInterval(2500)).toBe(PROBE_FAST_INTERVAL_MS);
    expect(probeInterval(PROBE_FAST_PHASE_MS - 1)).toBe(PROBE_FAST_INTERVAL_MS);
    expect(probeInterval(PROBE_FAST_PHASE_MS + 2500)).toBe(150);
    expect(probeInterval(33_500)).toBe(PROBE_MAX_INTERVAL_MS - 10);
    expect(probeInterval(600_000)).toBe(PROBE_MAX_INTERVAL_MS);
  });

  it('never jumps: each pause is within a few ms of the one before', () => {
    let previous = probeInterval(0);
    for (let t = 0; t < 60_000; t += previous) {
      const next = probeInterval(t);
      expect(Math.abs(next - previous)).toBeLessThanOrEqual(PROBE_MAX_INTERVAL_MS * (1 / 25) + 1);
      previous = next;
    }
  });

  it('keeps a slow tool to a few hundred probes over its first 35 s', () => {
    let probes = 0;
    for (let t = 0; t < 35_000; t += probeInterval(t)) probes++;
    expect(probes).toBeGreaterThan(200);
    expect(probes).toBeLessThan(320);
  });
});

/** A port where nothing listens yet, and a way to start listening there. */
async function laterServer(): Promise<{ port: number; listen: () => Promise<Server> }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return {
    port,
    listen: async () => {
      const server = createServer((_req, res) => res.end('ok'));
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      cleanups.push(() => server.closeAllConnections());
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return server;
    },
  };
}

describe('probeReadiness', () => {
  it('keeps probing a refused port and answers on the attempt after the tool listens', async () => {
    const { port, listen } = await laterServer();
    const pool = new UpstreamPool('127.0.0.1', port);
    cleanups.push(() => pool.close());
    const failed: number[] = [];
    const ready = await probeReadiness(pool, '/', {
      deadline: Date.now() + 30_000,
      signal: AbortSignal.timeout(30_000),
      onAttempt: (attempt) => {
        failed.push(attempt);
        if (attempt === 5) void listen();
      },
    });
    expect(ready).toBe(true);
    // Attempts 1-5 were refused; the 6th, or one soon after (listen() is asynchronous), found it.
    expect(failed.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(failed.length).toBeLessThanOrEqual(6);
  });

  it('gives up at the deadline and when the signal aborts', async () => {
    const { port } = await laterServer();
    const pool = new UpstreamPool('127.0.0.1', port);
    cleanups.push(() => pool.close());
    expect(
      await probeReadiness(pool, '/', { deadline: Date.now() + 100, signal: new AbortController().signal }),
    ).toBe(false);
    const stop = new AbortController();
    const probing = probeReadiness(pool, '/', {
      deadline: Date.now() + 30_000,
      signal: stop.signal,
      onAttempt: (attempt) => {
        if (attempt === 2) stop.abort();
      },
    });
    expect(await probing).toBe(false);
  });
});
