import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Upstream } from '../backend.ts';
import { MemoryCoordination } from '../coordination/memory-coordination.ts';
import type { DdeError } from '../errors.ts';
import type { History } from '../history/history.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { DdeMetrics } from '../lifecycle/metrics.ts';
import type { ContainerManagerOptions, RouteRemoved } from '../manager/container-manager.ts';
import { ContainerManager, declaredTools } from '../manager/container-manager.ts';
import { MemoryBackend } from './memory-backend.ts';
import { describeSharedQueueCases } from './shared-queue-conformance.ts';
import { describeStartQueueCases } from './start-queue-conformance.ts';

/** The shared state of one `ContainerManager`: what a store gives each application instance. */
export type LifecycleStore = Pick<ContainerManagerOptions, 'history' | 'coordination'>;

/** What {@link describeLifecycleConformance} runs against. */
export interface LifecycleFixture {
  /**
   * The store of one more application instance of `namespace` (every call is another instance
   * sharing that namespace's state), e.g. `{ history: store.history, coordination:
   * store.coordination }` of a new `RedisStore`. The manager starts and closes it. Default: a
   * `MemoryHistory` and core's in-process coordination, shared by the instances of a namespace.
   */
  store?(namespace: string): LifecycleStore;
}

function http(time: number): Parameters<History['record']>[1] {
  return {
    type: 'http',
    time,
    method: 'GET',
    path: '/',
    status: 200,
    bytesIn: 0,
    bytesOut: 2,
    durationMs: 1,
  };
}

/**
 * The lifecycle a `ContainerManager` must keep whatever store holds its shared state:
 * single-flight launches, the memory budget and LRU eviction, limits, idle culling and
 * purging, start on demand and metrics. Runs on core's {@link MemoryBackend} (each test on a
 * namespace of its own, one local HTTP server standing in for every tool), so it is fast and
 * needs no engine; the store is the part under test.
 *
 * ```ts
 * describeLifecycleConformance('ContainerManager on the Redis store', {
 *   store: (namespace) => {
 *     const store = new RedisStore({ url, namespace });
 *     return { history: store.history, coordination: store.coordination };
 *   },
 * });
 * ```
 */
export function describeLifecycleConformance(title: string, fixture: LifecycleFixture = {}): void {
  // Without a fixture, the instances of one namespace share one in-process coordination.
  const coordinations = new Map<string, MemoryCoordination>();
  const storeOf = (namespace: string): LifecycleStore => {
    const given = fixture.store?.(namespace);
    if (given !== undefined) return given;
    const first = coordinations.get(namespace);
    const coordination = new MemoryCoordination(first === undefined ? {} : { peerOf: first });
    if (first === undefined) coordinations.set(namespace, coordination);
    return { history: new MemoryHistory(), coordination };
  };
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  let upstream: Upstream;
  let server: Server | undefined;

  /** One local server stands in for every container's tool. */
  async function tool(): Promise<Upstream> {
    if (!server?.listening) {
      const started = createServer((_req, res) => res.end('ok'));
      server = started;
      await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', resolve));
      upstream = { host: '127.0.0.1', port: (started.address() as AddressInfo).port };
      cleanups.push(() => new Promise<void>((resolve) => started.close(() => resolve())));
      cleanups.push(() => started.closeAllConnections());
    }
    return upstream;
  }

  /** A started manager on a fresh namespace, with its own store of that namespace. */
  async function setup(options: Partial<ContainerManagerOptions> = {}, backendOptions = {}) {
    const address = await tool();
    const namespace = `life-${randomBytes(4).toString('hex')}`;
    const backend = new MemoryBackend({ namespace, upstreamFor: () => address, ...backendOptions });
    const store = storeOf(namespace);
    const history = (options.history ?? store.history) as History;
    const manager = new ContainerManager({ backend, ...store, reconcileIntervalMs: 0, ...options });
    cleanups.push(() => manager.close());
    await manager.start();
    const removed: RouteRemoved[] = [];
    manager.on('removed', (event) => removed.push(event));
    return { backend, history, manager, removed, namespace };
  }

  const spec = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'tool:1', ...extra });

  async function failure(promise: Promise<unknown>): Promise<DdeError> {
    try {
      await promise;
    } catch (error) {
      return error as DdeError;
    }
    throw new Error('expected a rejection');
  }

  /** Records a request to `name` at `time`, as the proxy does. */
  function touch(history: History, name: string, time: number): void {
    history.record(name, http(time));
  }

  describe(title, () => {
    describe('single-flight launches', () => {
      it('turns 20 concurrent launches of one spec into one container', async () => {
        const { backend, manager } = await setup({}, { stepDelayMs: 20 });
        const infos = await Promise.all(Array.from({ length: 20 }, () => manager.launch(spec('one'))));
        expect(backend.calls.launch).toBe(1);
        expect(new Set(infos.map((info) => info.id)).size).toBe(1);
        expect(await manager.launch(spec('one'))).toMatchObject({ id: infos[0]?.id });
        expect(backend.calls.launch).toBe(1);
      });

      it('refuses another spec under a name that is launching or running', async () => {
        const { manager } = await setup({}, { stepDelayMs: 20 });
        const first = manager.launch(spec('taken'));
        expect((await failure(manager.launch(spec('taken', { image: 'other:2' })))).code).toBe('CONFLICT');
        await first;
        const error = await failure(manager.launch(spec('taken', { port: 8080 })));
        expect(error.code).toBe('CONFLICT');
        expect(error.message).toMatch(/taken runs another spec/);
      });

      it('joins a container another manager of the namespace launched from the same spec', async () => {
        const { backend, manager, namespace } = await setup();
        const other = new ContainerManager({
          backend,
          ...storeOf(namespace),
          reconcileIntervalMs: 0,
          closeBackend: false,
        });
        cleanups.push(() => other.close());
        await other.start();
        const first = await other.launch(spec('shared'));
        const joined = await manager.launch(spec('shared'));
        expect(joined.id).toBe(first.id);
      });
    });

    describe('memory budget', () => {
      it('evicts the least recently used container when the third of three 15 MB launches (35 MB budget)', async () => {
        const { history, manager, removed, backend } = await setup({ capacity: { memoryBudgetMb: 35 } });
        await manager.launch(spec('first', { memoryReservationMb: 15 }));
        await manager.launch(spec('second', { memoryReservationMb: 15 }));
        await manager.waitUntilReady('second');
        await manager.waitUntilReady('first');
        // `first` is older, but a request to it makes `second` the least recently used.
        touch(history, 'second', Date.now() - 1000);
        touch(history, 'first', Date.now());
        expect(manager.capacity()).toEqual({ budgetMb: 35, usedMb: 30, evictionOrder: ['second', 'first'] });
        await manager.launch(spec('third', { memoryReservationMb: 15 }));
        expect(removed).toEqual([{ name: 'second', reason: 'lru' }]);
        expect((await backend.list()).map((info) => info.name).sort()).toEqual(['first', 'third']);
        expect(manager.capacity().usedMb).toBe(30);
      });

      it('refuses with CAPACITY_EXCEEDED, evicting nothing, when eviction cannot make room', async () => {
        const { manager, removed } = await setup({ capacity: { memoryBudgetMb: 40 } });
        await manager.launch(spec('small', { memoryReservationMb: 10 }));
        const error = await failure(manager.launch(spec('huge', { memoryReservationMb: 50 })));
        expect(error.code).toBe('CAPACITY_EXCEEDED');
        expect(error.field).toBe('memoryReservationMb');
        expect(error.message).toMatch(/reserves 50 MB, 10 of 40 MB are reserved/);
        expect(removed).toEqual([]);
        expect(manager.get('huge')).toBeUndefined();
      });

      it('never evicts a container with an open WebSocket or one still starting', async () => {
        const { manager } = await setup({ capacity: { memoryBudgetMb: 20 } });
        await manager.launch(spec('live', { memoryReservationMb: 10 }));
        await manager.waitUntilReady('live');
        const close = manager.openedWebSocket('live');
        await manager.launch(spec('other', { memoryReservationMb: 10 }));
        // `other` is probing or just ready; `live` is pinned by its WebSocket.
        expect((await failure(manager.launch(spec('third', { memoryReservationMb: 15 })))).code).toBe(
          'CAPACITY_EXCEEDED',
        );
        close();
        await manager.waitUntilReady('other');
        await manager.launch(spec('third', { memoryReservationMb: 15 }));
        expect(manager.get('third')).toBeDefined();
      });

      it('starts over budget when told to, and logs it', async () => {
        const warnings: string[] = [];
        const logger = {
          debug() {},
          info() {},
          error() {},
          warn: (_: unknown, message: string) => warnings.push(message),
        };
        const { manager } = await setup({
          capacity: { memoryBudgetMb: 10, overBudget: 'start-anyway' },
          logger,
        });
        await manager.launch(spec('big', { memoryReservationMb: 50 }));
        expect(manager.get('big')).toBeDefined();
        expect(warnings).toContain('starting over the memory budget');
      });

      it('checks admission without launching or evicting anything', async () => {
        const { manager, backend } = await setup({
          capacity: { memoryBudgetMb: 30 },
          limits: { maxPerOwner: 1 },
        });
        await manager.launch(spec('old', { memoryReservationMb: 20, owner: 'bob' }));
        await manager.waitUntilReady('old');
        expect(manager.checkAdmission(spec('next', { memoryReservationMb: 20 }))).toEqual(['old']);
        expect(() => manager.checkAdmission(spec('huge', { memoryReservationMb: 40 }))).toThrow(
          /CAPACITY|reserves 40 MB/,
        );
        expect(() => manager.checkAdmission(spec('second', { owner: 'bob' }))).toThrow(/per owner/);
        expect(backend.calls.launch).toBe(1);
        expect(manager.get('old')).toBeDefined();
      });

      it('counts no memory for containers whose process stopped', async () => {
        const { manager, backend } = await setup({ capacity: { memoryBudgetMb: 30 } });
        await manager.launch(spec('crashed', { memoryReservationMb: 20 }));
        backend.exit('crashed', 1);
        await vi.waitFor(() => expect(manager.get('crashed')?.phase).toBe('failed'));
        expect(manager.capacity().usedMb).toBe(0);
        await manager.launch(spec('fits', { memoryReservationMb: 20 }));
        expect(manager.get('crashed')).toBeDefined();
      });

      it('serializes admission so concurrent launches never share free memory', async () => {
        // Port 1 refuses connections: every container stays starting, so none can be evicted
        // however long a store takes to hand out its admission lock.
        const { manager } = await setup(
          { capacity: { memoryBudgetMb: 30 } },
          { stepDelayMs: 20, upstreamFor: () => ({ host: '127.0.0.1', port: 1 }) },
        );
        const results = await Promise.allSettled(
          ['a', 'b', 'c'].map((name) =>
            manager.launch(spec(name, { memoryReservationMb: 15, readiness: { timeoutMs: 60_000 } })),
          ),
        );
        // Two fit; the last admitted finds both still starting (never evicted) and is refused.
        expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'fulfilled', 'rejected']);
        const refused = results.find((result) => result.status === 'rejected');
        expect(refused?.reason).toMatchObject({ code: 'CAPACITY_EXCEEDED' });
        expect(manager.capacity().usedMb).toBe(30);
      });
    });

    describe('limits', () => {
      it('enforces per-owner, total and concurrent-start limits with LIMIT_EXCEEDED', async () => {
        const owners = await setup({ limits: { maxPerOwner: 1 } });
        await owners.manager.launch(spec('alice-1', { owner: 'alice' }));
        const perOwner = await failure(owners.manager.launch(spec('alice-2', { owner: 'alice' })));
        expect(perOwner.code).toBe('LIMIT_EXCEEDED');
        expect(perOwner.message).toMatch(/alice has 1 containers, the most allowed per owner is 1/);
        await owners.manager.launch(spec('bob-1', { owner: 'bob' }));

        const total = await setup({ limits: { maxContainers: 1 } });
        await total.manager.launch(spec('only'));
        expect((await failure(total.manager.launch(spec('more')))).message).toMatch(/the most allowed is 1/);
        // A removed container frees its place at once (its launch reservation goes with it).
        await total.manager.remove('only');
        await total.manager.launch(spec('more'));

        // Beyond the concurrent starts a launch waits (see the start queue cases), unless told not to.
        const starts = await setup(
          { limits: { maxConcurrentStarts: 1, maxQueuedStarts: 0 } },
          { stepDelayMs: 50 },
        );
        const first = starts.manager.launch(spec('s1'));
        const refused = await failure(starts.manager.launch(spec('s2')));
        expect(refused).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxQueuedStarts' });
        expect(refused.message).toMatch(/1 containers are starting, the most allowed at once/);
        await first;
      });
    });

    describeStartQueueCases({ setup, storeOf, cleanups, failure });
    describeSharedQueueCases({ setup, storeOf, cleanups, failure });

    describe('culling and purging', () => {
      it('culls idle containers periodically, sparing one kept alive by a WebSocket', async () => {
        const { manager, removed, history } = await setup({
          culling: { idleTimeoutMs: 150, intervalMs: 50 },
        });
        await manager.launch(spec('idle'));
        await manager.launch(spec('chatty'));
        await manager.launch(spec('websocket'));
        const close = manager.openedWebSocket('websocket');
        const keepChatting = setInterval(() => touch(history, 'chatty', Date.now()), 20);
        cleanups.push(() => clearInterval(keepChatting));
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(removed).toEqual([{ name: 'idle', reason: 'idle' }]);
        close();
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(removed.map((event) => event.name)).toContain('websocket');
        expect(manager.get('chatty')).toBeDefined();
      });

      it('does not let a recreated container inherit its predecessor’s idleness', async () => {
        const { manager, history, backend } = await setup({ culling: { idleTimeoutMs: 30_000 } });
        await manager.launch(spec('again'));
        // The last request to the old container was a minute ago; then it was removed behind the
        // manager's back (docker rm) and started again under the same name.
        touch(history, 'again', Date.now() - 60_000);
        backend.drop('again');
        await vi.waitFor(() => expect(manager.get('again')).toBeUndefined());
        await manager.launch(spec('again'));
        const startedAt = manager.get('again')?.info.startedAt?.getTime() ?? 0;
        expect(manager.lastActivity('again')?.getTime()).toBeGreaterThanOrEqual(startedAt);
        expect(await manager.cull()).toEqual([]);
        expect(await manager.purgeInactive(30_000)).toEqual([]);
      });

      it('decides again for each container just before removing it (removals take time)', async () => {
        const { manager, history, backend } = await setup({ culling: { idleTimeoutMs: 200 } });
        const names = ['first', 'socket', 'touched', 'streaming'];
        for (const name of names) await manager.launch(spec(name));
        // Culling spares containers still starting: on a loaded machine probing can take a while.
        await Promise.all(names.map((name) => manager.waitUntilReady(name)));
        const remove = backend.remove.bind(backend);
        let removing: () => void = () => {};
        const started = new Promise<void>((resolve) => {
          removing = resolve;
        });
        vi.spyOn(backend, 'remove').mockImplementation(async (name, options) => {
          removing();
          await new Promise((resolve) => setTimeout(resolve, 50));
          return remove(name, options);
        });
        await new Promise((resolve) => setTimeout(resolve, 250));
        const culling = manager.cull();
        // A round that removes nothing must fail here, not hang.
        const firstEvent = await Promise.race([
          started.then(() => 'removing'),
          culling.then((culled) => `a round without removal: ${JSON.stringify(culled)}`),
        ]);
        expect(firstEvent).toBe('removing');
        // While 'first' is being removed, the others become active.
        manager.openedWebSocket('socket');
        touch(history, 'touched', Date.now());
        (manager.get('streaming') as { inFlightRequests: number }).inFlightRequests++;
        expect(await culling).toEqual([{ name: 'first', reason: 'idle' }]);
        expect(manager.list().map((route) => route.name)).toEqual(['socket', 'touched', 'streaming']);
      });

      it('removes and counts a container once when culling rounds overlap (a slow engine)', async () => {
        const metrics = new DdeMetrics();
        const { manager, backend } = await setup({ culling: { idleTimeoutMs: 20 }, metrics });
        await manager.launch(spec('slow'));
        await manager.waitUntilReady('slow');
        const remove = backend.remove.bind(backend);
        const calls: string[] = [];
        vi.spyOn(backend, 'remove').mockImplementation(async (name, options) => {
          calls.push(name);
          await new Promise((resolve) => setTimeout(resolve, 100));
          return remove(name, options);
        });
        await new Promise((resolve) => setTimeout(resolve, 40));
        const [first, second] = await Promise.all([manager.cull(), manager.cull()]);
        expect([...first, ...second]).toEqual([{ name: 'slow', reason: 'idle' }]);
        expect(calls).toEqual(['slow']);
        expect(await metrics.registry.metrics()).toContain('dde_removals_total{reason="idle"} 1');
      });

      it('never culls a container that is still starting', async () => {
        // Port 1 refuses connections: probing never ends.
        const { manager } = await setup(
          { culling: { idleTimeoutMs: 1 } },
          { upstreamFor: () => ({ host: '127.0.0.1', port: 1 }) },
        );
        await manager.launch({ ...spec('warming'), readiness: { timeoutMs: 60_000 } });
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(manager.get('warming')?.phase).toBe('probing');
        expect(await manager.cull()).toEqual([]);
      });

      it('removes containers past their maximum lifetime, but protects young ones with the grace period', async () => {
        const { manager } = await setup();
        await manager.launch(spec('young'));
        const lifetime = await setup({ culling: { maxLifetimeMs: 1 } });
        await lifetime.manager.launch(spec('old'));
        // A container still probing is never culled: wait for it, as the test is about age.
        await lifetime.manager.waitUntilReady('old');
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(await lifetime.manager.cull()).toEqual([{ name: 'old', reason: 'max-lifetime' }]);
        const grace = await setup({ culling: { idleTimeoutMs: 1, graceMs: 60_000 } });
        await grace.manager.launch(spec('fresh'));
        await grace.manager.waitUntilReady('fresh');
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(await grace.manager.cull()).toEqual([]);
      });

      it('purges by inactivity, by label and everything', async () => {
        const { manager, history } = await setup();
        await manager.launch(spec('stale', { labels: { course: 'bio' } }));
        await manager.launch(spec('fresh', { labels: { course: 'bio' } }));
        await manager.launch(spec('other', { labels: { course: 'chem' } }));
        await new Promise((resolve) => setTimeout(resolve, 30));
        touch(history, 'fresh', Date.now());
        touch(history, 'other', Date.now());
        expect(await manager.purgeInactive(20)).toEqual(['stale']);
        expect(await manager.purgeByLabel('course', 'bio')).toEqual(['fresh']);
        expect(await manager.removeAll()).toEqual(['other']);
        expect(manager.list()).toEqual([]);
      });
    });

    describe('start on demand', () => {
      it('starts a declared tool on its first lookup and shows it starting', async () => {
        const { backend, manager } = await setup(
          { onDemand: declaredTools({ notebook: { image: 'notebook:1', memoryReservationMb: 5 } }) },
          { stepDelayMs: 30 },
        );
        const route = await manager.lookup('notebook');
        expect(route?.phase).toMatch(/creating|starting/);
        expect(route?.info.image).toBe('notebook:1');
        await manager.waitUntilReady('notebook');
        expect(backend.calls.launch).toBe(1);
        expect(await manager.lookup('undeclared')).toBeUndefined();
        expect(await manager.lookup('constructor')).toBeUndefined();
      });

      it('tells what would start without starting it, for authorizing first', async () => {
        const { backend, manager } = await setup({
          onDemand: declaredTools({ notebook: { image: 'notebook:1', owner: 'alice' } }),
        });
        expect(await manager.lookup('notebook', { startOnDemand: false })).toBeUndefined();
        const declared = manager.declared('notebook');
        expect(declared).toMatchObject({
          name: 'notebook',
          phase: 'creating',
          info: { owner: 'alice', id: '' },
        });
        expect(manager.declared('undeclared')).toBeUndefined();
        expect(manager.declared('Not A Name')).toBeUndefined();
        expect(backend.calls.launch).toBe(0);
        expect(manager.get('notebook')).toBeUndefined();
        // A container that exists is found either way.
        await manager.launch(spec('running'));
        expect((await manager.lookup('running', { startOnDemand: false }))?.name).toBe('running');
      });

      it('refuses on-demand starts over a limit or with an invalid spec', async () => {
        const { manager } = await setup({
          limits: { maxContainers: 1 },
          onDemand: (name) =>
            name.startsWith('broken') ? { name, image: 'NOT A VALID IMAGE' } : { name, image: 'ok:1' },
        });
        await manager.launch(spec('running'));
        expect((await failure(manager.lookup('wanted'))).code).toBe('LIMIT_EXCEEDED');
        await manager.remove('running');
        const error = await failure(manager.lookup('broken-1'));
        expect(error.code).toBe('INVALID_SPEC');
      });
    });

    it('records launches, phases, removals and WebSockets in its metrics', async () => {
      const metrics = new DdeMetrics();
      const { manager } = await setup({ metrics, capacity: { memoryBudgetMb: 10 } });
      await manager.launch(spec('measured', { memoryReservationMb: 5 }));
      await manager.waitUntilReady('measured');
      await failure(manager.launch(spec('too-big', { memoryReservationMb: 50 })));
      manager.openedWebSocket('measured')();
      await manager.remove('measured');
      const text = await metrics.registry.metrics();
      expect(text).toContain('dde_launches_total{result="success"} 1');
      expect(text).toContain('dde_launch_failures_total{code="CAPACITY_EXCEEDED"} 1');
      expect(text).toMatch(/dde_start_phase_seconds_count\{phase="probing"\} 1/);
      expect(text).toContain('dde_removals_total{reason="manual"} 1');
      expect(text).toContain('dde_active_websockets 0');
    });
  });
}
