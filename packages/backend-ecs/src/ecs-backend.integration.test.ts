import { randomBytes } from 'node:crypto';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { DescribeTasksCommand, ListTaskDefinitionsCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { envInput, fileInput } from '@dde/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Moto, motoAvailable, motoEcsClient, prepareEcs, startMoto } from '../test/moto.ts';
import type { EcsBackendOptions } from './index.ts';
import { EcsBackend } from './index.ts';

const CLUSTER = 'ecsb-backend';

/** Every command the backend sent, with its input, recorded by a middleware on its client. */
interface Recorded {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

describe.runIf(motoAvailable())('EcsBackend against moto_server', () => {
  let moto: Moto;
  let network: { subnets: string[]; securityGroups: string[] };
  let ecs: ECSClient;
  let recorded: Recorded[];
  const backends: EcsBackend[] = [];
  let afterRunTask: (() => void) | undefined;

  const makeBackend = (options: Partial<EcsBackendOptions> = {}) => {
    const backend = new EcsBackend({
      cluster: CLUSTER,
      namespace: `ecsb-${randomBytes(3).toString('hex')}`,
      ...network,
      ecs,
      inputWriterImage: 'ecsb-busybox:1',
      ...options,
    } as EcsBackendOptions);
    backends.push(backend);
    return backend;
  };
  const spec = (name: string) => ({ name, image: 'ecsb-tool:1', port: 8080, command: ['sleep', '3600'] });
  const sent = (command: string) => recorded.filter((entry) => entry.command === command);

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.close();
  });
  beforeEach(async () => {
    await moto.reset();
    network = await prepareEcs(moto, CLUSTER);
    recorded = [];
    afterRunTask = undefined;
    ecs = motoEcsClient(moto);
    ecs.middlewareStack.add(
      (next, context) => async (args) => {
        recorded.push({
          command: context.commandName ?? '?',
          input: structuredClone(args.input as Record<string, unknown>),
        });
        const result = await next(args);
        if (context.commandName === 'RunTaskCommand') afterRunTask?.();
        return result;
      },
      { step: 'initialize', name: 'record' },
    );
  });
  afterEach(async () => {
    for (const backend of backends.splice(0)) await backend.close();
    ecs.destroy();
  });

  it('runs one task with startedBy, group, tags and a clientToken unique to the launch', async () => {
    const backend = makeBackend();
    const info = await backend.launch({
      ...spec('alice-viewer'),
      owner: 'alice',
      labels: { course: 'bio-101' },
    });
    const [run] = sent('RunTaskCommand');
    expect(run?.input).toMatchObject({
      cluster: CLUSTER,
      count: 1,
      launchType: 'FARGATE',
      startedBy: `dde/${backend.namespace}`,
      group: 'dde:alice-viewer',
      clientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      networkConfiguration: { awsvpcConfiguration: { subnets: network.subnets, assignPublicIp: 'DISABLED' } },
    });
    expect(run?.input.tags).toEqual(
      expect.arrayContaining([
        { key: 'dde.managed', value: 'true' },
        { key: 'dde.namespace', value: backend.namespace },
        { key: 'dde.owner', value: 'alice' },
        { key: 'dde.name', value: 'alice-viewer' },
        { key: 'course', value: 'bio-101' },
      ]),
    );
    // The address is the task ENI's (moto invents it: never connected to here).
    const described = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [info.id] }));
    const eni = described.tasks?.[0]?.attachments?.[0]?.details?.find(
      (detail) => detail.name === 'privateIPv4Address',
    );
    expect(info.upstream).toEqual({ host: eni?.value, port: 8080 });
    expect(info).toMatchObject({
      owner: 'alice',
      labels: { course: 'bio-101' },
      state: 'running',
      cpus: 0.25,
    });

    await backend.remove('alice-viewer');
    await backend.launch(spec('alice-viewer'));
    const tokens = sent('RunTaskCommand').map((entry) => entry.input.clientToken);
    expect(new Set(tokens).size).toBe(2);
  });

  it('registers a task definition once per content and reuses it', async () => {
    const backend = makeBackend();
    await Promise.all([backend.launch(spec('one')), backend.launch(spec('two'))]);
    await backend.launch({
      ...spec('three'),
      env: { PER: 'launch data' },
      input: { a: 1 },
      inputs: [envInput()],
    });
    expect(sent('RegisterTaskDefinitionCommand')).toHaveLength(1);
    const definitions = new Set(sent('RunTaskCommand').map((entry) => entry.input.taskDefinition));
    expect(definitions.size).toBe(1);
    // A second backend (another process) finds the ACTIVE revision instead of registering anew.
    const again = makeBackend({ namespace: backend.namespace });
    await again.launch(spec('four'));
    expect(sent('RegisterTaskDefinitionCommand')).toHaveLength(1);
  });

  it('describes the tasks of concurrent launches together', async () => {
    const backend = makeBackend();
    await Promise.all(['a', 'b', 'c', 'd'].map((name) => backend.launch(spec(`batch-${name}`))));
    const sizes = sent('DescribeTasksCommand').map((entry) => (entry.input.tasks as string[]).length);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect((await backend.list()).map((info) => info.name).sort()).toEqual([
      'batch-a',
      'batch-b',
      'batch-c',
      'batch-d',
    ]);
  });

  it('deregisters the task definitions it registered when their last task goes, if asked to', async () => {
    const backend = makeBackend({ releaseTaskDefinitions: 'when-unused' });
    const info = await backend.launch(spec('short'));
    const [definitionArn] = sent('RunTaskCommand').map((entry) => entry.input.taskDefinition as string);
    await backend.launch(spec('other'));
    await backend.remove('short');
    expect(sent('DeregisterTaskDefinitionCommand')).toHaveLength(0);
    await backend.remove('other');
    expect(sent('DeregisterTaskDefinitionCommand').map((entry) => entry.input.taskDefinition)).toEqual([
      definitionArn,
    ]);
    const active = await ecs.send(new ListTaskDefinitionsCommand({ status: 'ACTIVE' }));
    expect(active.taskDefinitionArns).not.toContain(definitionArn);
    expect(info.id).toBeTruthy();
  });

  it('releases unused task definitions on close, never one it did not register', async () => {
    const first = makeBackend();
    await first.launch(spec('kept'));
    const second = makeBackend({ namespace: first.namespace });
    await second.launch({ ...spec('reused') });
    await first.remove('kept');
    await second.remove('reused');
    // second reused first's revision: closing it must not deregister it.
    await second.close();
    expect(sent('DeregisterTaskDefinitionCommand')).toHaveLength(0);
    await first.close();
    expect(sent('DeregisterTaskDefinitionCommand')).toHaveLength(1);
  });

  it('refuses an input too large for the overrides before registering or running anything', async () => {
    const backend = makeBackend();
    const error = await backend
      .launch({ ...spec('big'), input: { blob: 'x'.repeat(9000) }, inputs: [fileInput('/data/input.json')] })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'INPUT_TOO_LARGE', message: expect.stringContaining('8192') });
    expect(recorded).toEqual([]);
  });

  it('refuses a file input ECS cannot place faithfully, before anything is created', async () => {
    const backend = makeBackend();
    await expect(
      backend.launch({ ...spec('etc'), input: {}, inputs: [fileInput('/etc/input.json')] }),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(recorded).toEqual([]);
  });

  it('refuses a readiness path ECS tags cannot carry, naming readiness.path, before anything is created', async () => {
    const backend = makeBackend();
    const error = await backend
      .launch({ ...spec('query'), readiness: { path: '/health?ready=1' } })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'INVALID_SPEC',
      field: 'readiness.path',
      message: expect.stringContaining('choose a readiness path made of those characters only'),
    });
    expect(recorded).toEqual([]);
  });

  it('stops the task it started when the launch is aborted', async () => {
    const backend = makeBackend();
    const controller = new AbortController();
    afterRunTask = () => controller.abort();
    const error = await backend
      .launch(spec('aborted'), { signal: controller.signal })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ABORTED' });
    const [stop] = sent('StopTaskCommand');
    expect(stop?.input.reason).toMatch(/launch aborted/);
    const stopped = await ecs.send(
      new DescribeTasksCommand({ cluster: CLUSTER, tasks: [stop?.input.task as string] }),
    );
    expect(stopped.tasks?.[0]?.desiredStatus).toBe('STOPPED');
    expect(await backend.inspect('aborted')).toBeUndefined();
  });

  it('stops a task with a reason on remove, idempotently', async () => {
    const backend = makeBackend();
    const info = await backend.launch(spec('gone'));
    expect(await backend.remove('gone')).toBe(true);
    expect(await backend.remove('gone')).toBe(false);
    expect(sent('StopTaskCommand')).toHaveLength(1);
    const stopped = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [info.id] }));
    expect(stopped.tasks?.[0]?.stoppedReason).toBe(`Removed by dde (namespace ${backend.namespace})`);
    const running = await ecs.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'RUNNING' }));
    expect(running.taskArns).toEqual([]);
  });

  it('names the cluster option when the cluster does not exist', async () => {
    const backend = makeBackend({ cluster: 'ecsb-no-such-cluster' });
    await expect(backend.list()).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', field: 'cluster' });
    await expect(backend.launch(spec('nowhere'))).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      field: 'cluster',
    });
  });
});
