import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Coordination, Reservation } from '../coordination/coordination.ts';
import type { ActivityRecord, History } from '../history/history.ts';

/** Two instances' views of one shared state, as {@link describeSharedStateConformance} needs them. */
export interface SharedStateFixture {
  /** The history of instance A, keeping at most 5 records per container. */
  readonly historyA: History;
  /** The history of instance B over the same store (may be the same object for an in-process store). */
  readonly historyB: History;
  /** The coordination of instance A. */
  readonly coordinationA: Coordination;
  /** The coordination of instance B, sharing A's state. */
  readonly coordinationB: Coordination;
  /** Makes what each history recorded visible to the other (flushes buffers); no-op in memory. */
  settle(): Promise<void>;
  /** Closes everything and deletes what the suite stored. */
  cleanup(): Promise<void>;
}

function http(time: number, path: string, durationMs = 5): ActivityRecord {
  return { type: 'http', time, method: 'GET', path, status: 200, bytesIn: 1, bytesOut: 2, durationMs };
}

function reservation(name: string, overrides: Partial<Reservation> = {}): Reservation {
  return { name, specHash: 'h1', owner: 'alice', memoryReservationMb: 64, starting: true, ...overrides };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The contract of the state several instances share ({@link History} and {@link Coordination}),
 * as a vitest suite: `MemoryHistory`/`MemoryCoordination` and every shared store (e.g. Redis)
 * must pass it. `setup` gives two instances' views of one fresh, empty state.
 */
export function describeSharedStateConformance(
  title: string,
  setup: () => Promise<SharedStateFixture>,
): void {
  describe(title, () => {
    let fixture: SharedStateFixture;
    beforeEach(async () => {
      fixture = await setup();
      await fixture.coordinationA.start();
      await fixture.coordinationB.start();
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('shares records: what A records, B queries in chronological order', async () => {
      const { historyA, historyB } = fixture;
      historyA.record('c1', http(2000, '/2'));
      historyB.record('c1', http(1000, '/1'));
      historyA.record('c2', http(1500, '/other'));
      await fixture.settle();
      for (const history of [historyA, historyB]) {
        expect((await history.query('c1')).map((record) => record.path)).toEqual(['/1', '/2']);
        expect((await history.query('c2')).map((record) => record.path)).toEqual(['/other']);
        expect(await history.query('none')).toEqual([]);
      }
    });

    it('filters by since, keeps the latest `limit`, and retains at most 5 records per container', async () => {
      const { historyA, historyB } = fixture;
      for (let index = 0; index < 8; index++) historyA.record('c1', http(1000 + index * 100, `/${index}`));
      await fixture.settle();
      expect((await historyB.query('c1')).map((record) => record.path)).toEqual([
        '/3',
        '/4',
        '/5',
        '/6',
        '/7',
      ]);
      expect((await historyB.query('c1', { since: 1600 })).map((record) => record.path)).toEqual([
        '/6',
        '/7',
      ]);
      expect((await historyB.query('c1', { since: new Date(1500), limit: 1 })).map((r) => r.path)).toEqual([
        '/7',
      ]);
    });

    it('shares the last activity (end of the latest exchange) and forgets it on remove', async () => {
      const { historyA, historyB } = fixture;
      expect(historyB.lastActivity('c1')).toBeUndefined();
      historyA.record('c1', http(1000, '/', 500));
      historyA.record('c1', { type: 'websocket', event: 'open', time: 1200, path: '/ws', status: 101 });
      await fixture.settle();
      expect(historyB.lastActivity('c1')?.getTime()).toBe(1500);
      historyB.record('c1', http(3000, '/', 10));
      await fixture.settle();
      expect(historyA.lastActivity('c1')?.getTime()).toBe(3010);
      await historyA.remove('c1');
      await fixture.settle();
      expect(historyB.lastActivity('c1')).toBeUndefined();
      expect(historyA.lastActivity('c1')).toBeUndefined();
      expect(await historyB.query('c1')).toEqual([]);
    });

    it('runs one holder at a time under a lock, across instances', async () => {
      const { coordinationA, coordinationB } = fixture;
      let inside = 0;
      let most = 0;
      const section = async (): Promise<number> => {
        inside++;
        most = Math.max(most, inside);
        await sleep(20);
        inside--;
        return 1;
      };
      const options = { ttlMs: 5000, waitMs: 5000 };
      const outcomes = await Promise.all(
        [coordinationA, coordinationB, coordinationA, coordinationB].map((c) =>
          c.withLock('admission', section, options),
        ),
      );
      expect(outcomes.every((outcome) => outcome.ran && outcome.value === 1)).toBe(true);
      expect(most).toBe(1);
    });

    it('gives up at once on a taken lock with waitMs 0, and other locks stay free', async () => {
      const { coordinationA, coordinationB } = fixture;
      let release!: () => void;
      const held = coordinationA.withLock('cull', () => new Promise<void>((resolve) => (release = resolve)), {
        ttlMs: 5000,
        waitMs: 0,
      });
      await sleep(20);
      expect(await coordinationB.withLock('cull', async () => 1, { ttlMs: 5000, waitMs: 0 })).toEqual({
        ran: false,
      });
      expect(await coordinationB.withLock('admission', async () => 2, { ttlMs: 5000, waitMs: 0 })).toEqual({
        ran: true,
        value: 2,
      });
      release();
      expect((await held).ran).toBe(true);
      expect(await coordinationB.withLock('cull', async () => 3, { ttlMs: 5000, waitMs: 0 })).toEqual({
        ran: true,
        value: 3,
      });
    });

    it('releases the lock when the function throws', async () => {
      const { coordinationA, coordinationB } = fixture;
      await expect(
        coordinationA.withLock('admission', async () => Promise.reject(new Error('boom')), {
          ttlMs: 5000,
          waitMs: 0,
        }),
      ).rejects.toThrow('boom');
      expect((await coordinationB.withLock('admission', async () => 1, { ttlMs: 5000, waitMs: 0 })).ran).toBe(
        true,
      );
    });

    it('shares reservations, replaces them by name, forgets released and expired ones', async () => {
      const { coordinationA, coordinationB } = fixture;
      await coordinationA.reserve(reservation('r1'), 10_000);
      await coordinationB.reserve(reservation('r2', { owner: undefined, memoryReservationMb: 0 }), 10_000);
      await coordinationA.reserve(reservation('short'), 50);
      await coordinationA.reserve(reservation('r1', { starting: false }), 10_000);
      await sleep(120);
      const seen = (await coordinationB.reservations()).sort((a, b) => (a.name < b.name ? -1 : 1));
      expect(seen).toEqual([
        reservation('r1', { starting: false }),
        reservation('r2', { owner: undefined, memoryReservationMb: 0 }),
      ]);
      await coordinationB.release('r1');
      expect((await coordinationA.reservations()).map((r) => r.name)).toEqual(['r2']);
    });

    it('queues tickets from every instance in the order the store issued them, and dequeues them', async () => {
      const { coordinationA, coordinationB } = fixture;
      const a1 = await coordinationA.enqueue('a1', 10_000);
      const b1 = await coordinationB.enqueue('b1', 10_000);
      const a2 = await coordinationA.enqueue('a2', 10_000);
      expect(a1.queue.map((ticket) => ticket.name)).toEqual(['a1']);
      expect(b1.queue.map((ticket) => ticket.name)).toEqual(['a1', 'b1']);
      expect(a1.ticket.seq).toBeLessThan(b1.ticket.seq);
      expect(b1.ticket.seq).toBeLessThan(a2.ticket.seq);
      expect(a1.ticket.instance).toBe(a2.ticket.instance);
      expect(a1.ticket.instance).not.toBe(b1.ticket.instance);
      expect(a2.ticket.arrivedAt).toBeGreaterThan(Date.now() - 60_000);
      await coordinationA.reserve(reservation('r1'), 10_000);
      const state = await coordinationB.admissionState();
      expect(state.reservations).toEqual([reservation('r1')]);
      expect(state.queue).toEqual([a1.ticket, b1.ticket, a2.ticket]);
      await coordinationB.dequeue(a1.ticket);
      expect((await coordinationA.admissionState()).queue).toEqual([b1.ticket, a2.ticket]);
      // Two enqueues at once still get distinct places.
      const [x, y] = await Promise.all([
        coordinationA.enqueue('x', 10_000),
        coordinationB.enqueue('y', 10_000),
      ]);
      expect(x.ticket.seq).not.toBe(y.ticket.seq);
      expect((await coordinationB.renewQueue([], 10_000)).map((ticket) => ticket.name)).toEqual([
        'b1',
        'a2',
        ...(x.ticket.seq < y.ticket.seq ? ['x', 'y'] : ['y', 'x']),
      ]);
    });

    it('forgets tickets not renewed within their TTL; a renewal puts one back with its place', async () => {
      const { coordinationA, coordinationB } = fixture;
      const a1 = await coordinationA.enqueue('a1', 100);
      const b1 = await coordinationB.enqueue('b1', 100);
      const a2 = await coordinationA.enqueue('a2', 100);
      for (let renewal = 0; renewal < 4; renewal++) {
        await sleep(50);
        // A renews, B has died.
        await coordinationA.renewQueue([a1.ticket, a2.ticket], 100);
      }
      expect((await coordinationA.admissionState()).queue).toEqual([a1.ticket, a2.ticket]);
      await sleep(150);
      expect(await coordinationB.renewQueue([], 100)).toEqual([]);
      // A's store was away for longer than the TTL: its tickets come back where they were.
      const later = await coordinationB.enqueue('later', 10_000);
      expect(await coordinationA.renewQueue([a2.ticket, a1.ticket], 10_000)).toEqual([
        a1.ticket,
        a2.ticket,
        later.ticket,
      ]);
      expect(b1.ticket.seq).toBeLessThan(a2.ticket.seq);
    });

    it('tells which containers another instance serves, until it stops saying so or its word expires', async () => {
      const { coordinationA, coordinationB } = fixture;
      await coordinationA.publishBusy(['c1', 'c2'], 10_000);
      await coordinationB.publishBusy(['c3'], 10_000);
      expect(coordinationB.busyElsewhere('c1')).toBe(true);
      expect(coordinationB.busyElsewhere('c3')).toBe(false);
      await coordinationA.publishBusy(['c3'], 10_000);
      expect(coordinationA.busyElsewhere('c3')).toBe(true);
      expect(coordinationA.busyElsewhere('c1')).toBe(false);
      await coordinationA.publishBusy(['c2'], 50);
      await sleep(120);
      await coordinationB.publishBusy([], 10_000);
      expect(coordinationB.busyElsewhere('c2')).toBe(false);
    });
  });
}
