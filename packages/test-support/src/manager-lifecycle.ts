/**
 * The lifecycle of a `ContainerManager` on a real engine (LRU eviction under a memory budget,
 * single-flight launches, culling spared by an open WebSocket, adoption after a restart, start on
 * demand and limits, metrics), as one suite that runs with whatever shared-state store the
 * managers use: the memory default (backend-docker's tests) or the Redis store (@dde/redis's).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContainerBackend, ContainerSpec } from '@dde/core';
import {
  ContainerManager,
  type ContainerManagerOptions,
  createProxy,
  DdeMetrics,
  declaredTools,
  MemoryHistory,
  pathRouter,
} from '@dde/core';
import type Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { cleanupNamespace, uniqueNamespace } from './docker.ts';
import { echoOnce, openWebSocket } from './proxy/client.ts';
import { buildHttpdImage, buildNodeToolImage } from './proxy/tool-images.ts';
import { eventually } from './wait.ts';

/** What {@link describeManagerLifecycle} runs against. */
export interface ManagerLifecycleFixture {
  /** A backend of `namespace` on the engine `docker` talks to. */
  backend(namespace: string): ContainerBackend;
  /**
   * The shared state of one manager of `namespace`; each call is a new application instance of
   * it. Default: a fresh `MemoryHistory` and core's in-process coordination.
   */
  store?(namespace: string): Pick<ContainerManagerOptions, 'history' | 'coordination'>;
  /** Start of the suite's namespaces and image tags. Default `mgrtest`. */
  namespacePrefix?: string;
}

/**
 * Registers the lifecycle tests; call it inside a `describe` that has a Docker Engine (e.g.
 * {@link describeWithDocker}). The suite builds its images and removes every container, network
 * and image of its namespaces.
 */
export function describeManagerLifecycle(docker: Dockerode, fixture: ManagerLifecycleFixture): void {
  const namespace = uniqueNamespace(fixture.namespacePrefix ?? 'mgrtest');
  const otherNamespace = `${namespace}-other`;
  const httpdImage = `dde-mgr-httpd:${namespace}`;
  const nodeImage = `dde-mgr-node:${namespace}`;

  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (closers.length > 0)
      await closers
        .pop()?.()
        .catch(() => {});
  });

  /** A manager on the real engine, with the proxy in front of it on a loopback port. */
  async function stack(options: Partial<ContainerManagerOptions> = {}, ns = namespace) {
    const metrics = new DdeMetrics();
    const manager = new ContainerManager({
      backend: fixture.backend(ns),
      ...(fixture.store?.(ns) ?? { history: new MemoryHistory() }),
      metrics,
      ...options,
    });
    await manager.start();
    const proxy = createProxy({ manager, router: pathRouter() });
    const server: Server = createServer((req, res) => {
      if (req.url === '/metrics') void metrics.handler(req, res);
      else proxy.handleRequest(req, res);
    });
    server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head) || socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
      await manager.close();
    });
    const port = (server.address() as AddressInfo).port;
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, { headers, redirect: 'manual' });
    return { manager, metrics, port, get };
  }

  const httpd = (name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
    name,
    image: httpdImage,
    command: ['httpd', '-f', '-p', '80', '-h', '/www'],
    readiness: { path: '/', timeoutMs: 30_000 },
    ...extra,
  });

  async function running(ns: string): Promise<string[]> {
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`dde.namespace=${ns}`] },
    });
    return containers.map((container) => (container.Names[0] ?? '').slice(1)).sort();
  }

  beforeAll(async () => {
    await Promise.all([
      buildHttpdImage(docker, httpdImage, namespace),
      buildNodeToolImage(docker, nodeImage, namespace),
    ]);
  }, 180_000);
  afterAll(async () => {
    await cleanupNamespace(docker, otherNamespace);
    await cleanupNamespace(docker, namespace);
  });
  afterEach(async () => {
    for (const container of await docker.listContainers({
      all: true,
      filters: { label: [`dde.namespace=${namespace}`] },
    })) {
      await docker
        .getContainer(container.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    }
  });

  it('evicts the least recently used of three 15 MB containers under a 35 MB budget; a proxied request refreshes recency', async () => {
    const { manager, get } = await stack({ capacity: { memoryBudgetMb: 35 } });
    const removed: unknown[] = [];
    manager.on('removed', (event) => removed.push(event));
    await manager.launch(httpd('lru-first', { memoryReservationMb: 15 }));
    await manager.launch(httpd('lru-second', { memoryReservationMb: 15 }));
    await manager.waitUntilReady('lru-first', { signal: AbortSignal.timeout(30_000) });
    await manager.waitUntilReady('lru-second', { signal: AbortSignal.timeout(30_000) });
    await get('/docker/lru-second/');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The older container becomes the most recently used.
    expect((await get('/docker/lru-first/')).status).toBe(200);
    expect(manager.capacity().evictionOrder).toEqual(['lru-second', 'lru-first']);
    await manager.launch(httpd('lru-third', { memoryReservationMb: 15 }));
    expect(await running(namespace)).toEqual(['lru-first', 'lru-third']);
    // The engine's own `destroyed` event must not hide why the container went.
    expect(removed).toEqual([{ name: 'lru-second', reason: 'lru' }]);
  });

  it('turns 20 concurrent launches of one name into one container', async () => {
    const { manager } = await stack();
    const infos = await Promise.all(Array.from({ length: 20 }, () => manager.launch(httpd('single'))));
    expect(new Set(infos.map((info) => info.id)).size).toBe(1);
    expect(await running(namespace)).toEqual(['single']);
  });

  it('launches 20 distinct containers concurrently, all ready', async () => {
    const { manager, get } = await stack();
    const names = Array.from({ length: 20 }, (_, index) => `many-${index}`);
    await Promise.all(names.map((name) => manager.launch(httpd(name))));
    await Promise.all(
      names.map((name) => manager.waitUntilReady(name, { signal: AbortSignal.timeout(60_000) })),
    );
    expect(await running(namespace)).toEqual([...names].sort());
    const statuses = await Promise.all(names.map(async (name) => (await get(`/docker/${name}/`)).status));
    expect(statuses.every((status) => status === 200)).toBe(true);
  }, 120_000);

  it('culls idle containers but keeps one alive while its WebSocket is open', async () => {
    const { manager, port } = await stack({ culling: { idleTimeoutMs: 1500, intervalMs: 250 } });
    const removed: unknown[] = [];
    manager.on('removed', (event) => removed.push(event));
    await manager.launch(httpd('quiet'));
    await manager.launch({ name: 'talking', image: nodeImage, port: 80 });
    // A container never active counts as idle since it started: one that took longer than the
    // idle timeout to become ready would be culled the moment it is, before the test's socket
    // opens. Hold it until then; from there on only the proxied WebSocket keeps it.
    const holding = manager.openedWebSocket('talking');
    await manager.waitUntilReady('talking', { signal: AbortSignal.timeout(30_000) });
    const socket = await openWebSocket(port, '/docker/talking/ws');
    holding();
    expect((await echoOnce(socket, 'still here')).toString()).toBe('still here');
    await eventually(async () => ((await running(namespace)).includes('quiet') ? undefined : true), {
      timeoutMs: 15_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await running(namespace)).toEqual(['talking']);
    expect(removed).toEqual([{ name: 'quiet', reason: 'idle' }]);
    socket.close();
    await eventually(async () => ((await running(namespace)).length === 0 ? true : undefined), {
      timeoutMs: 15_000,
    });
  });

  it('recovers after a restart: a second manager adopts and serves what the first launched; other namespaces stay untouched', async () => {
    const first = await stack();
    await first.manager.launch(httpd('survivor', { owner: 'alice', memoryReservationMb: 8 }));
    await first.manager.waitUntilReady('survivor', { signal: AbortSignal.timeout(30_000) });
    const stranger = await stack({}, otherNamespace);
    await stranger.manager.launch(httpd('stranger'));
    await first.manager.close();

    const second = await stack({ capacity: { memoryBudgetMb: 100 } });
    expect(second.manager.get('survivor')?.info).toMatchObject({ owner: 'alice', memoryReservationMb: 8 });
    expect(second.manager.get('stranger')).toBeUndefined();
    await second.manager.waitUntilReady('survivor', { signal: AbortSignal.timeout(30_000) });
    expect(await (await second.get('/docker/survivor/')).text()).toMatch(/dde busybox tool/);
    expect((await second.get('/docker/stranger/')).status).toBe(404);
    expect(second.manager.capacity().usedMb).toBe(8);
    expect(await second.manager.removeAll()).toEqual(['survivor']);
    expect(await running(otherNamespace)).toEqual(['stranger']);
  });

  it('starts declared tools on the first request, answers 429 over a limit, and shows a failed start', async () => {
    const { get, manager } = await stack({
      limits: { maxContainers: 1 },
      onDemand: declaredTools({
        'on-demand': httpd('template'),
        'on-demand-2': httpd('template'),
        broken: { image: `dde-absent-image:${namespace}`, port: 80 },
      }),
    });
    const first = await get('/docker/on-demand/', { accept: 'text/html' });
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toMatch(/^\d+$/);
    await manager.waitUntilReady('on-demand', { signal: AbortSignal.timeout(30_000) });
    expect((await get('/docker/on-demand/')).status).toBe(200);

    const refused = await get('/docker/on-demand-2/', { accept: 'application/json' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ code: 'LIMIT_EXCEEDED' });

    await manager.remove('on-demand');
    const broken = await get('/docker/broken/', { accept: 'application/json' });
    expect(broken.status).toBe(503);
    const failed = await eventually(async () => {
      const response = await get('/docker/broken/', { accept: 'application/json' });
      return response.status === 502 ? response.json() : undefined;
    });
    expect(failed).toMatchObject({ status: 'failed', reason: 'launch-failed' });
    expect(JSON.stringify(failed)).toMatch(/dde-absent-image/);
  });

  it('exposes the expected metric series', async () => {
    const { manager, get } = await stack();
    await manager.launch(httpd('measured'));
    await manager.waitUntilReady('measured', { signal: AbortSignal.timeout(30_000) });
    for (let i = 0; i < 3; i++) expect((await get('/docker/measured/')).status).toBe(200);
    // An exchange is counted when it ends: read the whole body (busybox's 404 ends at the close).
    await (await get('/docker/measured/missing.html')).text();
    const text = await (await get('/metrics')).text();
    expect(text).toContain('dde_containers{state="ready"} 1');
    expect(text).toContain('dde_launches_total{result="success"} 1');
    expect(text).toMatch(/dde_start_phase_seconds_count\{phase="probing"\} 1/);
    expect(text).toContain('dde_proxied_requests_total{status="200"} 3');
    expect(text).toContain('dde_proxied_requests_total{status="404"} 1');
    expect(text).toMatch(/dde_upstream_latency_seconds_count 4/);
    expect(text).toContain('dde_active_websockets 0');
  });
}
