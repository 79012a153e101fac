import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { RunTaskCommand, type RunTaskCommandInput, StopTaskCommand } from '@aws-sdk/client-ecs';
import { expect, it } from 'vitest';
import { describeWithDocker } from '../docker.ts';
import { eventually, fetchWhenReady } from '../wait.ts';
import { emulatorFixture } from './fixture.ts';

await describeWithDocker('ECS emulator: task volumes, dependsOn and CloudWatch Logs', (docker) => {
  const f = emulatorFixture(docker, 'ecse');

  /** A tool serving /www from a task volume that an init container fills from INPUT_JSON first. */
  async function withInit(family: string, initScript: string): Promise<RunTaskCommandInput> {
    const taskDefinition = await f.register({
      family,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      volumes: [{ name: 'input' }],
      containerDefinitions: [
        {
          name: 'init',
          image: f.image,
          essential: false,
          command: ['sh', '-c', initScript],
          mountPoints: [{ sourceVolume: 'input', containerPath: '/input' }],
        },
        {
          name: 'tool',
          image: f.image,
          command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
          dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
          mountPoints: [{ sourceVolume: 'input', containerPath: '/www', readOnly: true }],
          portMappings: [{ containerPort: 8080 }],
        },
      ],
    });
    return {
      cluster: f.emulator.cluster,
      taskDefinition,
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets: [...f.emulator.subnets] } },
      overrides: {
        containerOverrides: [
          { name: 'init', environment: [{ name: 'INPUT_JSON', value: '{"files":["a.csv"]}' }] },
        ],
      },
    };
  }

  it('delivers a file an init container wrote into a task volume to the tool that depends on its SUCCESS', async () => {
    const input = await withInit('file-input', 'printf %s "$INPUT_JSON" > /input/input.json');
    const { tasks } = await f.ecs.send(new RunTaskCommand(input));
    const taskArn = tasks?.[0]?.taskArn ?? '';
    const running = await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    const init = running.containers?.find((container) => container.name === 'init');
    expect(init).toMatchObject({ lastStatus: 'STOPPED', exitCode: 0 });
    expect(running.containers?.find((container) => container.name === 'tool')?.lastStatus).toBe('RUNNING');
    const ip =
      running.containers?.find((c) => c.name === 'tool')?.networkInterfaces?.[0]?.privateIpv4Address ?? '';
    expect(await fetchWhenReady({ host: ip, port: 8080 }, '/input.json')).toBe('{"files":["a.csv"]}');
    await f.ecs.send(new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn }));
    await f.waitFor(taskArn, (task) => task.lastStatus === 'STOPPED');
    const { Volumes } = await docker.listVolumes({
      filters: { label: [`dde-test.ecs-emulator.task=${taskArn.split('/').at(-1)}`] },
    });
    expect(Volumes ?? []).toEqual([]);
  });

  it('stops the task without starting the tool when the init container fails', async () => {
    const { tasks } = await f.ecs.send(
      new RunTaskCommand(await withInit('init-fails', 'echo nope >&2; exit 4')),
    );
    const stopped = await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.stoppedReason).toMatch(/'init' exited with code 4/);
    expect(stopped.containers?.find((c) => c.name === 'init')?.exitCode).toBe(4);
    expect(stopped.containers?.find((c) => c.name === 'tool')?.runtimeId).toBeUndefined();
  });

  it('serves awslogs containers as CloudWatch Logs streams <prefix>/<container>/<task id>, also after the task stopped', async () => {
    const taskDefinition = await f.register({
      family: 'logs',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
      containerDefinitions: [
        {
          name: 'app',
          image: f.image,
          // Docker stamps stdout and stderr lines in separate copiers: pause between them so the
          // order of their timestamps is the order they were written.
          command: ['sh', '-c', 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; exec sleep 600'],
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': '/dde/ecse',
              'awslogs-region': 'us-east-1',
              'awslogs-stream-prefix': 'dde',
            },
          },
        },
      ],
    });
    const { tasks } = await f.ecs.send(
      new RunTaskCommand({
        cluster: f.emulator.cluster,
        taskDefinition,
        launchType: 'FARGATE',
        networkConfiguration: { awsvpcConfiguration: { subnets: [...f.emulator.subnets] } },
      }),
    );
    const taskArn = tasks?.[0]?.taskArn ?? '';
    await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    const logs = new CloudWatchLogsClient({
      endpoint: f.emulator.endpoint,
      region: f.emulator.region,
      credentials: f.emulator.credentials,
    });
    try {
      const logStreamName = `dde/app/${taskArn.split('/').at(-1)}`;
      const read = async () =>
        (
          await logs.send(
            new GetLogEventsCommand({ logGroupName: '/dde/ecse', logStreamName, startFromHead: true }),
          )
        ).events ?? [];
      const events = await eventually(async () => {
        const found = await read();
        return found.length === 3 ? found : undefined;
      });
      expect(events.map((event) => event.message)).toEqual(['one', 'two', 'three']);
      expect(events[0]?.timestamp).toBeGreaterThan(Date.now() - 60_000);
      const tail = await logs.send(
        new GetLogEventsCommand({ logGroupName: '/dde/ecse', logStreamName, limit: 1 }),
      );
      expect(tail.events?.map((event) => event.message)).toEqual(['three']);
      const filtered = await logs.send(
        new FilterLogEventsCommand({
          logGroupName: '/dde/ecse',
          logStreamNamePrefix: 'dde/app/',
          filterPattern: 'two',
        }),
      );
      expect(filtered.events?.map((event) => [event.logStreamName, event.message])).toEqual([
        [logStreamName, 'two'],
      ]);

      await f.ecs.send(new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn }));
      await f.waitFor(taskArn, (task) => task.lastStatus === 'STOPPED');
      expect((await read()).map((event) => event.message)).toEqual(['one', 'two', 'three']);
      await expect(
        logs.send(new GetLogEventsCommand({ logGroupName: '/dde/ecse', logStreamName: 'dde/app/nothing' })),
      ).rejects.toBeInstanceOf(ResourceNotFoundException);
    } finally {
      logs.destroy();
    }
  });
});
