import { DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import { describeWithDocker, uniqueNamespace } from '@dde/test-support';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type EmulatorWorld, startEmulatorWorld } from '../test/emulator.ts';
import type { EcsBackendOptions } from './index.ts';
import { EcsBackend } from './index.ts';

// ECS's awkward answers, injected by the emulator with real containers behind them, and where
// the proxy reaches a task per launch type and network mode (the emulator's addresses are the
// containers' bridge IPs on this host: safe to connect to).
await describeWithDocker('EcsBackend under ECS faults and launch modes (emulator)', () => {
  let world: EmulatorWorld;
  let ecs: ECSClient;
  let ec2: EC2Client;
  const backends: EcsBackend[] = [];

  beforeAll(async () => {
    world = await startEmulatorWorld();
    const client = {
      endpoint: world.emulator.endpoint,
      region: world.emulator.region,
      credentials: world.emulator.credentials,
    };
    ecs = new ECSClient(client);
    ec2 = new EC2Client(client);
  }, 300_000);
  afterEach(async () => {
    world.emulator.faults.clear();
    for (const backend of backends.splice(0)) {
      for (const info of await backend.list().catch(() => []))
        await backend.remove(info.name).catch(() => {});
      await backend.close();
    }
  });
  afterAll(async () => {
    ecs?.destroy();
    ec2?.destroy();
    await world?.close();
  }, 120_000);

  const makeBackend = (options: Partial<EcsBackendOptions> = {}) => {
    const backend = new EcsBackend({ ...world.backendOptions(uniqueNamespace('ecsb')), ...options });
    backends.push(backend);
    return backend;
  };
  const calls = (operation: string) => world.emulator.calls.filter((call) => call.operation === operation);
  const serving = (name: string) => ({
    name,
    image: world.image,
    port: 8080,
    command: ['sh', '-c', 'mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www'],
  });

  /** The task's ENI detail as ECS reports it. */
  const eni = async (taskArn: string, detail: string) => {
    const { tasks } = await ecs.send(
      new DescribeTasksCommand({ cluster: world.emulator.cluster, tasks: [taskArn] }),
    );
    return tasks?.[0]?.attachments
      ?.find((attachment) => attachment.type === 'ElasticNetworkInterface')
      ?.details?.find((candidate) => candidate.name === detail)?.value;
  };

  it('tolerates MISSING right after RunTask', async () => {
    const backend = makeBackend();
    world.emulator.faults.missingFor(3_000);
    const before = calls('DescribeTasks').length;
    const info = await backend.launch(serving('late'), { signal: AbortSignal.timeout(60_000) });
    expect(info.state).toBe('running');
    expect(calls('DescribeTasks').length - before).toBeGreaterThanOrEqual(3);
  });

  it('fails when a task stays MISSING past the grace period, and stops it', async () => {
    const backend = makeBackend({ missingGraceMs: 2_000 });
    world.emulator.faults.missingFor(60_000);
    const stops = calls('StopTask').length;
    await expect(
      backend.launch(serving('lost'), { signal: AbortSignal.timeout(60_000) }),
    ).rejects.toMatchObject({
      code: 'LAUNCH_FAILED',
      message: expect.stringContaining('MISSING'),
    });
    expect(calls('StopTask').length).toBe(stops + 1);
    world.emulator.faults.clear();
    expect(await backend.list()).toEqual([]);
  });

  it('rides out a short burst of RunTask throttling and reports a long one as LIMIT_EXCEEDED', async () => {
    const backend = makeBackend({ maxAttempts: 3 });
    world.emulator.faults.throttle('RunTask', 2);
    expect((await backend.launch(serving('patient'))).state).toBe('running');
    world.emulator.faults.throttle('RunTask', 10);
    const error = await backend.launch(serving('throttled')).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: expect.stringMatching(/Retry in a few seconds/),
    });
    expect((await backend.list()).map((info) => info.name)).toEqual(['patient']);
  });

  it('runs EC2 bridge tasks reached at the container instance address and the mapped host port', async () => {
    const backend = makeBackend({
      launchType: 'EC2',
      networkMode: 'bridge',
      subnets: [],
      securityGroups: [],
    });
    const info = await backend.launch(serving('bridged'), { signal: AbortSignal.timeout(60_000) });
    expect(info.upstream?.host).toBe(world.emulator.containerInstance.privateIp);
    expect(info.upstream?.port).not.toBe(8080);
    const response = await fetch(`http://${info.upstream?.host}:${info.upstream?.port}/`);
    expect(await response.text()).toBe('served\n');
    expect(calls('DescribeContainerInstances').length).toBeGreaterThan(0);
    expect(calls('DescribeInstances').length).toBeGreaterThan(0);
  });

  it('reads logs from CloudWatch with tail and since', async () => {
    const backend = makeBackend();
    await backend.launch({
      ...serving('talker'),
      command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line-$i; done; exec sleep 3600'],
    });
    const all = await (async () => {
      for (;;) {
        const entries = await backend.logs('talker');
        if (entries.length >= 5) return entries;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    expect(all.map((entry) => entry.text)).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5']);
    expect((await backend.logs('talker', { tail: 2 })).map((entry) => entry.text)).toEqual([
      'line-4',
      'line-5',
    ]);
    const later = new Date((all[4]?.time?.getTime() ?? 0) + 1);
    expect(await backend.logs('talker', { since: later })).toEqual([]);
    await expect(backend.logs('nobody')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("reaches a Fargate task at its ENI's public IP with upstreamAddress: 'public'", async () => {
    const backend = makeBackend({ assignPublicIp: true, upstreamAddress: 'public' });
    const lookups = calls('DescribeNetworkInterfaces').length;
    const info = await backend.launch(serving('public'), { signal: AbortSignal.timeout(60_000) });
    expect(calls('RunTask').at(-1)?.input).toMatchObject({
      networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'ENABLED' } },
    });
    const eniId = await eni(info.id, 'networkInterfaceId');
    expect(eniId).toMatch(/^eni-/);
    const { NetworkInterfaces } = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId as string] }),
    );
    const publicIp = NetworkInterfaces?.[0]?.Association?.PublicIp;
    expect(publicIp).toBeTruthy();
    expect(info.upstream).toEqual({ host: publicIp, port: 8080 });
    expect(calls('DescribeNetworkInterfaces').length).toBeGreaterThan(lookups);
    expect(await (await fetch(`http://${publicIp}:8080/`)).text()).toBe('served\n');
    // list() (the poller, adoption) finds the same address, from the ENI lookup it cached.
    const listed = await backend.list();
    expect(listed.map((entry) => entry.upstream)).toEqual([{ host: publicIp, port: 8080 }]);
  });

  it("reaches an awsvpc task on the EC2 launch type at its ENI's private IP, like Fargate", async () => {
    const backend = makeBackend({ launchType: 'EC2', networkMode: 'awsvpc', executionRoleArn: undefined });
    const info = await backend.launch(serving('ec2-awsvpc'), { signal: AbortSignal.timeout(60_000) });
    expect(calls('RunTask').at(-1)?.input).toMatchObject({
      launchType: 'EC2',
      networkConfiguration: {
        awsvpcConfiguration: { subnets: [...world.emulator.subnets], assignPublicIp: 'DISABLED' },
      },
    });
    const privateIp = await eni(info.id, 'privateIPv4Address');
    expect(privateIp).toBeTruthy();
    expect(info.upstream).toEqual({ host: privateIp, port: 8080 });
    // Not the container instance's address: the task has an ENI of its own.
    expect(info.upstream?.host).not.toBe(world.emulator.containerInstance.privateIp);
    expect(await (await fetch(`http://${privateIp}:8080/`)).text()).toBe('served\n');
    expect(await backend.list()).toMatchObject([
      { name: 'ec2-awsvpc', upstream: { host: privateIp, port: 8080 } },
    ]);
  });
});
