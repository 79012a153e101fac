import { describe, expect, it } from 'vitest';
import type { DdeError } from '../errors.ts';
import type { ContainerManagerOptions, PhaseChange, RouteRemoved } from '../manager/container-manager.ts';
import { ContainerManager } from '../manager/container-manager.ts';
import type { ContainerPhase } from '../manager/route-table.ts';
import type { MemoryBackend, MemoryBackendOptions } from './memory-backend.ts';

/** What the lifecycle suite hands its start-queue cases. @internal */
export interface LifecycleKit {
  /** A started manager on a fresh namespace, with its own store of that namespace. */
  setup(
    options?: Partial<ContainerManagerOptions>,
    backendOptions?: MemoryBackendOptions,
  ): Promise<{
    backend: MemoryBackend;
    manager: ContainerManager;
    removed: RouteRemoved[];
    namespace: string;
  }>;
  /** The store of one more application instance of `namespace`. */
  storeOf(namespace: string): Pick<ContainerManagerOptions, 'history' | 'coordination'>;
  /** Run after each test, last first. */
  readonly cleanups: (() => unknown)[];
  /** The error `promise` rejects with (fails the test when it resolves). */
  failure(promise: Promise<unknown>): Promise<DdeError>;
}

const STARTING: ReadonlySet<ContainerPhase> = new Set(['pulling', 'creating', 'starting', 'probing']);
// A tool that never answers: its container holds its start slot until removed.
const NEVER_READY = { upstreamFor: () => ({ host: '127.0.0.1', port: 1 }) };

const spec = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'tool:1', ...extra });

const tick = (ms = 10): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the launch of `name` waits in the start queue. Polled, not a fixed delay: with a
 * shared store, getting in line takes round trips that a loaded machine stretches.
 */
async function waitsInQueue(manager: ContainerManager, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (manager.get(name)?.phase !== 'queued') {
    if (Date.now() > deadline) throw new Error(`the launch of ${name} never waited in the start queue`);
    await tick();
  }
}

/**
 * Follows which launches hold a start slot: from their `creating` (on the manager launching
 * them) until any manager sees them ready or failed, or they go.
 */
class StartWatch {
  readonly order: string[] = [];
  readonly queued = new Map<string, number | undefined>();
  readonly #starting = new Set<string>();
  readonly #done = new Set<string>();
  most = 0;

  watch(manager: ContainerManager, own: (name: string) => boolean = () => true): void {
    manager.on('phase', (change: PhaseChange) => this.#phase(change, own(change.name)));
    manager.on('removed', ({ name }) => this.#end(name));
  }

  #phase({ name, phase, route }: PhaseChange, own: boolean): void {
    if (phase === 'queued' && own) this.queued.set(name, route.queuePosition);
    if (phase === 'creating' && own) {
      this.order.push(name);
      this.#starting.add(name);
      this.most = Math.max(this.most, this.#starting.size);
    } else if (phase === 'ready' || phase === 'failed') this.#end(name);
    else if (own && STARTING.has(phase) && !this.#done.has(name)) this.#starting.add(name);
  }

  #end(name: string): void {
    if (this.#starting.delete(name)) this.#done.add(name);
  }
}

/** The start queue of `limits.maxConcurrentStarts`, whatever store holds the shared state. */
export function describeStartQueueCases(kit: LifecycleKit): void {
  const { failure } = kit;
  describe('start queue (maxConcurrentStarts)', () => {
    it('makes launches beyond the limit wait, queued, and starts them all first come, first served', async () => {
      const { manager } = await kit.setup({ limits: { maxConcurrentStarts: 2 } }, { stepDelayMs: 30 });
      const starts = new StartWatch();
      starts.watch(manager);
      const names = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'];
      const launches = names.map((name) => manager.launch(spec(name)));
      await Promise.all(launches);
      await Promise.all(names.map((name) => manager.waitUntilReady(name)));
      expect(starts.order).toEqual(names);
      expect(starts.most).toBe(2);
      expect([...starts.queued.keys()]).toEqual(['q3', 'q4', 'q5', 'q6']);
      // Each one's place in line when it began to wait.
      expect([...starts.queued.values()]).toEqual([1, 2, 3, 4]);
      expect(manager.get('q6')?.queuePosition).toBeUndefined();
    });

    it('refuses a launch beyond maxQueuedStarts at once, and one that waited maxStartWaitMs', async () => {
      const { manager, removed } = await kit.setup(
        { limits: { maxConcurrentStarts: 1, maxQueuedStarts: 1, maxStartWaitMs: 400 } },
        NEVER_READY,
      );
      await manager.launch(spec('holds', { readiness: { timeoutMs: 60_000 } }));
      const waits = manager.launch(spec('waits'));
      await waitsInQueue(manager, 'waits');
      const full = await failure(manager.launch(spec('one-too-many')));
      expect(full).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxQueuedStarts' });
      expect(manager.get('one-too-many')).toBeUndefined();
      expect(manager.get('waits')?.phase).toBe('queued');
      const tooLong = await failure(waits);
      expect(tooLong).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxStartWaitMs' });
      expect(tooLong.message).toMatch(/waited 0 s for one of 1 start slots/);
      expect(manager.get('waits')).toBeUndefined();
      expect(removed.map((event) => event.name)).toEqual(['waits']);
    });

    it('refuses over another limit at once, counting queued launches, instead of queueing', async () => {
      const { manager } = await kit.setup(
        { limits: { maxConcurrentStarts: 1, maxPerOwner: 1 } },
        NEVER_READY,
      );
      await manager.launch(spec('holds', { owner: 'bob', readiness: { timeoutMs: 60_000 } }));
      const queued = manager.launch(spec('alice-1', { owner: 'alice' }));
      await waitsInQueue(manager, 'alice-1');
      const error = await failure(manager.launch(spec('alice-2', { owner: 'alice' })));
      expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxPerOwner' });
      await manager.remove('holds');
      await queued;
    });

    it('joins a queued launch of the same name; remove() takes it out of the queue without starting it', async () => {
      const { manager, backend } = await kit.setup({ limits: { maxConcurrentStarts: 1 } }, NEVER_READY);
      await manager.launch(spec('holds', { readiness: { timeoutMs: 60_000 } }));
      // Handled from the start: they reject while remove() runs.
      const first = failure(manager.launch(spec('later')));
      const joined = failure(manager.launch(spec('later')));
      const behind = manager.launch(spec('behind'));
      await waitsInQueue(manager, 'behind');
      expect(manager.get('behind')?.queuePosition).toBe(2);
      expect(await manager.remove('later')).toBe(true);
      for (const launch of [first, joined]) expect((await launch).code).toBe('ABORTED');
      expect(manager.get('later')).toBeUndefined();
      expect(manager.get('behind')?.queuePosition).toBe(1);
      await manager.remove('holds');
      await behind;
      expect(backend.calls.launch).toBe(2); // holds and behind: later never started
    });

    it('refuses the launches still queued when the manager closes', async () => {
      const { manager, backend } = await kit.setup({ limits: { maxConcurrentStarts: 1 } }, NEVER_READY);
      await manager.launch(spec('holds', { readiness: { timeoutMs: 60_000 } }));
      const queued = failure(manager.launch(spec('queued')));
      await waitsInQueue(manager, 'queued');
      await manager.close();
      expect((await queued).code).toBe('ABORTED');
      expect(backend.calls.launch).toBe(1);
    });

    it('frees the slot of a launch that fails, so the next one starts', async () => {
      const { manager, backend } = await kit.setup(
        { limits: { maxConcurrentStarts: 1 } },
        { stepDelayMs: 20 },
      );
      // A container of that name the manager does not know: the launch fails on the engine's conflict.
      backend.add({ name: 'broken' }, { silent: true });
      const broken = manager.launch(spec('broken'));
      const next = manager.launch(spec('next'));
      expect((await failure(broken)).code).toBe('CONFLICT');
      await next;
      await manager.waitUntilReady('next');
      await manager.launch(spec('after'));
    });

    it('shares the limit between instances: never more starting than allowed, every launch started', async () => {
      const { manager, backend, namespace } = await kit.setup(
        { limits: { maxConcurrentStarts: 2 } },
        { stepDelayMs: 30 },
      );
      const other = new ContainerManager({
        backend,
        ...kit.storeOf(namespace),
        reconcileIntervalMs: 0,
        closeBackend: false,
        limits: { maxConcurrentStarts: 2 },
      });
      kit.cleanups.push(() => other.close());
      await other.start();
      const starts = new StartWatch();
      const names = Array.from({ length: 10 }, (_, index) => `shared-${index}`);
      const on = (name: string): ContainerManager => (names.indexOf(name) % 2 === 0 ? manager : other);
      starts.watch(manager, (name) => on(name) === manager);
      starts.watch(other, (name) => on(name) === other);
      await Promise.all(names.map((name) => on(name).launch(spec(name))));
      await Promise.all(names.map((name) => on(name).waitUntilReady(name)));
      expect(starts.order.sort()).toEqual([...names].sort());
      expect(starts.most).toBeLessThanOrEqual(2);
      expect(starts.queued.size).toBeGreaterThan(0);
      expect(backend.calls.launch).toBe(10);
    });
  });
}
