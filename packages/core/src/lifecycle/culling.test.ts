import { describe, expect, it } from 'vitest';
import { selectForCulling } from './culling.ts';

const minute = 60_000;
const now = 100 * minute;

describe('selectForCulling', () => {
  it('culls containers idle for the timeout, counting start time when there was no activity', () => {
    const decisions = selectForCulling(
      [
        { name: 'idle', startedAtMs: 0, lastActivityMs: now - 31 * minute, openWebSockets: 0 },
        { name: 'active', startedAtMs: 0, lastActivityMs: now - 29 * minute, openWebSockets: 0 },
        { name: 'never-used', startedAtMs: now - 40 * minute, lastActivityMs: undefined, openWebSockets: 0 },
      ],
      { idleTimeoutMs: 30 * minute },
      now,
    );
    expect(decisions).toEqual([
      { name: 'idle', reason: 'idle' },
      { name: 'never-used', reason: 'idle' },
    ]);
  });

  it('keeps a container with an open WebSocket alive however old its last request', () => {
    expect(
      selectForCulling(
        [{ name: 'ws', startedAtMs: 0, lastActivityMs: 0, openWebSockets: 1 }],
        { idleTimeoutMs: minute },
        now,
      ),
    ).toEqual([]);
  });

  it('keeps a container alive while an HTTP exchange is in flight (a long download, SSE)', () => {
    expect(
      selectForCulling(
        [{ name: 'sse', startedAtMs: 0, lastActivityMs: 0, openWebSockets: 0, inFlightRequests: 1 }],
        { idleTimeoutMs: minute },
        now,
      ),
    ).toEqual([]);
  });

  it('protects young containers with the grace period', () => {
    expect(
      selectForCulling(
        [{ name: 'young', startedAtMs: now - 2 * minute, lastActivityMs: undefined, openWebSockets: 0 }],
        { idleTimeoutMs: minute, graceMs: 5 * minute },
        now,
      ),
    ).toEqual([]);
  });

  it('enforces the maximum lifetime regardless of activity', () => {
    expect(
      selectForCulling(
        [{ name: 'old', startedAtMs: 0, lastActivityMs: now, openWebSockets: 2 }],
        { maxLifetimeMs: 60 * minute },
        now,
      ),
    ).toEqual([{ name: 'old', reason: 'max-lifetime' }]);
  });

  it('culls nothing without a policy', () => {
    expect(
      selectForCulling([{ name: 'x', startedAtMs: 0, lastActivityMs: 0, openWebSockets: 0 }], {}, now),
    ).toEqual([]);
  });
});
