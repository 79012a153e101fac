import { DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import { describeWithDocker, uniqueNamespace } from '@dde/test-support';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type EmulatorWorld, startEmulatorWorld } from '../test/emulator.ts';
import type { EcsBackendOptions } from './index.ts';
import { EcsBackend } from './index.ts';

// Where the proxy reaches a task, per launch type and network mode, with real containers behind
// the emulator (whose addresses are the containers' bridge IPs on this host: safe to connect to).
await describeWithDocker('EcsBackend upstream addresses (emulator)', () => {
  let world: EmulatorWorld;
  let ecs: ECSClient;
  let ec2: EC2Client;
  const backends: EcsBackend[] = [];

  beforeAll(async () => {
    world = await startEmulatorWorld('ecsf');
    const client = {
      endpoint: world.emulator.endpoint,
      region: world.emulator.region,
      credentials: world.emulator.credentials,
    };
    ecs = new ECSClient(client);
    ec2 = new EC2Client(client);
  }, 300_000);
  afterEach(async () => {
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
    const backend = new EcsBackend({ ...world.backendOptions(uniqueNamespace('ecsf')), ...options });
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
