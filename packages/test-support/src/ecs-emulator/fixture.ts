import {
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll } from 'vitest';
import { buildImage, cleanupNamespace, NAMESPACE_LABEL, uniqueNamespace } from '../docker.ts';
import { eventually } from '../wait.ts';
import { type EcsEmulator, removeEcsEmulatorLeftovers, startEcsEmulator } from './index.ts';

/**
 * The setup the emulator's integration tests share: one emulator and one busybox image per
 * test file, an SDK client on it, and removal of everything afterwards (even when a test failed).
 */
export interface EmulatorFixture {
  readonly label: string;
  emulator: EcsEmulator;
  ecs: ECSClient;
  /** A local busybox image (`sh`, `httpd`, `sleep`, ...). */
  image: string;
  /** Registers a task definition and resolves with its ARN. */
  register(input: RegisterTaskDefinitionCommandInput): Promise<string>;
  /** Describes one task (undefined while it answers MISSING). */
  describe(taskArn: string, include?: 'TAGS'): Promise<Task | undefined>;
  /** RunTask's input for a Fargate task of `taskDefinition` in the emulator's cluster and subnets. */
  fargateRun(taskDefinition: string): RunTaskCommandInput;
  /** Polls the task until `until` holds for it. */
  waitFor(taskArn: string, until: (task: Task) => boolean, timeoutMs?: number): Promise<Task>;
}

/** Declares the fixture's hooks in the calling `describe`. */
export function emulatorFixture(docker: Dockerode, prefix: string): EmulatorFixture {
  const label = uniqueNamespace(prefix);
  const fixture = { label } as EmulatorFixture;
  beforeAll(async () => {
    fixture.image = await buildImage(docker, `${label}-busybox:1`, { labels: { [NAMESPACE_LABEL]: label } });
    fixture.emulator = await startEcsEmulator({ docker, label });
    fixture.ecs = new ECSClient({
      endpoint: fixture.emulator.endpoint,
      region: fixture.emulator.region,
      credentials: fixture.emulator.credentials,
    });
  });
  afterAll(async () => {
    fixture.ecs?.destroy();
    await fixture.emulator?.close();
    await removeEcsEmulatorLeftovers(label, docker);
    await cleanupNamespace(docker, label);
  });
  fixture.register = async (input) => {
    const { taskDefinition } = await fixture.ecs.send(new RegisterTaskDefinitionCommand(input));
    return taskDefinition?.taskDefinitionArn ?? '';
  };
  fixture.describe = async (taskArn, include) => {
    const { tasks } = await fixture.ecs.send(
      new DescribeTasksCommand({
        cluster: fixture.emulator.cluster,
        tasks: [taskArn],
        ...(include ? { include: [include] } : {}),
      }),
    );
    return tasks?.[0];
  };
  fixture.fargateRun = (taskDefinition) => ({
    cluster: fixture.emulator.cluster,
    taskDefinition,
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets: [...fixture.emulator.subnets] } },
  });
  fixture.waitFor = (taskArn, until, timeoutMs = 30_000) =>
    eventually(
      async () => {
        const task = await fixture.describe(taskArn);
        return task && until(task) ? task : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  return fixture;
}

/** The task-level settings of the smallest Fargate task. */
export const FARGATE_TASK = {
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
} satisfies Partial<RegisterTaskDefinitionCommandInput>;

/** An httpd task definition's container serving `/www` (created with a page) on 8080. */
export function httpdContainer(
  image: string,
  name = 'web',
): RegisterTaskDefinitionCommandInput['containerDefinitions'] {
  return [
    {
      name,
      image,
      essential: true,
      memory: 32,
      command: [
        'sh',
        '-c',
        'mkdir -p /www && echo "hello from $WHO" > /www/index.html && exec httpd -f -p 8080 -h /www',
      ],
      environment: [{ name: 'WHO', value: 'ecs' }],
      portMappings: [{ containerPort: 8080 }],
    },
  ];
}
