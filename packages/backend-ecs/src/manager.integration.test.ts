import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import type { ContainerManagerOptions, ContainerSpec } from '@dde/core';
import { ContainerManager, declaredTools, envInput, fileInput, pathRouter, urlInput } from '@dde/core';
import { koaProxy } from '@dde/proxy-koa';
import {
  buildNodeToolImage,
  describeWithDocker,
  echoOnce,
  eventually,
  openWebSocket,
  uniqueNamespace,
} from '@dde/test-support';
import Koa from 'koa';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type EmulatorWorld, startEmulatorWorld } from '../test/emulator.ts';
import { EcsBackend } from './index.ts';

// The whole stack over the ECS API: ContainerManager + Koa proxy + EcsBackend, with the tasks'
// containers running for real on the local engine behind the ECS emulator.
await describeWithDocker('ContainerManager, Koa proxy and EcsBackend on the ECS emulator', (docker) => {
  let world: EmulatorWorld;
  let nodeImage: string;
  let ecs: ECSClient;
  // Each test has a namespace of its own, so tasks left by one never show in another.
  let namespace = uniqueNamespace('ecsb');
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    world = await startEmulatorWorld();
    nodeImage = await buildNodeToolImage(docker, `${world.label}-node:1`, world.label);
    ecs = new ECSClient({
      endpoint: world.emulator.endpoint,
      region: world.emulator.region,
      credentials: world.emulator.credentials,
    });
  }, 300_000);
  beforeEach(() => {
    namespace = uniqueNamespace('ecsb');
  });
  afterEach(async () => {
    world.emulator.faults.clear();
    while (closers.length > 0)
      await closers
        .pop()?.()
        .catch(() => {});
    // Managers leave their tasks running on close (a new one adopts them): stop them here.
    const backend = new EcsBackend(world.backendOptions(namespace));
    for (const info of await backend.list()) await backend.remove(info.name);
    await backend.close();
  });
  afterAll(async () => {
    ecs?.destroy();
    await world?.close();
  }, 120_000);

  /** Tasks of the namespace that ECS still wants running. */
  const runningTasks = async () =>
    (
      await ecs.send(
        new ListTasksCommand({
          cluster: world.emulator.cluster,
          startedBy: `dde/${namespace}`,
          desiredStatus: 'RUNNING',
        }),
      )
    ).taskArns ?? [];

  /** A manager over a fresh EcsBackend, behind a Koa application with the proxy under /ecs. */
  async function stack(options: Partial<ContainerManagerOptions> = {}) {
    const manager = new ContainerManager({
      backend: new EcsBackend({ ...world.backendOptions(namespace), releaseTaskDefinitions: 'never' }),
      reconcileIntervalMs: 2_000,
      ...options,
    });
    await manager.start();
    const app = new Koa();
    const proxy = koaProxy({
      manager,
      router: pathRouter({ prefix: '/ecs' }),
      pleaseWait: { title: 'Starting your tool on ECS', retryAfterSeconds: 1 },
    });
    app.use(proxy.middleware);
    const server = proxy.attach(app.listen(0, '127.0.0.1'));
    await once(server, 'listening');
    closers.push(async () => {
      await proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    });
    const port = (server.address() as AddressInfo).port;
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, { headers, redirect: 'manual' });
    return { manager, port, get };
  }

  /** A busybox tool serving /www, where it first writes what it received in its environment. */
  const serving = (name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
    name,
    image: world.image,
    port: 8080,
    command: [
      'sh',
      '-c',
      'mkdir -p /www && printf "%s" "$INPUT_JSON" > /www/env.json && printf "%s" "$INPUT_JSON_URL" > /www/url.txt && exec httpd -f -p 8080 -h /www',
    ],
    readiness: { path: '/env.json', timeoutMs: 60_000 },
    ...extra,
  });

  it('launches a tool with env, URL and file input and proxies HTTP and WebSocket to it', async () => {
    const { manager, port, get } = await stack();
    const input = { dataset: 'genome-42', tracks: [1, 2], label: 'äöü "quoted"' };
    await manager.launch(
      serving('inputs', {
        input,
        inputs: [
          envInput(),
          urlInput('https://data.example.org/genome-42.json'),
          fileInput('/www/data/input.json'),
        ],
      }),
    );
    await manager.waitUntilReady('inputs', { signal: AbortSignal.timeout(60_000) });
    expect(await (await get('/ecs/inputs/env.json')).json()).toEqual(input);
    expect(await (await get('/ecs/inputs/data/input.json')).json()).toEqual(input);
    expect(await (await get('/ecs/inputs/url.txt')).text()).toBe('https://data.example.org/genome-42.json');

    await manager.launch({ name: 'sockets', image: nodeImage, port: 80 });
    await manager.waitUntilReady('sockets', { signal: AbortSignal.timeout(60_000) });
    const echoed = await (await get('/ecs/sockets/anything?x=1')).json();
    expect(echoed).toMatchObject({ method: 'GET', url: '/anything?x=1' });
    const socket = await openWebSocket(port, '/ecs/sockets/ws');
    expect((await echoOnce(socket, 'over ECS')).toString()).toBe('over ECS');
    socket.close();
  });

  it('shows please-wait while the task is PENDING, then proxies it', async () => {
    const { manager, get } = await stack({
      onDemand: declaredTools({ 'slow-tool': serving('template', { input: { a: 1 } }) }),
    });
    world.emulator.faults.slowStart(6_000);
    const first = await get('/ecs/slow-tool/env.json', { accept: 'text/html' });
    expect(first.status).toBe(503);
    expect(await first.text()).toContain('Starting your tool on ECS');
    const [arn] = await eventually(async () => {
      const arns = await runningTasks();
      return arns.length > 0 ? arns : undefined;
    });
    const described = await ecs.send(
      new DescribeTasksCommand({ cluster: world.emulator.cluster, tasks: [arn as string] }),
    );
    expect(['PROVISIONING', 'PENDING']).toContain(described.tasks?.[0]?.lastStatus);
    expect((await get('/ecs/slow-tool/env.json', { accept: 'text/html' })).status).toBe(503);
    await manager.waitUntilReady('slow-tool', { signal: AbortSignal.timeout(60_000) });
    expect(await (await get('/ecs/slow-tool/env.json')).json()).toEqual({ a: 1 });
  });

  it("shows a failed task's stop reason on the failure page", async () => {
    const broken = `${namespace}-unpullable:1`;
    world.emulator.faults.failPull(broken);
    const { get } = await stack({ onDemand: declaredTools({ broken: { image: broken, port: 8080 } }) });
    expect((await get('/ecs/broken/', { accept: 'application/json' })).status).toBe(503);
    const failed = await eventually(async () => {
      const response = await get('/ecs/broken/', { accept: 'application/json' });
      return response.status === 502 ? response.json() : undefined;
    });
    expect(failed).toMatchObject({ status: 'failed', reason: 'launch-failed' });
    expect(JSON.stringify(failed)).toMatch(/TaskFailedToStart/);
    expect(JSON.stringify(failed)).toMatch(/CannotPullContainerError/);
    const page = await (await get('/ecs/broken/', { accept: 'text/html' })).text();
    expect(page).toMatch(/CannotPullContainerError/);
    expect(await runningTasks()).toEqual([]);
  });

  it('shows the failure page of a task whose tool exits after it ran, until it is removed', async () => {
    const first = await stack();
    // httpd runs in the background; the shell (the container's main process) exits 3 later.
    const crashing = serving('crasher', {
      command: [
        'sh',
        '-c',
        'mkdir -p /www && echo up > /www/env.json && httpd -p 8080 -h /www && sleep 4 && exit 3',
      ],
    });
    await first.manager.launch(crashing);
    await first.manager.waitUntilReady('crasher', { signal: AbortSignal.timeout(60_000) });
    expect((await first.get('/ecs/crasher/env.json')).status).toBe(200);
    const failed = await eventually(
      async () => {
        // Until the poller sees the task stopped, a request meets the dead address (502 error).
        const response = await first.get('/ecs/crasher/env.json', { accept: 'application/json' });
        const body = response.status === 502 ? ((await response.json()) as { status: string }) : undefined;
        return body?.status === 'failed' ? body : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(failed).toMatchObject({ status: 'failed', reason: 'exited' });
    expect(JSON.stringify(failed)).toMatch(/exited with code 3/);
    expect(JSON.stringify(failed)).toMatch(/EssentialContainerExited: Essential container in task exited/);
    const page = await (await first.get('/ecs/crasher/', { accept: 'text/html' })).text();
    expect(page).toMatch(/exited with code 3/);
    expect(first.manager.get('crasher')?.failure).toMatchObject({ reason: 'exited', exitCode: 3 });

    // Another process finds it too, from DescribeTasks alone (a stopped task has no tags left).
    const fresh = new EcsBackend(world.backendOptions(namespace));
    closers.push(() => fresh.close());
    expect(await fresh.list()).toMatchObject([{ name: 'crasher', state: 'exited', exitCode: 3 }]);
    const forgetful = new EcsBackend({ ...world.backendOptions(namespace), exitedTaskRetentionMs: 0 });
    closers.push(() => forgetful.close());
    expect(await forgetful.list()).toEqual([]);

    // Removing it hides it, and the name can be launched again.
    expect(await first.manager.remove('crasher')).toBe(true);
    expect(first.manager.get('crasher')).toBeUndefined();
    await first.manager.reconcile();
    expect(first.manager.get('crasher')).toBeUndefined();
    await first.manager.launch(serving('crasher'));
    await first.manager.waitUntilReady('crasher', { signal: AbortSignal.timeout(60_000) });
    expect((await first.get('/ecs/crasher/env.json')).status).toBe(200);
    // The running task hides the older exited one everywhere.
    expect(await fresh.list()).toMatchObject([{ name: 'crasher', state: 'running' }]);
  });

  it('adopts running tasks after a restart, culls idle ones and removes everything', async () => {
    const first = await stack();
    await first.manager.launch(
      serving('survivor', { owner: 'alice', memoryReservationMb: 64, input: { kept: true } }),
    );
    await first.manager.launch(serving('idle', { input: { idle: true } }));
    await first.manager.waitUntilReady('survivor', { signal: AbortSignal.timeout(60_000) });
    await (closers.pop() as () => Promise<unknown>)();

    const second = await stack({ culling: { idleTimeoutMs: 4_000, intervalMs: 500 } });
    expect(second.manager.get('survivor')?.info).toMatchObject({ owner: 'alice', memoryReservationMb: 64 });
    await second.manager.waitUntilReady('survivor', { signal: AbortSignal.timeout(60_000) });
    const removed: unknown[] = [];
    second.manager.on('removed', (event) => removed.push(event));
    // Requests keep the survivor busy while the idle task is culled.
    await eventually(
      async () => {
        expect((await second.get('/ecs/survivor/env.json')).status).toBe(200);
        return removed.length > 0 ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(removed).toEqual([{ name: 'idle', reason: 'idle' }]);
    expect(await runningTasks()).toHaveLength(1);
    expect(await second.manager.removeAll()).toEqual(['survivor']);
    expect(await runningTasks()).toEqual([]);
  });
});
