import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ClientException,
  ClusterNotFoundException,
  CreateClusterCommand,
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeContainerInstancesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  InvalidParameterException,
  ListContainerInstancesCommand,
  ListTagsForResourceCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  RunTaskCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueNamespace } from '../docker.ts';
import { type EcsEmulator, startEcsEmulator } from './index.ts';
import { parseDockerLog } from './logs.ts';

// The API surface that needs no engine: task definitions, clusters, instances, tags, refusals.
// (Nothing here starts a task, so the emulator never calls Docker.)
describe('ECS emulator API without tasks', () => {
  let emulator: EcsEmulator;
  let ecs: ECSClient;
  beforeAll(async () => {
    emulator = await startEcsEmulator({ label: uniqueNamespace('ecse') });
    ecs = new ECSClient({
      endpoint: emulator.endpoint,
      region: emulator.region,
      credentials: emulator.credentials,
    });
  });
  afterAll(async () => {
    ecs?.destroy();
    await emulator?.close();
  });

  const definition = (family: string): RegisterTaskDefinitionCommandInput => ({
    family,
    containerDefinitions: [{ name: 'web', image: 'busybox:1', memory: 32 }],
    tags: [{ key: 'owner', value: 'dde' }],
  });

  it('numbers revisions per family and finds them by family, family:revision and ARN', async () => {
    const first = await ecs.send(new RegisterTaskDefinitionCommand(definition('rev')));
    const second = await ecs.send(new RegisterTaskDefinitionCommand(definition('rev')));
    expect(first.taskDefinition?.revision).toBe(1);
    expect(second.taskDefinition?.revision).toBe(2);
    expect(second.taskDefinition?.taskDefinitionArn).toBe(
      'arn:aws:ecs:us-east-1:123456789012:task-definition/rev:2',
    );
    expect(second.taskDefinition?.status).toBe('ACTIVE');
    expect(second.taskDefinition?.registeredAt).toBeInstanceOf(Date);
    const latest = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'rev', include: ['TAGS'] }),
    );
    expect(latest.taskDefinition?.revision).toBe(2);
    expect(latest.tags).toEqual([{ key: 'owner', value: 'dde' }]);
    const byArn = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: first.taskDefinition?.taskDefinitionArn }),
    );
    expect(byArn.taskDefinition?.containerDefinitions?.[0]?.image).toBe('busybox:1');
    expect(
      (await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'rev' }))).taskDefinitionArns,
    ).toEqual([first.taskDefinition?.taskDefinitionArn, second.taskDefinition?.taskDefinitionArn]);
    await expect(
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope' })),
    ).rejects.toBeInstanceOf(ClientException);
  });

  it('deregisters (INACTIVE, no new tasks) and deletes only inactive revisions', async () => {
    const { taskDefinition } = await ecs.send(new RegisterTaskDefinitionCommand(definition('gone')));
    const arn = taskDefinition?.taskDefinitionArn ?? '';
    const refused = await ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: [arn] }));
    expect(refused.taskDefinitions).toEqual([]);
    expect(refused.failures?.[0]?.arn).toBe(arn);
    const deregistered = await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
    expect(deregistered.taskDefinition?.status).toBe('INACTIVE');
    expect(
      (await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'gone' }))).taskDefinitionArns,
    ).toEqual([]);
    expect(
      (await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'gone', status: 'INACTIVE' })))
        .taskDefinitionArns,
    ).toEqual([arn]);
    await expect(
      ecs.send(new RunTaskCommand({ cluster: emulator.cluster, taskDefinition: arn })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    const deleted = await ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: [arn] }));
    expect(deleted.taskDefinitions?.[0]?.status).toBe('DELETE_IN_PROGRESS');
    expect(deleted.failures).toEqual([]);
  });

  it('refuses task definitions ECS refuses, naming the setting', async () => {
    const refusals: [RegisterTaskDefinitionCommandInput, RegExp][] = [
      [
        { family: 'no-memory', containerDefinitions: [{ name: 'a', image: 'x' }] },
        /'memory' or 'memoryReservation'/,
      ],
      [
        {
          family: 'fargate-bridge',
          requiresCompatibilities: ['FARGATE'],
          cpu: '256',
          memory: '512',
          containerDefinitions: [{ name: 'a', image: 'x' }],
        },
        /awsvpc/,
      ],
      [
        {
          family: 'logs-no-role',
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
          cpu: '256',
          memory: '512',
          containerDefinitions: [
            {
              name: 'a',
              image: 'x',
              logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': 'g' } },
            },
          ],
        },
        /execution role ARN/,
      ],
      [
        {
          family: 'essential-init',
          containerDefinitions: [
            { name: 'init', image: 'x', memory: 8 },
            {
              name: 'tool',
              image: 'x',
              memory: 8,
              dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
            },
          ],
        },
        /'init' is essential/,
      ],
      [
        {
          family: 'bad-mount',
          containerDefinitions: [
            { name: 'a', image: 'x', memory: 8, mountPoints: [{ sourceVolume: 'v', containerPath: '/v' }] },
          ],
        },
        /unknown volume 'v'/,
      ],
      [{ family: 'bad family!', containerDefinitions: [{ name: 'a', image: 'x', memory: 8 }] }, /Family/],
    ];
    for (const [input, message] of refusals) {
      const error = await ecs.send(new RegisterTaskDefinitionCommand(input)).catch((e: unknown) => e);
      expect(error, input.family).toBeInstanceOf(ClientException);
      expect((error as Error).message, input.family).toMatch(message);
    }
  });

  it('creates and describes clusters; only the pre-created one has a container instance', async () => {
    const created = await ecs.send(
      new CreateClusterCommand({ clusterName: 'more', tags: [{ key: 'a', value: 'b' }] }),
    );
    expect(created.cluster?.clusterArn).toBe('arn:aws:ecs:us-east-1:123456789012:cluster/more');
    const described = await ecs.send(
      new DescribeClustersCommand({ clusters: ['more', emulator.cluster, 'nope'], include: ['TAGS'] }),
    );
    expect(
      described.clusters?.map((cluster) => [cluster.clusterName, cluster.registeredContainerInstancesCount]),
    ).toEqual([
      ['more', 0],
      [emulator.cluster, 1],
    ]);
    expect(described.clusters?.[0]?.tags).toEqual([{ key: 'a', value: 'b' }]);
    expect(described.failures?.[0]?.reason).toBe('MISSING');
    const { taskDefinition } = await ecs.send(new RegisterTaskDefinitionCommand(definition('ec2')));
    await expect(
      ecs.send(
        new RunTaskCommand({
          cluster: 'more',
          taskDefinition: taskDefinition?.taskDefinitionArn,
          launchType: 'EC2',
        }),
      ),
    ).rejects.toThrow(/No Container Instances/);
    await expect(ecs.send(new ListTasksCommand({}))).rejects.toBeInstanceOf(ClusterNotFoundException);

    const { containerInstanceArns } = await ecs.send(
      new ListContainerInstancesCommand({ cluster: emulator.cluster }),
    );
    expect(containerInstanceArns).toEqual([emulator.containerInstance.arn]);
    const { containerInstances } = await ecs.send(
      new DescribeContainerInstancesCommand({
        cluster: emulator.cluster,
        containerInstances: [...(containerInstanceArns ?? [])],
      }),
    );
    expect(containerInstances?.[0]?.ec2InstanceId).toBe(emulator.containerInstance.ec2InstanceId);
    expect(containerInstances?.[0]?.agentConnected).toBe(true);
    const ec2 = new EC2Client({
      endpoint: emulator.endpoint,
      region: emulator.region,
      credentials: emulator.credentials,
    });
    try {
      await expect(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123'] }))).rejects.toMatchObject(
        {
          name: 'InvalidInstanceID.NotFound',
        },
      );
    } finally {
      ec2.destroy();
    }
  });

  it('tags and untags clusters and task definitions', async () => {
    const { taskDefinition } = await ecs.send(new RegisterTaskDefinitionCommand(definition('tagged')));
    const resourceArn = taskDefinition?.taskDefinitionArn ?? '';
    await ecs.send(
      new TagResourceCommand({
        resourceArn,
        tags: [
          { key: 'x', value: '1' },
          { key: 'owner', value: 'me' },
        ],
      }),
    );
    expect((await ecs.send(new ListTagsForResourceCommand({ resourceArn }))).tags).toEqual([
      { key: 'owner', value: 'me' },
      { key: 'x', value: '1' },
    ]);
    await ecs.send(new UntagResourceCommand({ resourceArn, tagKeys: ['owner'] }));
    expect((await ecs.send(new ListTagsForResourceCommand({ resourceArn }))).tags).toEqual([
      { key: 'x', value: '1' },
    ]);
    const tooMany = Array.from({ length: 51 }, (_, index) => ({ key: `k${index}`, value: 'v' }));
    await expect(ecs.send(new TagResourceCommand({ resourceArn, tags: tooMany }))).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    await expect(
      ecs.send(
        new ListTagsForResourceCommand({
          resourceArn: `arn:aws:ecs:us-east-1:123456789012:task/${emulator.cluster}/0`,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('records every call with its input and the exception answered', async () => {
    const before = emulator.calls.length;
    await ecs.send(new ListTasksCommand({ cluster: emulator.cluster, startedBy: 'me' }));
    await ecs.send(new ListTasksCommand({ cluster: 'nope' })).catch(() => {});
    expect(emulator.calls.slice(before)).toMatchObject([
      { service: 'ecs', operation: 'ListTasks', input: { cluster: emulator.cluster, startedBy: 'me' } },
      { service: 'ecs', operation: 'ListTasks', error: 'ClusterNotFoundException' },
    ]);
  });
});

describe('parseDockerLog', () => {
  it('reads multiplexed frames into events ordered by their nanosecond stamps', () => {
    const frame = (stream: number, text: string) => {
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([header, Buffer.from(text)]);
    };
    const raw = Buffer.concat([
      frame(1, '2026-12-06T06:00:00.000000300Z one\n2026-12-06T06:00:01.5Z three\n'),
      frame(2, '2026-12-06T06:00:00.000000400Z two\n'),
    ]);
    expect(parseDockerLog(raw)).toEqual([
      { timestamp: Date.parse('2026-12-06T06:00:00.000Z'), message: 'one' },
      { timestamp: Date.parse('2026-12-06T06:00:00.000Z'), message: 'two' },
      { timestamp: Date.parse('2026-12-06T06:00:01.500Z'), message: 'three' },
    ]);
  });
});
