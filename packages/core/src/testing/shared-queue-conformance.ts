import { describe, expect, it } from 'vitest';
import type { PhaseChange } from '../manager/container-manager.ts';
import { ContainerManager } from '../manager/container-manager.ts';
import { TICKET_TTL_MS } from '../manager/queue-tickets.ts';
import type { LifecycleKit } from './start-queue-conformance.ts';

// A tool that never answers: its container holds its start slot until removed.
const NEVER_READY = { upstreamFor: () => ({ host: '127.0.0.1', port: 1 }) };
// Started containers keep probing (holding their slot) for the whole test.
const spec = (name: string) => ({ name, image: 'tool:1', readiness: { timeoutMs: 60_000 } });

const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds (polling), failing with `what` after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await tick();
  }
}

/**
 * The start queue shared by the instances of a namespace: launches waiting on different
 * instances start in the order they arrived, and `queuePosition` is the place in that one line.
 */
export function describeSharedQueueCases(kit: LifecycleKit): void {
  /** Managers A and B (and more on demand) of one fresh namespace, limit 1, a slot held on A. */
  async function instances() {
    const limits = { maxConcurrentStarts: 1 };
    const { manager: a, backend, namespace } = await kit.setup({ limits }, NEVER_READY);
    // Started on any instance, in order; and how many held a slot at once.
    const started: string[] = [];
    const holding = new Set<string>();
    let most = 0;
    const watch = (manager: ContainerManager): void => {
      manager.on('phase', ({ name, phase }: PhaseChange) => {
        if (phase !== 'creating' || holding.has(name)) return;
        started.push(name);
        holding.add(name);
        most = Math.max(most, holding.size);
      });
      manager.on('removed', ({ name }) => holding.delete(name));
    };
    watch(a);
    const another = async (): Promise<ContainerManager> => {
      const manager = new ContainerManager({
        backend,
        ...kit.storeOf(namespace),
        reconcileIntervalMs: 0,
        closeBackend: false,
        limits,
      });
      kit.cleanups.push(() => manager.close());
      await manager.start();
      watch(manager);
      return manager;
    };
    const b = await another();
    await a.launch(spec('holds'));
    return { a, b, another, namespace, started, most: () => most };
  }

  describe('start queue shared by the instances of a namespace', () => {
    it('starts launches queued on different instances in arrival order, with places in the one line', async () => {
      const { a, b, started, most } = await instances();
      const a1 = a.launch(spec('a1'));
      await until('a1 waits', () => a.get('a1')?.phase === 'queued');
      const b1 = b.launch(spec('b1'));
      await until('b1 waits', () => b.get('b1')?.phase === 'queued');
      const a2 = a.launch(spec('a2'));
      await until('a2 waits', () => a.get('a2')?.phase === 'queued');
      expect(a.get('a1')?.queuePosition).toBe(1);
      expect(b.get('b1')?.queuePosition).toBe(2);
      expect(a.get('a2')?.queuePosition).toBe(3);

      await a.remove('holds');
      await a1;
      // b1 is next now on B, a2 behind it on A (each learns it within a renewal).
      await until('b1 is next', () => b.get('b1')?.queuePosition === 1);
      await until('a2 is second', () => a.get('a2')?.queuePosition === 2);
      // The head of A's own queue (a2) waits for b1, which came first.
      await b.remove('a1');
      await b1;
      await until('a2 is next', () => a.get('a2')?.queuePosition === 1);
      expect(a.get('a2')?.phase).toBe('queued');
      await a.remove('b1');
      await a2;
      expect(started).toEqual(['holds', 'a1', 'b1', 'a2']);
      expect(most()).toBe(1);
    });

    it('keeps arrival order among many launches spread over three instances, never over the limit', async () => {
      const { a, b, another, started, most } = await instances();
      const c = await another();
      const on = [a, b, c];
      const names = Array.from({ length: 9 }, (_, index) => `m${index}`);
      const launches: Promise<unknown>[] = [];
      for (const [index, name] of names.entries()) {
        const manager = on[index % 3] as ContainerManager;
        launches.push(manager.launch(spec(name)));
        await until(`${name} waits`, () => manager.get(name)?.phase === 'queued');
        expect(manager.get(name)?.queuePosition).toBe(index + 1);
      }
      let holder = 'holds';
      for (const [index, name] of names.entries()) {
        await (on[index % 3] as ContainerManager).remove(holder);
        await launches[index];
        holder = name;
      }
      expect(started).toEqual(['holds', ...names]);
      expect(most()).toBe(1);
    });

    it('takes the queued launches of an instance that closes out of the line at once', async () => {
      const { a, b, another, started } = await instances();
      const c = await another();
      const gone = c.launch(spec('c1')).catch((error: unknown) => error);
      await until('c1 waits', () => c.get('c1')?.phase === 'queued');
      const b1 = b.launch(spec('b1'));
      await until('b1 waits', () => b.get('b1')?.phase === 'queued');
      expect(b.get('b1')?.queuePosition).toBe(2);
      await c.close();
      expect(await gone).toMatchObject({ code: 'ABORTED' });
      await a.remove('holds');
      await b1;
      expect(started).toEqual(['holds', 'b1']);
    });

    it(
      'stops waiting for the tickets of an instance that died once they expire',
      async () => {
        const { a, b, namespace, started } = await instances();
        // Another instance whose launch waits: it renews its ticket (as a live instance does
        // about once a second), then dies and renews no more.
        const dead = kit.storeOf(namespace).coordination;
        if (dead === undefined) throw new Error('the store has no coordination');
        await dead.start();
        kit.cleanups.push(() => dead.close());
        const { ticket } = await dead.enqueue('ghost', TICKET_TTL_MS);
        const b1 = b.launch(spec('b1'));
        await until('b1 waits', () => b.get('b1')?.phase === 'queued');
        expect(b.get('b1')?.queuePosition).toBe(2);
        await a.remove('holds');
        // The ghost came first: b1 waits for it while its ticket is renewed...
        for (let renewal = 0; renewal < 3; renewal++) {
          await tick(800);
          await dead.renewQueue([ticket], TICKET_TTL_MS);
          expect(b.get('b1')?.phase).toBe('queued');
        }
        const died = Date.now();
        // ...and after its last renewal, while the ticket lives...
        await tick(1500);
        expect(b.get('b1')).toMatchObject({ phase: 'queued', queuePosition: 2 });
        // ...then starts once it expired, first in line.
        await b1;
        // (Less a second of slack: `died` is read after the renewal came back, on a possibly busy event loop.)
        expect(Date.now() - died).toBeGreaterThanOrEqual(TICKET_TTL_MS - 1000);
        expect(started).toEqual(['holds', 'b1']);
      },
      TICKET_TTL_MS + 15_000,
    );
  });
}
