import {
  CloudWatchLogsClient,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { RunTaskCommand, type RunTaskCommandInput, StopTaskCommand } from '@aws-sdk/client-ecs';
import { expect, it } from 'vitest';
import { describeWithDocker } from '../docker.ts';
import { eventually, fetchWhenReady } from '../wait.ts';
import { emulatorFixture, FARGATE_TASK } from './fixture.ts';

await describeWithDocker('ECS emulator: task volumes, dependsOn and CloudWatch Logs', (docker) => {
  const f = emulatorFixture(docker, 'ecse');

  /** A tool serving /www from a task volume that an init container fills from INPUT_JSON first. */
  async function withInit(family: string, initScript: string): Promise<RunTaskCommandInput> {
    const taskDefinition = await f.register({
      family,
      ...FARGATE_TASK,
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
      ...f.fargateRun(taskDefinition),
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

  it('lets the containers of an awsvpc task reach each other on localhost, and waits for HEALTHY', async () => {
    const taskDefinition = await f.register({
      family: 'shared-netns',
      ...FARGATE_TASK,
      containerDefinitions: [
        {
          name: 'tool',
          image: f.image,
          command: [
            'sh',
            '-c',
            'mkdir /www && echo local > /www/index.html && exec httpd -f -p 8080 -h /www',
          ],
          healthCheck: {
            command: ['CMD-SHELL', 'wget -qO- http://127.0.0.1:8080/'],
            interval: 1,
            timeout: 2,
            retries: 3,
          },
        },
        {
          name: 'probe',
          image: f.image,
          essential: false,
          command: ['sh', '-c', 'test "$(wget -qO- http://localhost:8080/)" = local'],
          dependsOn: [{ containerName: 'tool', condition: 'HEALTHY' }],
        },
      ],
    });
    const { tasks } = await f.ecs.send(new RunTaskCommand(f.fargateRun(taskDefinition)));
    const taskArn = tasks?.[0]?.taskArn ?? '';
    const done = await f.waitFor(
      taskArn,
      (task) => task.containers?.find((c) => c.name === 'probe')?.lastStatus === 'STOPPED',
    );
    expect(done.containers?.find((c) => c.name === 'tool')?.healthStatus).toBe('HEALTHY');
    expect(done.healthStatus).toBe('HEALTHY');
    expect(done.containers?.find((c) => c.name === 'probe')?.exitCode).toBe(0);
    expect(done.lastStatus).toBe('RUNNING'); // a non-essential container's exit leaves the task running
    await f.ecs.send(new StopTaskCommand({ cluster: f.emulator.cluster, task: taskArn }));
  });

  it('serves awslogs containers as CloudWatch Logs streams <prefix>/<container>/<task id>, also after the task stopped', async () => {
    const taskDefinition = await f.register({
      family: 'logs',
      ...FARGATE_TASK,
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
    const { tasks } = await f.ecs.send(new RunTaskCommand(f.fargateRun(taskDefinition)));
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
      // Paging back from the tail, and a time window (as `logs({ since })` asks).
      const before = await logs.send(
        new GetLogEventsCommand({
          logGroupName: '/dde/ecse',
          logStreamName,
          nextToken: tail.nextBackwardToken,
        }),
      );
      expect(before.events?.map((event) => event.message)).toEqual(['one', 'two']);
      const since = await logs.send(
        new GetLogEventsCommand({
          logGroupName: '/dde/ecse',
          logStreamName,
          startTime: events[1]?.timestamp,
          startFromHead: true,
        }),
      );
      expect(since.events?.map((event) => event.message)).toEqual(['two', 'three']);
      const { logStreams } = await logs.send(
        new DescribeLogStreamsCommand({ logGroupName: '/dde/ecse', logStreamNamePrefix: 'dde/app/' }),
      );
      expect(logStreams?.map((stream) => stream.logStreamName)).toEqual([logStreamName]);
      expect(logStreams?.[0]?.lastEventTimestamp).toBe(events[2]?.timestamp);
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
