import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeContainerInstancesCommand,
  ListTagsForResourceCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { expect, it } from 'vitest';
import { describeWithDocker } from '../docker.ts';
import { fetchWhenReady } from '../wait.ts';
import { emulatorFixture, FARGATE_TASK, httpdContainer } from './fixture.ts';
import { EMULATOR_LABEL } from './index.ts';

await describeWithDocker('ECS emulator: tasks on Docker', (docker) => {
  const f = emulatorFixture(docker, 'ecse');

  async function fargateHttpd(family: string): Promise<string> {
    return f.register({
      family,
      ...FARGATE_TASK,
      containerDefinitions: httpdContainer(f.image),
    });
  }

  it('runs a Fargate task through PROVISIONING, PENDING and RUNNING, reachable on its ENI address', async () => {
    const taskDefinition = await fargateHttpd('web');
    const { tasks, failures } = await f.ecs.send(
      new RunTaskCommand({
        cluster: f.emulator.cluster,
        taskDefinition,
        launchType: 'FARGATE',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: [...f.emulator.subnets],
            securityGroups: [...f.emulator.securityGroups],
            assignPublicIp: 'ENABLED',
          },
        },
        overrides: {
          containerOverrides: [{ name: 'web', environment: [{ name: 'WHO', value: 'override' }] }],
        },
        startedBy: 'dde/ecse',
        group: 'dde',
        tags: [{ key: 'dde.owner', value: 'alice' }],
      }),
    );
    expect(failures).toEqual([]);
    const started = tasks?.[0];
    expect(started?.lastStatus).toBe('PROVISIONING');
    expect(started?.tags).toEqual([{ key: 'dde.owner', value: 'alice' }]);
    expect(started?.desiredStatus).toBe('RUNNING');
    const taskArn = started?.taskArn ?? '';
    expect(taskArn).toMatch(
      new RegExp(`^arn:aws:ecs:us-east-1:123456789012:task/${f.emulator.cluster}/[0-9a-f]{32}$`),
    );
    // (PENDING in between is checked under the slow-start fault, where its length is known.)
    const running = await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    expect(running.startedBy).toBe('dde/ecse');
    expect(running.group).toBe('dde');
    expect(running.launchType).toBe('FARGATE');
    expect(running.startedAt).toBeInstanceOf(Date);
    const details = Object.fromEntries(
      running.attachments?.[0]?.details?.map((d) => [d.name, d.value]) ?? [],
    );
    expect(details.subnetId).toMatch(/^subnet-/);
    const ip = details.privateIPv4Address ?? '';
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address).toBe(ip);
    expect(running.containers?.[0]?.lastStatus).toBe('RUNNING');
    expect(await fetchWhenReady({ host: ip, port: 8080 }, '/')).toBe('hello from override\n');
    // The ENI through EC2, as a proxy outside the VPC looks up the public address.
    const ec2 = new EC2Client({
      endpoint: f.emulator.endpoint,
      region: f.emulator.region,
      credentials: f.emulator.credentials,
    });
    try {
      const { NetworkInterfaces } = await ec2.send(
        new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [details.networkInterfaceId ?? ''] }),
      );
      expect(NetworkInterfaces?.[0]?.PrivateIpAddress).toBe(ip);
      expect(NetworkInterfaces?.[0]?.Association?.PublicIp).toBe(ip);
    } finally {
      ec2.destroy();
    }
    const listed = await f.ecs.send(
      new ListTasksCommand({ cluster: f.emulator.cluster, startedBy: 'dde/ecse' }),
    );
    expect(listed.taskArns).toContain(taskArn);
    expect((await f.describe(taskArn, 'TAGS'))?.tags).toEqual([{ key: 'dde.owner', value: 'alice' }]);

    const stopping = await f.ecs.send(
      new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn, reason: 'idle' }),
    );
    expect(stopping.task?.desiredStatus).toBe('STOPPED');
    const stopped = await f.waitFor(taskArn, (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('UserInitiated');
    expect(stopped.stoppedReason).toBe('idle');
    expect(stopped.stoppedAt).toBeInstanceOf(Date);
    expect(stopped.containers?.[0]?.lastStatus).toBe('STOPPED');
    expect(stopped.startedBy).toBe('dde/ecse');
    // ECS forgets a stopped task's tags; startedBy and group stay.
    expect((await f.describe(taskArn, 'TAGS'))?.tags).toEqual([]);
    expect((await f.ecs.send(new ListTagsForResourceCommand({ resourceArn: taskArn }))).tags).toEqual([]);
    // StopTask is idempotent and keeps the first reason.
    const again = await f.ecs.send(
      new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn, reason: 'again' }),
    );
    expect(again.task?.stoppedReason).toBe('idle');
    const stoppedList = await f.ecs.send(
      new ListTasksCommand({ cluster: f.emulator.cluster, startedBy: 'dde/ecse', desiredStatus: 'STOPPED' }),
    );
    expect(stoppedList.taskArns).toContain(taskArn);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${EMULATOR_LABEL}.task=${taskArn.split('/').at(-1)}`] },
    });
    expect(left).toEqual([]);
  });

  it('publishes EC2 bridge ports on 127.0.0.1, the container instance private address', async () => {
    const taskDefinition = await f.register({
      family: 'bridge',
      containerDefinitions: httpdContainer(f.image),
    });
    const { tasks } = await f.ecs.send(
      new RunTaskCommand({
        cluster: f.emulator.cluster,
        taskDefinition,
        launchType: 'EC2',
        count: 1,
        overrides: { containerOverrides: [{ name: 'web', memory: 48 }] },
      }),
    );
    const taskArn = tasks?.[0]?.taskArn ?? '';
    expect(tasks?.[0]?.containerInstanceArn).toBe(f.emulator.containerInstance.arn);
    const running = await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    const binding = running.containers?.[0]?.networkBindings?.[0];
    expect(binding?.containerPort).toBe(8080);
    expect(binding?.hostPort).toBeGreaterThan(0);
    expect(running.attachments).toEqual([]);
    // The container override's hard memory limit is the container's limit on the engine.
    expect(running.containers?.[0]?.memory).toBe('48');
    const inspected = await docker.getContainer(running.containers?.[0]?.runtimeId ?? '').inspect();
    expect(inspected.HostConfig.Memory).toBe(48 * 1024 * 1024);
    expect(inspected.Config.Env).toEqual(
      expect.arrayContaining(['AWS_EXECUTION_ENV=AWS_ECS_EC2', 'AWS_REGION=us-east-1', 'WHO=ecs']),
    );
    expect(inspected.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    });

    const { containerInstances } = await f.ecs.send(
      new DescribeContainerInstancesCommand({
        cluster: f.emulator.cluster,
        containerInstances: [running.containerInstanceArn ?? ''],
      }),
    );
    const ec2InstanceId = containerInstances?.[0]?.ec2InstanceId ?? '';
    expect(ec2InstanceId).toBe(f.emulator.containerInstance.ec2InstanceId);
    const ec2 = new EC2Client({
      endpoint: f.emulator.endpoint,
      region: f.emulator.region,
      credentials: f.emulator.credentials,
    });
    try {
      const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ec2InstanceId] }));
      const privateIp = Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '';
      expect(privateIp).toBe('127.0.0.1');
      expect(await fetchWhenReady({ host: privateIp, port: binding?.hostPort ?? 0 }, '/')).toBe(
        'hello from ecs\n',
      );
    } finally {
      ec2.destroy();
    }
    await f.ecs.send(new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn }));
    const stopped = await f.waitFor(taskArn, (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('UserInitiated');
  });

  it('answers failures[] when the EC2 instance has no room left for a task', async () => {
    const taskDefinition = await f.register({
      family: 'big',
      containerDefinitions: [
        {
          name: 'main',
          image: f.image,
          memoryReservation: 9_000,
          command: ['sleep', '600'],
          portMappings: [{ containerPort: 8080, hostPort: 0 }],
        },
      ],
    });
    const { tasks, failures } = await f.ecs.send(
      new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition, count: 2 }),
    );
    expect(tasks).toHaveLength(1);
    expect(failures).toEqual([{ arn: f.emulator.containerInstance.arn, reason: 'RESOURCE:MEMORY' }]);
    await f.ecs.send(new StopTaskCommand({ cluster: f.emulator.cluster, task: tasks?.[0]?.taskArn ?? '' }));
    await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
    const again = await f.ecs.send(new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition }));
    expect(again.failures).toEqual([]);
    await f.ecs.send(
      new StopTaskCommand({ cluster: f.emulator.cluster, task: again.tasks?.[0]?.taskArn ?? '' }),
    );
  });

  it('stops the task when its essential container exits, with the exit code', async () => {
    const taskDefinition = await f.register({
      family: 'exits',
      containerDefinitions: [
        { name: 'main', image: f.image, memory: 16, command: ['sh', '-c', 'sleep 0.3; exit 3'] },
      ],
    });
    const { tasks } = await f.ecs.send(new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition }));
    const stopped = await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('EssentialContainerExited');
    expect(stopped.stoppedReason).toBe('Essential container in task exited');
    expect(stopped.containers?.[0]?.exitCode).toBe(3);
  });

  it('shows a container killed behind its back as stopped, with the exit code Docker saw', async () => {
    const taskDefinition = await f.register({
      family: 'killed',
      containerDefinitions: [{ name: 'main', image: f.image, memory: 16, command: ['sleep', '600'] }],
    });
    const { tasks } = await f.ecs.send(new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition }));
    const taskArn = tasks?.[0]?.taskArn ?? '';
    const running = await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    await docker.getContainer(running.containers?.[0]?.runtimeId ?? '').kill();
    const stopped = await f.waitFor(taskArn, (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('EssentialContainerExited');
    expect(stopped.containers?.[0]?.exitCode).toBe(137);
  });

  it('removes every container it started on close()', async () => {
    const taskDefinition = await f.register({
      family: 'left',
      containerDefinitions: [{ name: 'main', image: f.image, memory: 16, command: ['sleep', '600'] }],
    });
    const { tasks } = await f.ecs.send(
      new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition, count: 2 }),
    );
    for (const task of tasks ?? []) await f.waitFor(task.taskArn ?? '', (t) => t.lastStatus === 'RUNNING');
    // One more, closed while it is still being started.
    await f.ecs.send(new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition }));
    await f.emulator.close();
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${EMULATOR_LABEL}=${f.label}`] },
    });
    expect(left).toEqual([]);
    await expect(f.ecs.send(new ListTasksCommand({ cluster: f.emulator.cluster }))).rejects.toThrow();
  });
});
