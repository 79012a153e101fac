import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Upstream } from '../backend.ts';
import { DdeError, isDdeError } from '../errors.ts';
import type { ActivityRecord } from '../history/history.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import type { PhaseChange } from './container-manager.ts';
import { ContainerManager } from './container-manager.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A local HTTP server standing in for a container's tool. */
async function upstreamServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<{ server: Server; upstream: Upstream; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => server.closeAllConnections());
  return { server, upstream: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, paths };
}

function managerFor(
  backend: MemoryBackend,
  options: Partial<ConstructorParameters<typeof ContainerManager>[0]> = {},
) {
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, ...options });
  cleanups.push(() => manager.close());
  return manager;
}

/** A recorded request, for tests that only need some activity in the history. */
const ONE_REQUEST: ActivityRecord = {
  type: 'http',
  time: 1,
  method: 'GET',
  path: '/',
  status: 200,
  bytesIn: 0,
  bytesOut: 0,
  durationMs: 1,
};

function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('ContainerManager', () => {
  it('adopts the namespace’s existing containers at start and probes them ready', async () => {
    const { upstream } = await upstreamServer();
    const backend = new MemoryBackend({ namespace: 'adopt' });
    backend.setUpstream('running-one', upstream);
    backend.add({ name: 'running-one' }, { silent: true });
    backend.add({ name: 'exited-one', state: 'exited', exitCode: 3 }, { silent: true });
    backend.add(
      { name: 'oom-one', state: 'exited', exitCode: 137, exitReason: 'OutOfMemoryError: Container killed' },
      { silent: true },
    );
    const manager = managerFor(backend);
    expect(manager.get('running-one')).toBeUndefined();
    await manager.start();
    expect(backend.calls.list).toBe(1);
    expect(backend.calls.events).toBe(1);
    expect(manager.get('running-one')?.phase).toMatch(/probing|ready/);
    expect(manager.get('exited-one')).toMatchObject({
      phase: 'failed',
      failure: { reason: 'exited', exitCode: 3, message: 'the container exited with code 3' },
    });
    // The engine's own words on why, when it has them, follow the exit code.
    expect(manager.get('oom-one')?.failure).toEqual({
      reason: 'exited',
      exitCode: 137,
      message: 'the container exited with code 137: OutOfMemoryError: Container killed',
    });
    const route = await manager.waitUntilReady('running-one', { signal: AbortSignal.timeout(3000) });
    expect(route.phase).toBe('ready');
    expect(route.origin).toBe(`http://127.0.0.1:${upstream.port}`);
    expect(route.pool).toBeDefined();
    expect(
      manager
        .list()
        .map((entry) => entry.name)
        .sort(),
    ).toEqual(['exited-one', 'oom-one', 'running-one']);
  });

  it('keeps the table in line with pushed events', async () => {
    const { upstream } = await upstreamServer();
    const backend = new MemoryBackend({ namespace: 'events' });
    const manager = managerFor(backend);
    await manager.start();
    backend.setUpstream('tool', upstream);
    backend.add({ name: 'tool' });
    await until(() => manager.get('tool')?.phase === 'ready');

    backend.exit('tool', 137);
    await until(() => manager.get('tool')?.phase === 'failed');
    expect(manager.get('tool')?.failure).toMatchObject({ reason: 'exited', exitCode: 137 });
    expect(manager.get('tool')?.pool).toBeUndefined();

    const removed: string[] = [];
    manager.on('removed', ({ name }) => removed.push(name));
    backend.drop('tool');
    await until(() => manager.get('tool') === undefined);
    expect(removed).toEqual(['tool']);
  });

  it('drops a container seen on its way out once, however many refreshes see it go', async () => {
    const { upstream } = await upstreamServer();
    const backend = new MemoryBackend({ namespace: 'going' });
    const manager = managerFor(backend);
    await manager.start();
    backend.setUpstream('tool', upstream);
    const { id } = backend.add({ name: 'tool' });
    await until(() => manager.get('tool')?.phase === 'ready');
    const removed: string[] = [];
    manager.on('removed', ({ name }) => removed.push(name));
    // Someone else's `docker rm -f`: the engine reports it removing while its events arrive.
    backend.add({ name: 'tool', id, state: 'removing' }, { silent: true });
    backend.emit({ type: 'died', name: 'tool', id, time: new Date(), exitCode: 137 });
    backend.emit({ type: 'paused', name: 'tool', id, time: new Date() });
    await until(() => manager.get('tool') === undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(removed).toEqual(['tool']);
    expect(manager.get('tool')).toBeUndefined();
  });

  it('reconciles changes it was not told about, periodically and on resync', async () => {
    const { upstream } = await upstreamServer();
    const backend = new MemoryBackend({ namespace: 'reconcile' });
    backend.setUpstream('quiet', upstream);
    const manager = managerFor(backend, { reconcileIntervalMs: 30 });
    await manager.start();
    backend.add({ name: 'quiet' }, { silent: true });
    await until(() => manager.get('quiet')?.phase === 'ready');
    backend.drop('quiet', { silent: true });
    await until(() => manager.get('quiet') === undefined);

    const lazy = managerFor(new MemoryBackend({ namespace: 'resync' }));
    const lazyBackend = lazy.backend as MemoryBackend;
    await lazy.start();
    lazyBackend.add({ name: 'late', state: 'created' }, { silent: true });
    expect(lazy.get('late')).toBeUndefined();
    lazyBackend.emit({ type: 'resync', time: new Date(), reason: 'test' });
    await until(() => lazy.get('late')?.phase === 'starting');
  });

  it('answers get() from memory without any backend call', async () => {
    const { upstream } = await upstreamServer();
    const backend = new MemoryBackend({ namespace: 'hot' });
    backend.setUpstream('tool', upstream);
    backend.add({ name: 'tool' }, { silent: true });
    const manager = managerFor(backend);
    await manager.start();
    await manager.waitUntilReady('tool');
    backend.resetCalls();
    for (let index = 0; index < 1000; index++) manager.get(index % 2 ? 'tool' : 'unknown');
    expect(backend.totalCalls).toBe(0);
  });

  it('looks an unknown name up once for concurrent misses, and remembers a miss briefly', async () => {
    const backend = new MemoryBackend({ namespace: 'lookup' });
    backend.setInspectDelay(30);
    const manager = managerFor(backend, { negativeCacheMs: 100 });
    const results = await Promise.all(Array.from({ length: 20 }, () => manager.lookup('nobody')));
    expect(results.every((result) => result === undefined)).toBe(true);
    expect(backend.calls.inspect).toBe(1);
    await manager.lookup('nobody');
    expect(backend.calls.inspect).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    await manager.lookup('nobody');
    expect(backend.calls.inspect).toBe(2);

    // A found container enters the table: later requests need no lookup.
    backend.add({ name: 'somebody', state: 'created' }, { silent: true });
    const [first, second] = await Promise.all([manager.lookup('somebody'), manager.lookup('somebody')]);
    expect(first).toBe(second);
    expect(first?.phase).toBe('starting');
    expect(manager.get('somebody')).toBe(first);
    expect(backend.calls.inspect).toBe(3);
    // Invalid names never reach the backend.
    expect(await manager.lookup('Not/A/Name')).toBeUndefined();
    expect(backend.calls.inspect).toBe(3);
  });

  it('looks up at most maxConcurrentLookups unknown names at once, refusing more for now', async () => {
    const backend = new MemoryBackend({ namespace: 'flood' });
    backend.add({ name: 'real', state: 'created' }, { silent: true });
    backend.setInspectDelay(30);
    const warnings: string[] = [];
    const logger = {
      ...silentLogger,
      warn: (_fields: object, message: string) => void warnings.push(message),
    };
    const manager = managerFor(backend, { maxConcurrentLookups: 4, negativeCacheMs: 0, logger });
    const flood = Array.from({ length: 50 }, (_, n) =>
      manager.lookup(`made-up-${n}`).catch((error) => error),
    );
    // The real name arrives during the flood: no slot, so a retryable refusal rather than a
    // fifth engine call (or a false "not found").
    await expect(manager.lookup('real')).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: expect.stringMatching(/maxConcurrentLookups 4/),
    });
    const outcomes = await Promise.all(flood);
    expect(outcomes.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(outcomes.slice(4).every((outcome) => outcome?.code === 'LIMIT_EXCEEDED')).toBe(true);
    expect(backend.calls.inspect).toBe(4);
    expect(warnings).toEqual(['too many lookups of unknown container names at once: refusing more for now']);
    // Once the slots are free, a lookup goes through again.
    expect((await manager.lookup('real'))?.name).toBe('real');
    expect(backend.calls.inspect).toBe(5);
    expect(() => new ContainerManager({ backend, maxConcurrentLookups: 0 })).toThrow(/maxConcurrentLookups/);
  });

  it('launches through the backend, showing each phase until ready', async () => {
    const { upstream, paths } = await upstreamServer((req, res) => {
      res.statusCode = req.url === '/health' ? 200 : 404;
      res.end();
    });
    const backend = new MemoryBackend({ namespace: 'launch', stepDelayMs: 5 });
    backend.setUpstream('alice-tool', upstream);
    const manager = managerFor(backend);
    await manager.start();
    const phases: PhaseChange[] = [];
    manager.on('phase', (change) => {
      if (change.name === 'alice-tool') phases.push(change);
    });
    const progress: string[] = [];
    const info = await manager.launch(
      {
        name: 'alice-tool',
        image: 'tool:1',
        owner: 'alice',
        readiness: { path: '/health', timeoutMs: 2000 },
      },
      { onProgress: (step) => progress.push(step.phase) },
    );
    expect(info.owner).toBe('alice');
    expect(progress).toEqual(['creating', 'starting']);
    const route = await manager.waitUntilReady('alice-tool', { signal: AbortSignal.timeout(3000) });
    expect(route.info.id).toBe(info.id);
    const sequence = phases.map((change) => change.phase);
    expect(sequence[0]).toBe('creating');
    // Only the first change of a route is announced without a previous phase.
    expect(phases.map((change) => change.previous === undefined)).toEqual(
      phases.map((_, index) => index === 0),
    );
    expect(sequence).toContain('starting');
    expect(sequence).toContain('probing');
    expect(sequence.at(-1)).toBe('ready');
    expect(paths).toContain('/health');
  });

  it('shows the provisional container (owner included) while the launch runs', async () => {
    const backend = new MemoryBackend({ namespace: 'provisional', stepDelayMs: 50 });
    const manager = managerFor(backend);
    const launching = manager.launch({ name: 'slow', image: 'tool:1', owner: 'bob' });
    await until(() => manager.get('slow') !== undefined);
    expect(manager.get('slow')).toMatchObject({ phase: 'creating', info: { owner: 'bob', id: '' } });
    await expect(manager.launch({ name: 'slow', image: 'tool:1' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await launching;
  });

  it('refuses an invalid spec before calling the backend', async () => {
    const backend = new MemoryBackend({ namespace: 'invalid' });
    const manager = managerFor(backend);
    const error = await rejection(manager.launch({ name: 'Bad_Name', image: 'tool' }));
    expect(isDdeError(error) && error.code === 'INVALID_SPEC' && error.field === 'name').toBe(true);
    expect(backend.calls.launch).toBe(0);
    expect(manager.list()).toEqual([]);
  });

  it('drops the provisional route when the backend refuses the launch', async () => {
    const backend = new MemoryBackend({ namespace: 'refused' });
    const manager = managerFor(backend);
    backend.add({ name: 'taken', state: 'created' }, { silent: true });
    const removed: string[] = [];
    manager.on('removed', ({ name }) => removed.push(name));
    await expect(manager.launch({ name: 'taken', image: 'tool' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(manager.get('taken')).toBeUndefined();
    expect(removed).toEqual(['taken']);
  });

  it('drops the route of a container the engine created, then refused to start and removed', async () => {
    // Docker with a missing network: the create succeeds (events arrive while the launch holds
    // the route), the start fails, the backend removes what it created and throws.
    class RefusingStart extends MemoryBackend {
      override async launch(
        spec: Parameters<MemoryBackend['launch']>[0],
      ): ReturnType<MemoryBackend['launch']> {
        this.add({ name: spec.name, image: spec.image, state: 'created' });
        await until(() => (manager.get(spec.name)?.info.id ?? '') !== '');
        await new Promise((resolve) => setTimeout(resolve, 20)); // the manager's inspection is done
        this.drop(spec.name);
        await new Promise((resolve) => setTimeout(resolve, 20)); // its destroyed event arrives first
        throw new DdeError('ENGINE_ERROR', `Start of container ${spec.name} failed: network x not found`);
      }
    }
    const backend = new RefusingStart({ namespace: 'refused-start' });
    const manager = managerFor(backend);
    await manager.start();
    const removed: string[] = [];
    manager.on('removed', ({ name }) => removed.push(name));
    await expect(manager.launch({ name: 'tool', image: 'tool' })).rejects.toThrow('network x not found');
    await until(() => manager.get('tool') === undefined);
    expect(removed).toEqual(['tool']);
  });

  it('probes with backoff until 200, and fails after the readiness timeout', async () => {
    let answers = 0;
    const { upstream } = await upstreamServer((_req, res) => {
      answers++;
      res.statusCode = answers < 3 ? 503 : 200;
      res.end();
    });
    const backend = new MemoryBackend({ namespace: 'probe' });
    backend.setUpstream('eventually', upstream);
    const manager = managerFor(backend);
    await manager.launch({ name: 'eventually', image: 'tool' });
    await manager.waitUntilReady('eventually', { signal: AbortSignal.timeout(3000) });
    expect(answers).toBe(3);

    const { upstream: broken } = await upstreamServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    backend.setUpstream('never', broken);
    await manager.launch({ name: 'never', image: 'tool', readiness: { timeoutMs: 300 } });
    const error = await rejection(manager.waitUntilReady('never'));
    expect(isDdeError(error) && error.code === 'LAUNCH_FAILED').toBe(true);
    expect(String((error as Error).message)).toMatch(/did not answer 200/);
    expect(manager.get('never')?.failure?.reason).toBe('readiness-timeout');
    // The verdict sticks across reconciliations instead of flapping back to probing.
    await manager.reconcile();
    expect(manager.get('never')?.phase).toBe('failed');
  });

  it('serves many waitUntilReady calls without a listener each', async () => {
    let ready = false;
    const { upstream } = await upstreamServer((_req, res) => {
      res.statusCode = ready ? 200 : 503;
      res.end();
    });
    const backend = new MemoryBackend({ namespace: 'waiters' });
    const manager = managerFor(backend);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const names = Array.from({ length: 30 }, (_, i) => `class-${i}`);
      for (const name of names) backend.setUpstream(name, upstream);
      await Promise.all(names.map((name) => manager.launch({ name, image: 'tool' })));
      // Three waiters per name, 90 in all, and a name that goes away while waited for.
      const waiting = names.flatMap((name) =>
        [1, 2, 3].map(() => manager.waitUntilReady(name, { signal: AbortSignal.timeout(5000) })),
      );
      const settling = Promise.allSettled(waiting);
      const gone = rejection(manager.waitUntilReady('class-0', { signal: AbortSignal.timeout(5000) }));
      expect(manager.listenerCount('phase') + manager.listenerCount('removed')).toBe(0);
      await manager.remove('class-0');
      expect(isDdeError(await gone) && ((await gone) as { code: string }).code).toBe('NOT_FOUND');
      ready = true;
      const settled = await settling;
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(87);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('probes a container that timed out again once it answers at another address', async () => {
    const { upstream: broken } = await upstreamServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const backend = new MemoryBackend({ namespace: 'moved' });
    backend.setUpstream('moves', broken);
    const manager = managerFor(backend);
    await manager.start();
    await manager.launch({ name: 'moves', image: 'tool', readiness: { timeoutMs: 200 } });
    await rejection(manager.waitUntilReady('moves'));
    expect(manager.get('moves')?.failure?.reason).toBe('readiness-timeout');
    // Reachable somewhere else now (reconnected to another network, say): a new verdict.
    const { upstream: working } = await upstreamServer();
    backend.setUpstream('moves', working);
    await manager.reconcile();
    const route = await manager.waitUntilReady('moves', { signal: AbortSignal.timeout(3000) });
    expect(route.upstream).toEqual(working);
  });

  it('reports an exit during probing with its exit code, even without pushed events', async () => {
    const backend = new MemoryBackend({ namespace: 'no-events', capabilities: { pushesEvents: false } });
    // Nothing listens there: the probe keeps failing until the container is seen exited.
    backend.setUpstream('crashes', { host: '127.0.0.1', port: 9 });
    const manager = managerFor(backend);
    await manager.launch({ name: 'crashes', image: 'tool', readiness: { timeoutMs: 20_000 } });
    backend.exit('crashes', 2, { silent: true });
    const error = await rejection(manager.waitUntilReady('crashes', { signal: AbortSignal.timeout(5000) }));
    expect(String((error as Error).message)).toMatch(/exited with code 2/);
    expect(manager.get('crashes')?.failure).toMatchObject({ reason: 'exited', exitCode: 2 });
  });

  it('waitUntilReady: NOT_FOUND for unknown names, TIMEOUT when the signal fires', async () => {
    const backend = new MemoryBackend({ namespace: 'wait' });
    const manager = managerFor(backend);
    await expect(manager.waitUntilReady('ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    backend.add({ name: 'stuck', state: 'created' }, { silent: true });
    await expect(manager.waitUntilReady('stuck', { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
  });

  it('removes a container together with its history', async () => {
    const backend = new MemoryBackend({ namespace: 'remove' });
    const history = new MemoryHistory();
    const manager = managerFor(backend, { history });
    backend.add({ name: 'gone', state: 'created' }, { silent: true });
    await manager.lookup('gone');
    history.record('gone', ONE_REQUEST);
    expect(await manager.remove('gone')).toBe(true);
    expect(manager.get('gone')).toBeUndefined();
    expect(history.lastActivity('gone')).toBeUndefined();
    expect(await manager.remove('gone')).toBe(false);
  });

  it('forgets the history of containers removed behind its back, however it learns of it', async () => {
    const backend = new MemoryBackend({ namespace: 'gone-by-itself' });
    const history = new MemoryHistory();
    const manager = managerFor(backend, { history });
    await manager.start();
    const names = ['by-event', 'by-reconcile', 'by-inspect'];
    for (const name of names) {
      backend.add({ name, state: 'created' });
      await until(() => manager.get(name) !== undefined);
      history.record(name, ONE_REQUEST);
    }
    backend.drop('by-event'); // a `destroyed` event
    backend.drop('by-reconcile', { silent: true });
    await manager.reconcile();
    backend.drop('by-inspect', { silent: true });
    backend.emit({ type: 'started', name: 'by-inspect', id: 'stale', time: new Date() }); // inspect finds nothing
    await until(() => manager.list().length === 0);
    await until(() => history.containers().length === 0);
    expect(history.size).toBe(0);
  });

  it('counts open WebSocket sessions on the route', async () => {
    const backend = new MemoryBackend({ namespace: 'ws-count' });
    backend.add({ name: 'tool', state: 'created' }, { silent: true });
    const manager = managerFor(backend);
    const route = await manager.lookup('tool');
    const close = manager.openedWebSocket('tool');
    const closeAnother = manager.openedWebSocket('tool');
    expect(route?.openWebSockets).toBe(2);
    close();
    close();
    expect(route?.openWebSockets).toBe(1);
    closeAnother();
    expect(route?.openWebSockets).toBe(0);
  });

  it('closes its event subscription and, unless told otherwise, the backend', async () => {
    const backend = new MemoryBackend({ namespace: 'close' });
    const manager = new ContainerManager({ backend });
    await manager.start();
    expect(backend.subscribers).toBe(1);
    await manager.close();
    expect(backend.subscribers).toBe(0);
    expect(backend.calls.close).toBe(1);
    await expect(manager.launch({ name: 'late', image: 'x' })).rejects.toMatchObject({ code: 'ABORTED' });

    const keeper = new ContainerManager({ backend, closeBackend: false });
    await keeper.start();
    await keeper.close();
    expect(backend.calls.close).toBe(1);
  });

  it('validates its options', () => {
    expect(() => new ContainerManager({} as never)).toThrow(/backend/);
    expect(() => new ContainerManager({ backend: new MemoryBackend(), reconcileIntervalMs: -1 })).toThrow(
      /reconcileIntervalMs/,
    );
    // Misspelt fields, at the top and in each nested group, name themselves instead of being ignored.
    const backend = new MemoryBackend();
    for (const [options, message] of [
      [{ cull: {} }, /^Invalid option: cull is not a field of ContainerManager \(known: backend, history,/],
      [{ capacity: { memoryBudgetMB: 10 } }, /capacity\.memoryBudgetMB .*did you mean memoryBudgetMb\?/],
      [{ limits: { perOwner: 2 } }, /limits\.perOwner is not a field of limits/],
      [{ culling: { idleMs: 1 } }, /culling\.idleMs is not a field of culling \(known: idleTimeoutMs,/],
      [{ pool: { maxConnections: 4 } }, /pool\.maxConnections is not a field of pool \(known: connections,/],
    ] as const) {
      let caught: unknown;
      try {
        new ContainerManager({ backend, ...options } as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'INVALID_OPTION' });
      expect((caught as Error).message).toMatch(message);
    }
  });
});
