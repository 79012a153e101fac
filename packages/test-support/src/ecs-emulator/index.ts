import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { removeLabelled } from '../docker.ts';
import {
  createCluster,
  describeClusters,
  describeContainerInstances,
  listClusters,
  listContainerInstances,
  listTagsForResource,
  tagResource,
  untagResource,
} from './clusters.ts';
import { describeInstances, describeNetworkInterfaces, type Ec2World } from './ec2.ts';
import { LogStore } from './logs.ts';
import type { Input } from './protocol.ts';
import { EMULATOR_LABEL, TaskRunner } from './runner.ts';
import { type Handlers, type RecordedCall, startServer } from './server.ts';
import { EcsStore, hex } from './store.ts';
import {
  deleteTaskDefinitions,
  deregisterTaskDefinition,
  describeTaskDefinition,
  listTaskDefinitions,
  registerTaskDefinition,
} from './task-definitions.ts';
import { describeTasks, listTasks, runTask, stopTaskOperation, type TaskContext } from './tasks.ts';

export { EMULATOR_LABEL } from './runner.ts';
export type { RecordedCall } from './server.ts';
export { OVERRIDES_LIMIT } from './tasks.ts';

/** Options of {@link startEcsEmulator}. */
export interface EcsEmulatorOptions {
  /** The engine that runs the tasks' containers. Default: `DOCKER_HOST` or the local socket. */
  readonly docker?: Dockerode;
  /**
   * Marks everything the emulator creates (`dde-test.ecs-emulator=<label>`) and prefixes its
   * container and volume names: one per test file (e.g. `uniqueNamespace('ecse')`).
   */
  readonly label: string;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Default `123456789012`. */
  readonly accountId?: string;
  /**
   * Seconds `docker stop` gives a container without its own `stopTimeout` (ECS waits 30;
   * default 2, so tests do not wait on tools that ignore SIGTERM).
   */
  readonly stopTimeoutSeconds?: number;
  /** How long a stopped task stays describable and listed (then DescribeTasks answers MISSING). Default one hour, as ECS. */
  readonly stoppedTaskRetentionMs?: number;
  /**
   * What the container instance registers for placement: EC2 RunTask answers
   * `failures: [{ reason: 'RESOURCE:MEMORY' }]` (or CPU, PORTS) past it. Default 4096 cpu units, 15000 MiB.
   */
  readonly containerInstanceResources?: { readonly cpu?: number; readonly memory?: number };
}

/** Faults to inject, each for the tasks or calls that come after it. */
export interface EcsEmulatorFaults {
  /** DescribeTasks answers `failures: [{ reason: 'MISSING' }]` for tasks started from now on, for `ms` after RunTask. 0 ends it. */
  missingFor(ms: number): void;
  /** The next `count` calls of `operation` (e.g. `RunTask`) answer 400 ThrottlingException. */
  throttle(operation: string, count: number): void;
  /** Tasks with this image stop at once: stopCode TaskFailedToStart, stoppedReason `CannotPullContainerError: ...`. */
  failPull(image: string): void;
  /** Tasks started from now on stay PROVISIONING then PENDING for `ms` in all before their containers start. 0 ends it. */
  slowStart(ms: number): void;
  /** Ends every fault. */
  clear(): void;
}

/** A running ECS emulator: point `@aws-sdk/client-ecs` at `endpoint` with `region` and `credentials`. */
export interface EcsEmulator {
  /** `http://127.0.0.1:<port>`: ECS, CloudWatch Logs and EC2 DescribeInstances. */
  readonly endpoint: string;
  readonly region: string;
  /** The only credentials it accepts (the SigV4 scope is checked, not the signature). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A pre-created cluster with one EC2 container instance (CreateCluster makes more, without instances). */
  readonly cluster: string;
  /** The subnets and security groups awsvpc tasks may name. */
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /** The cluster's container instance: its "EC2 instance" is this host, where bridge tasks publish ports. */
  readonly containerInstance: {
    readonly arn: string;
    readonly ec2InstanceId: string;
    readonly privateIp: '127.0.0.1';
  };
  /** Every call received, oldest first. */
  readonly calls: readonly RecordedCall[];
  readonly faults: EcsEmulatorFaults;
  /** Stops the server and removes every container and volume the emulator created. */
  close(): Promise<void>;
}

const OPTION_FIELDS = new Set([
  'docker',
  'label',
  'region',
  'accountId',
  'stopTimeoutSeconds',
  'containerInstanceResources',
  'stoppedTaskRetentionMs',
]);

/**
 * Starts an ECS API emulator on 127.0.0.1 that runs each task's containers on the Docker Engine.
 *
 * @example
 * ```ts
 * const ecs = await startEcsEmulator({ label: uniqueNamespace('ecse') });
 * const client = new ECSClient({ endpoint: ecs.endpoint, region: ecs.region, credentials: ecs.credentials });
 * await client.send(new RegisterTaskDefinitionCommand({ family: 'web', containerDefinitions: [...] }));
 * await ecs.close();
 * ```
 */
export async function startEcsEmulator(options: EcsEmulatorOptions): Promise<EcsEmulator> {
  for (const key of Object.keys(options)) {
    if (!OPTION_FIELDS.has(key))
      throw new TypeError(
        `startEcsEmulator: unknown option ${key} (known: ${[...OPTION_FIELDS].join(', ')})`,
      );
  }
  if (!/^[a-z0-9][a-z0-9_.-]{0,40}$/.test(options.label ?? '')) {
    throw new TypeError(
      'startEcsEmulator: label must be 1-41 lower-case letters, digits, ".", "_" or "-" (it prefixes container names)',
    );
  }
  const docker = options.docker ?? new Dockerode();
  const region = options.region ?? 'us-east-1';
  const store = new EcsStore(region, options.accountId ?? '123456789012', options.stoppedTaskRetentionMs);
  const logs = new LogStore(docker);
  const failPull = new Set<string>();
  const runner = new TaskRunner({
    docker,
    label: options.label,
    logs,
    faults: { failPull },
    stopTimeoutSeconds: options.stopTimeoutSeconds ?? 2,
  });
  const cluster = store.createCluster(`${options.label}-cluster`);
  const instance = store.addInstance(cluster, {
    cpu: options.containerInstanceResources?.cpu ?? 4096,
    memory: options.containerInstanceResources?.memory ?? 15_000,
  });
  const world: Ec2World = {
    store,
    vpcId: `vpc-${hex(17)}`,
    subnets: [`subnet-${hex(17)}`, `subnet-${hex(17)}`],
    securityGroups: [`sg-${hex(17)}`],
  };
  const faultState = { missingMs: 0, slowStartMs: 0 };
  const context: TaskContext = {
    store,
    runner,
    subnets: world.subnets,
    securityGroups: world.securityGroups,
    faults: faultState,
  };
  const handlers: Handlers = {
    ecs: {
      CreateCluster: (input) => createCluster(store, input),
      DescribeClusters: (input) => describeClusters(store, input),
      ListClusters: (input) => listClusters(store, input),
      RegisterTaskDefinition: (input) => registerTaskDefinition(store, input),
      DescribeTaskDefinition: (input) => describeTaskDefinition(store, input),
      ListTaskDefinitions: (input) => listTaskDefinitions(store, input),
      DeregisterTaskDefinition: (input) => deregisterTaskDefinition(store, input),
      DeleteTaskDefinitions: (input) => deleteTaskDefinitions(store, input),
      RunTask: (input) => runTask(context, input),
      DescribeTasks: (input) => describeTasks(context, input),
      ListTasks: (input) => listTasks(context, input),
      StopTask: (input) => stopTaskOperation(context, input),
      TagResource: (input) => tagResource(store, input),
      UntagResource: (input) => untagResource(store, input),
      ListTagsForResource: (input) => listTagsForResource(store, input),
      ListContainerInstances: (input) => listContainerInstances(store, input),
      DescribeContainerInstances: (input) => describeContainerInstances(store, input),
    },
    logs: {
      GetLogEvents: (input: Input) => logs.getLogEvents(input),
      FilterLogEvents: (input: Input) => logs.filterLogEvents(input),
      DescribeLogStreams: (input: Input) => logs.describeLogStreams(input),
    },
    ec2: {
      DescribeInstances: (form) => describeInstances(world, form),
      DescribeNetworkInterfaces: (form) => describeNetworkInterfaces(world, form),
    },
  };
  const calls: RecordedCall[] = [];
  const throttles = new Map<string, number>();
  const credentials = {
    accessKeyId: `AKIAEMU${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64'),
  };
  let started: Awaited<ReturnType<typeof startServer>>;
  try {
    started = await startServer({ handlers, accessKeyId: credentials.accessKeyId, region, calls, throttles });
  } catch (error) {
    await runner.close();
    throw error;
  }
  const { server, endpoint } = started;
  let closing: Promise<void> | undefined;
  return {
    endpoint,
    region,
    credentials,
    cluster: cluster.name,
    subnets: world.subnets,
    securityGroups: world.securityGroups,
    containerInstance: { arn: instance.arn, ec2InstanceId: instance.ec2InstanceId, privateIp: '127.0.0.1' },
    calls,
    faults: {
      missingFor(ms) {
        faultState.missingMs = ms;
      },
      throttle(operation, count) {
        throttles.set(operation, count);
      },
      failPull(image) {
        failPull.add(image);
      },
      slowStart(ms) {
        faultState.slowStartMs = ms;
      },
      clear() {
        faultState.missingMs = 0;
        faultState.slowStartMs = 0;
        throttles.clear();
        failPull.clear();
      },
    },
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await runner.close();
      })();
      return closing;
    },
  };
}

/**
 * Removes every container and volume an emulator labelled `label` left behind (a test process
 * that died before `close()`): call it in `afterAll` next to `close()`.
 */
export function removeEcsEmulatorLeftovers(
  label: string,
  docker: Dockerode = new Dockerode(),
): Promise<void> {
  return removeLabelled(docker, `${EMULATOR_LABEL}=${label}`);
}
