import type { BackendEvent, ContainerSpec } from '@dde/core';
import { ContainerManager, fileInput, MemoryHistory } from '@dde/core';
import {
  buildHttpdImage,
  cleanupNamespace,
  describeWithTestEngine,
  eventually,
  type ServedManager,
  serveManager,
  startEngineProxy,
  startTestEngine,
  type TestEngine,
  uniqueNamespace,
} from '@dde/test-support';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { DockerBackend } from './index.ts';

const namespace = uniqueNamespace('eng-fault');
const httpdImage = `eng-fault-httpd:${namespace}`;

const httpd = (name: string): ContainerSpec => ({
  name,
  image: httpdImage,
  command: ['httpd', '-f', '-p', '80', '-h', '/www'],
  port: 80,
  readiness: { path: '/', timeoutMs: 30_000 },
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Requests through the proxy to each name in a loop until stopped, counting answers. */
function load(served: ServedManager, names: readonly string[]) {
  const counts = new Map(names.map((name) => [name, { ok: 0, failed: 0 }]));
  let running = true;
  const loops = names.map(async (name) => {
    const count = counts.get(name) ?? { ok: 0, failed: 0 };
    while (running) {
      try {
        const response = await served.get(`/docker/${name}/`);
        await response.arrayBuffer();
        if (response.status === 200) count.ok++;
        else count.failed++;
      } catch {
        count.failed++;
      }
    }
  });
  return {
    counts,
    snapshot: () => new Map([...counts].map(([name, count]) => [name, { ...count }])),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

await describeWithTestEngine('engine faults on a second, test-owned Docker Engine', (main) => {
  let engine: TestEngine;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    engine = await startTestEngine({ liveRestore: true });
    await buildHttpdImage(main, httpdImage, namespace);
    await engine.loadImage(httpdImage);
  }, 120_000);
  afterEach(async () => {
    while (closers.length > 0)
      await closers
        .pop()?.()
        .catch(() => undefined);
    if (!engine.running) await engine.start();
    // Containers only: the image stays loaded for the next test.
    for (const container of await engine.docker.listContainers({
      all: true,
      filters: { label: [`dde.namespace=${namespace}`] },
    })) {
      await engine.docker.getContainer(container.Id).remove({ force: true, v: true });
    }
  });
  afterAll(async () => {
    await engine?.close();
    await cleanupNamespace(main, namespace);
  });

  /** A manager on the test engine (local socket: bridge addresses) behind core's proxy, plus an event log. */
  async function stack(socketPath = engine.socketPath, cleanupTimeoutMs?: number) {
    const backend = new DockerBackend({
      docker: new Dockerode({ socketPath }),
      namespace,
      ...(cleanupTimeoutMs === undefined ? {} : { cleanupTimeoutMs }),
    });
    const manager = new ContainerManager({ backend, history: new MemoryHistory() });
    await manager.start();
    const served = await serveManager(manager);
    const events: { at: number; event: BackendEvent }[] = [];
    const following = new AbortController();
    const collecting = (async () => {
      for await (const event of backend.events({ signal: following.signal }))
        events.push({ at: Date.now(), event });
    })();
    closers.push(async () => {
      following.abort();
      await collecting.catch(() => undefined);
      await served.close();
      await manager.close();
    });
    return { backend, manager, served, events };
  }

  const names = async () =>
    (await engine.docker.listContainers({ all: true, filters: { label: [`dde.namespace=${namespace}`] } }))
      .map((container) => (container.Names[0] ?? '').slice(1))
      .sort();

  it('with live-restore: serves through a dockerd stop and restart; outage launches fail with ENGINE_UNAVAILABLE and leave nothing; routes right within 2 s of the return', async () => {
    const { manager, served, events } = await stack();
    const [kept, killed] = [`${namespace}-kept`, `${namespace}-killed`];
    for (const name of [kept, killed]) {
      await manager.launch(httpd(name));
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(30_000) });
    }
    const pid = (await engine.docker.getContainer(killed).inspect()).State.Pid;
    const traffic = load(served, [kept, killed]);
    await sleep(300);

    await engine.stop();
    const down = Date.now();
    const atStop = traffic.snapshot();
    const outage = await manager
      .launch(httpd(`${namespace}-outage`), { signal: AbortSignal.timeout(10_000) })
      .catch((error: unknown) => error);
    expect(outage).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await sleep(1_000);
    // Both containers kept running without their engine and were served all along.
    const inOutage = traffic.snapshot();
    for (const name of [kept, killed]) {
      expect(inOutage.get(name)?.ok).toBeGreaterThan(atStop.get(name)?.ok ?? 0);
      expect(inOutage.get(name)?.failed).toBe(0);
    }
    // One of them dies while nobody watches.
    process.kill(pid, 'SIGKILL');

    await engine.start();
    // The event stream is back (resync), the dead container's route is gone or failed, the
    // other one still ready.
    await eventually(
      () =>
        events.some(({ event, at }) => event.type === 'resync' && at > down) &&
        manager.get(killed)?.phase !== 'ready' &&
        manager.get(kept)?.phase === 'ready'
          ? true
          : undefined,
      { timeoutMs: 2_000, intervalMs: 20 },
    );
    await traffic.stop();
    expect(traffic.counts.get(kept)?.failed).toBe(0);
    expect((await served.get(`/docker/${killed}/`)).status).not.toBe(200);

    // The engine serves launches again; the one refused in the outage left nothing behind.
    const after = `${namespace}-after`;
    await manager.launch(httpd(after));
    await manager.waitUntilReady(after, { signal: AbortSignal.timeout(30_000) });
    expect((await served.get(`/docker/${after}/`)).status).toBe(200);
    expect(await names()).toEqual([after, kept, killed].sort());
  });

  it('without live-restore: containers stop with dockerd, requests get quick errors, routes right within 2 s of the return, nothing orphaned', async () => {
    await engine.setLiveRestore(false);
    try {
      const { manager, served, events } = await stack();
      const name = `${namespace}-plain`;
      await manager.launch(httpd(name));
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(30_000) });
      const traffic = load(served, [name]);
      await sleep(300);

      await engine.stop();
      const down = Date.now();
      const outage = await manager
        .launch(httpd(`${namespace}-outage`), { signal: AbortSignal.timeout(10_000) })
        .catch((error: unknown) => error);
      expect(outage).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      // The container went down with its engine: the proxy answers at once instead of hanging.
      const started = Date.now();
      const answer = await served.get(`/docker/${name}/`);
      expect(answer.status).not.toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);

      await engine.start();
      await eventually(
        () =>
          events.some(({ event, at }) => event.type === 'resync' && at > down) &&
          manager.get(name)?.phase !== 'ready'
            ? true
            : undefined,
        { timeoutMs: 2_000, intervalMs: 20 },
      );
      await traffic.stop();
      expect(traffic.counts.get(name)?.ok).toBeGreaterThan(0);
      expect(await names()).toEqual([name]);
      // Removing it and launching again works as before the fault.
      await manager.remove(name);
      await manager.launch(httpd(name));
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(30_000) });
      expect((await served.get(`/docker/${name}/`)).status).toBe(200);
    } finally {
      await engine.setLiveRestore(true);
    }
  });

  it('an engine that accepts connections but never answers does not hold a failed launch past its deadline and cleanup deadline', async () => {
    const proxy = await startEngineProxy(engine.socketPath);
    closers.push(() => proxy.close());
    const { backend } = await stack(proxy.socketPath, 1_000);
    const spec = (name: string): ContainerSpec => ({
      ...httpd(name),
      input: { hung: true },
      inputs: [fileInput('/www/input.json')],
    });

    // The engine creates the container, then stops answering: placing the input, and the
    // cleanup's removal, hang.
    let created = false;
    const stopHanging = proxy.hang((request) => {
      if (created) return true;
      if (request.method === 'POST' && request.url.includes('/containers/create')) created = true;
      return false;
    });
    let started = Date.now();
    const afterCreate = await backend
      .launch(spec(`${namespace}-hung`), { signal: AbortSignal.timeout(1_500) })
      .catch((error: unknown) => error);
    expect(afterCreate).toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000 + 1_000);
    stopHanging();

    // The engine hangs on the creation itself.
    const stopHangingCreate = proxy.hang((request) => request.url.includes('/containers/create'));
    started = Date.now();
    const inCreate = await backend
      .launch(spec(`${namespace}-hung-create`), { signal: AbortSignal.timeout(1_500) })
      .catch((error: unknown) => error);
    expect(inCreate).toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000 + 1_000);
    stopHangingCreate();

    // What the hung engine kept carries dde's labels: the backend lists it once it answers.
    const left = await backend.list();
    expect(left.map((info) => info.name)).toEqual([`${namespace}-hung`]);
    expect(left[0]?.state).toBe('created');
    expect(await backend.remove(`${namespace}-hung`)).toBe(true);
  });
});
