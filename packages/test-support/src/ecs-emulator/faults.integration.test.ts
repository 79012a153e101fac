import { createServer } from 'node:net';
import {
  ClusterNotFoundException,
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
} from '@aws-sdk/client-ecs';
import { afterEach, expect, it } from 'vitest';
import { describeWithDocker } from '../docker.ts';
import { eventually } from '../wait.ts';
import { emulatorFixture, FARGATE_TASK } from './fixture.ts';
import { OVERRIDES_LIMIT, startEcsEmulator } from './index.ts';

await describeWithDocker('ECS emulator: faults, idempotency and refusals', (docker) => {
  const f = emulatorFixture(docker, 'ecse');
  afterEach(() => f.emulator.faults.clear());

  async function sleeper(family: string, image = f.image): Promise<RunTaskCommandInput> {
    const taskDefinition = await f.register({
      family,
      ...FARGATE_TASK,
      containerDefinitions: [{ name: 'main', image, command: ['sleep', '600'] }],
    });
    return f.fargateRun(taskDefinition);
  }

  it('answers MISSING for new tasks during the missingFor window, then describes them', async () => {
    const input = await sleeper('missing');
    f.emulator.faults.missingFor(3_000);
    const { tasks } = await f.ecs.send(new RunTaskCommand(input));
    const taskArn = tasks?.[0]?.taskArn ?? '';
    const early = await f.ecs.send(
      new DescribeTasksCommand({ cluster: f.emulator.cluster, tasks: [taskArn] }),
    );
    expect(early.tasks).toEqual([]);
    expect(early.failures).toEqual([{ arn: taskArn, reason: 'MISSING' }]);
    const running = await f.waitFor(taskArn, (task) => task.lastStatus === 'RUNNING');
    expect(running.taskArn).toBe(taskArn);
  });

  it('throttles the next calls of an operation; the SDK retries them or gives up with ThrottlingException', async () => {
    const impatient = new ECSClient({
      endpoint: f.emulator.endpoint,
      region: f.emulator.region,
      credentials: f.emulator.credentials,
      maxAttempts: 1,
    });
    try {
      f.emulator.faults.throttle('ListTasks', 1);
      const error = await impatient
        .send(new ListTasksCommand({ cluster: f.emulator.cluster }))
        .catch((e: unknown) => e);
      // ECS models no ThrottlingException class: the SDK names the error and retries it as throttling.
      expect(error).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      await impatient.send(new ListTasksCommand({ cluster: f.emulator.cluster }));
    } finally {
      impatient.destroy();
    }
    const before = f.emulator.calls.length;
    f.emulator.faults.throttle('ListTasks', 2);
    await f.ecs.send(new ListTasksCommand({ cluster: f.emulator.cluster })); // default: 3 attempts
    const attempts = f.emulator.calls.slice(before).filter((call) => call.operation === 'ListTasks');
    expect(attempts.map((call) => call.error)).toEqual([
      'ThrottlingException',
      'ThrottlingException',
      undefined,
    ]);
  });

  it('stops a task whose image cannot be pulled at once with CannotPullContainerError', async () => {
    f.emulator.faults.failPull(f.image);
    const { tasks } = await f.ecs.send(new RunTaskCommand(await sleeper('pull-fault')));
    const stopped = await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.stoppedReason).toMatch(/^CannotPullContainerError: /);
    expect(stopped.containers?.[0]?.reason).toMatch(/^CannotPullContainerError: /);
    expect(stopped.startedAt).toBeUndefined();
  });

  it('treats an image missing from the engine like a failed pull', async () => {
    const { tasks } = await f.ecs.send(new RunTaskCommand(await sleeper('no-image', `${f.label}-absent:1`)));
    const stopped = await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.stoppedReason).toContain(`${f.label}-absent:1`);
  });

  it('stops a task whose container cannot start (its host port is taken) with CannotStartContainerError', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    try {
      const hostPort = (squatter.address() as { port: number }).port;
      const taskDefinition = await f.register({
        family: 'port-taken',
        containerDefinitions: [
          {
            name: 'main',
            image: f.image,
            memory: 16,
            command: ['sleep', '600'],
            portMappings: [{ containerPort: 8080, hostPort }],
          },
        ],
      });
      const { tasks } = await f.ecs.send(new RunTaskCommand({ cluster: f.emulator.cluster, taskDefinition }));
      const stopped = await f.waitFor(tasks?.[0]?.taskArn ?? '', (task) => task.lastStatus === 'STOPPED');
      expect(stopped.stopCode).toBe('TaskFailedToStart');
      expect(stopped.stoppedReason).toMatch(/^CannotStartContainerError: /);
      expect(stopped.containers?.[0]?.reason).toBe(stopped.stoppedReason);
    } finally {
      squatter.close();
    }
  });

  it('forgets stopped tasks after the retention: DescribeTasks answers MISSING, ListTasks leaves them out', async () => {
    const short = await startEcsEmulator({ docker, label: `${f.label}-r`, stoppedTaskRetentionMs: 2_000 });
    const client = new ECSClient({
      endpoint: short.endpoint,
      region: short.region,
      credentials: short.credentials,
    });
    try {
      const { taskDefinition } = await client.send(
        new RegisterTaskDefinitionCommand({
          family: 'brief',
          containerDefinitions: [{ name: 'main', image: `${f.label}-absent:1`, memory: 16 }],
        }),
      );
      const { tasks } = await client.send(
        new RunTaskCommand({ cluster: short.cluster, taskDefinition: taskDefinition?.taskDefinitionArn }),
      );
      const taskArn = tasks?.[0]?.taskArn ?? '';
      const describe = () =>
        client.send(new DescribeTasksCommand({ cluster: short.cluster, tasks: [taskArn] }));
      await eventually(async () =>
        (await describe()).tasks?.[0]?.lastStatus === 'STOPPED' ? true : undefined,
      );
      await eventually(async () =>
        (await describe()).failures?.[0]?.reason === 'MISSING' ? true : undefined,
      );
      const listed = await client.send(
        new ListTasksCommand({ cluster: short.cluster, desiredStatus: 'STOPPED' }),
      );
      expect(listed.taskArns).toEqual([]);
    } finally {
      client.destroy();
      await short.close();
    }
  });

  it('keeps a slow-start task PROVISIONING then PENDING for the given time', async () => {
    f.emulator.faults.slowStart(2_000);
    const started = Date.now();
    const { tasks } = await f.ecs.send(new RunTaskCommand(await sleeper('slow')));
    const taskArn = tasks?.[0]?.taskArn ?? '';
    const seen: { status: string; at: number }[] = [];
    await f.waitFor(taskArn, (task) => {
      seen.push({ status: task.lastStatus ?? '', at: Date.now() - started });
      return task.lastStatus === 'RUNNING';
    });
    expect(seen.some(({ status }) => status === 'PROVISIONING')).toBe(true);
    expect(seen.some(({ status }) => status === 'PENDING')).toBe(true);
    const firstRunning = seen.find(({ status }) => status === 'RUNNING');
    expect(firstRunning?.at).toBeGreaterThanOrEqual(2_000);
  });

  it('starts one task for a retried RunTask with the same clientToken, and refuses the token with other parameters', async () => {
    const input = { ...(await sleeper('idempotent')), clientToken: `${f.label}-launch-1`, startedBy: 'idem' };
    const first = await f.ecs.send(new RunTaskCommand(input));
    const second = await f.ecs.send(new RunTaskCommand(input));
    expect(second.tasks?.[0]?.taskArn).toBe(first.tasks?.[0]?.taskArn);
    const listed = await f.ecs.send(new ListTasksCommand({ cluster: f.emulator.cluster, startedBy: 'idem' }));
    expect(listed.taskArns).toHaveLength(1);
    await expect(f.ecs.send(new RunTaskCommand({ ...input, startedBy: 'other' }))).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
  });

  it('refuses what ECS refuses, with the exceptions the SDK names', async () => {
    const input = await sleeper('refusals');
    await expect(f.ecs.send(new RunTaskCommand({ ...input, cluster: 'nope' }))).rejects.toBeInstanceOf(
      ClusterNotFoundException,
    );
    await expect(
      f.ecs.send(
        new RunTaskCommand({
          ...input,
          networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-0000'] } },
        }),
      ),
    ).rejects.toThrow(/subnet-0000/);
    await expect(
      f.ecs.send(
        new RunTaskCommand({
          ...input,
          networkConfiguration: {
            awsvpcConfiguration: { subnets: [...f.emulator.subnets], securityGroups: ['sg-0'] },
          },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(
      f.ecs.send(new RunTaskCommand({ ...input, networkConfiguration: undefined })),
    ).rejects.toThrow(/Network Configuration must be provided/);
    // The overrides' JSON, punctuation included, is capped at 8192 characters.
    const overrides = (value: string) => ({
      containerOverrides: [{ name: 'main', environment: [{ name: 'X', value }] }],
    });
    const base = JSON.stringify(overrides('')).length;
    await expect(
      f.ecs.send(
        new RunTaskCommand({ ...input, overrides: overrides('x'.repeat(OVERRIDES_LIMIT - base + 1)) }),
      ),
    ).rejects.toThrow(/at most 8192/);
    const fits = await f.ecs.send(
      new RunTaskCommand({
        ...input,
        overrides: overrides('x'.repeat(OVERRIDES_LIMIT - base)),
        startedBy: 'fits',
      }),
    );
    expect(fits.tasks).toHaveLength(1);
    await expect(
      f.ecs.send(new RunTaskCommand({ ...input, overrides: { containerOverrides: [{ name: 'ghost' }] } })),
    ).rejects.toThrow(/ghost/);
    await expect(
      f.ecs.send(new RunTaskCommand({ ...input, tags: [{ key: 'k', value: 'v'.repeat(257) }] })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    const tooMany = Array.from({ length: 101 }, (_, index) => `task-${index}`);
    await expect(
      f.ecs.send(new DescribeTasksCommand({ cluster: f.emulator.cluster, tasks: tooMany })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    const unknown = await f.ecs.send(
      new DescribeTasksCommand({ cluster: f.emulator.cluster, tasks: ['0'.repeat(32)] }),
    );
    expect(unknown.failures?.[0]?.reason).toBe('MISSING');
    await expect(
      f.register({
        family: 'fargate-size',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '4096',
        containerDefinitions: [{ name: 'a', image: f.image }],
      }),
    ).rejects.toThrow(/No Fargate configuration exists for given values: 256 CPU, 4096 memory/);
  });

  it('answers unknown operations and foreign credentials as AWS does', async () => {
    const unknown = await fetch(f.emulator.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AmazonEC2ContainerServiceV20141113.CreateService',
      },
      body: '{}',
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      __type: 'UnknownOperationException',
      message: expect.stringContaining('CreateService'),
    });
    const stranger = new ECSClient({
      endpoint: f.emulator.endpoint,
      region: f.emulator.region,
      credentials: { accessKeyId: 'AKIASTRANGER', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    try {
      await expect(
        stranger.send(new ListTasksCommand({ cluster: f.emulator.cluster })),
      ).rejects.toMatchObject({
        name: 'UnrecognizedClientException',
      });
    } finally {
      stranger.destroy();
    }
  });
});
