import { createHash, randomUUID } from 'node:crypto';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { RunTaskCommandInput, RunTaskCommandOutput, Task } from '@aws-sdk/client-ecs';
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import type {
  BackendCapabilities,
  BackendEvent,
  ContainerBackend,
  ContainerInfo,
  ContainerSpec,
  LaunchOptions,
  LogEntry,
  LogOptions,
  OperationOptions,
} from '@dde/core';
import { abortError, DdeError, planLaunch, throwIfAborted } from '@dde/core';
import { AddressResolver, eniDetail, toolContainer } from './addresses.ts';
import { DescribeBatcher, MAX_DESCRIBE_TASKS } from './describe-batcher.ts';
import { capitalize, launchFailed, toDdeError } from './errors.ts';
import { ExitedTasks, REMOVED_REASON } from './exited-tasks.ts';
import { logStreamName, readLogs } from './logs.ts';
import type { EcsBackendOptions, ResolvedOptions } from './options.ts';
import { validateOptions } from './options.ts';
import { groupFor, labelsToTags, startedByFor } from './tags.ts';
import { planTask } from './task-definition.ts';
import { TaskDefinitions } from './task-definitions.ts';
import { taskName, toContainerInfo } from './task-info.ts';
import { TokenBucket } from './token-bucket.ts';
import { waitForRunning } from './wait.ts';

/**
 * Runs dde's containers as AWS ECS tasks (Fargate or EC2) through `@aws-sdk/client-ecs`:
 * one task per container, tagged with dde's labels, found again by `startedBy: dde/<namespace>`.
 *
 * @example
 * ```ts
 * const backend = new EcsBackend({
 *   cluster: 'dde-tools',
 *   namespace: 'my-app',
 *   subnets: ['subnet-0123456789abcdef0'],
 *   securityGroups: ['sg-0123456789abcdef0'],
 *   executionRoleArn: 'arn:aws:iam::123456789012:role/dde-task-execution',
 *   logGroup: '/dde/tools',
 * });
 * const manager = new ContainerManager({ backend });
 * ```
 */
export class EcsBackend implements ContainerBackend {
  /** Always `ecs`. */
  readonly kind = 'ecs';
  /** The namespace whose tasks this backend manages. */
  readonly namespace: string;
  /**
   * Files are written by an init container into task volumes mounted on their directories;
   * extra directories are task volumes; no pushed events (a poller resyncs); logs when a log
   * group is configured; ECS pulls images itself without progress reports.
   */
  readonly capabilities: BackendCapabilities;
  readonly #options: ResolvedOptions;
  readonly #ecs: ECSClient;
  readonly #logs: CloudWatchLogsClient | undefined;
  #ec2: EC2Client | undefined;
  readonly #ownedClients: { destroy(): void }[] = [];
  readonly #definitions: TaskDefinitions;
  readonly #addresses: AddressResolver;
  readonly #batcher: DescribeBatcher;
  readonly #exited: ExitedTasks;
  readonly #runTasks: TokenBucket;
  readonly #launching = new Set<string>();
  readonly #closing = new AbortController();

  constructor(options: EcsBackendOptions) {
    const resolved = validateOptions(options);
    this.#options = resolved;
    this.namespace = resolved.namespace;
    this.capabilities = {
      placesFiles: true,
      pushesEvents: false,
      volumes: true,
      logs: resolved.logGroup !== undefined,
      pullsImages: false,
    };
    const config = {
      ...(resolved.region === undefined ? {} : { region: resolved.region }),
      ...(resolved.endpoint === undefined ? {} : { endpoint: resolved.endpoint }),
      ...(resolved.credentials === undefined ? {} : { credentials: resolved.credentials }),
      maxAttempts: resolved.maxAttempts,
      retryMode: 'adaptive',
    };
    this.#ecs = resolved.ecs ?? this.#own(new ECSClient(config));
    this.#logs =
      resolved.logGroup === undefined
        ? undefined
        : (resolved.logs ?? this.#own(new CloudWatchLogsClient(config)));
    this.#ec2 = resolved.ec2;
    const ec2 = () => {
      this.#ec2 ??= this.#own(new EC2Client(config));
      return this.#ec2;
    };
    this.#definitions = new TaskDefinitions(this.#ecs, this.namespace);
    this.#addresses = new AddressResolver({
      cluster: resolved.cluster,
      networkMode: resolved.networkMode,
      upstreamAddress: resolved.upstreamAddress,
      ecs: this.#ecs,
      ec2,
    });
    this.#batcher = new DescribeBatcher((arns) => this.#describe(arns));
    this.#exited = new ExitedTasks({
      retentionMs: resolved.exitedTaskRetentionMs,
      listStopped: (signal) => this.#listArns('STOPPED', signal),
      describe: (arns, signal) => this.#describe(arns, signal),
    });
    this.#runTasks = new TokenBucket(resolved.runTaskRate);
  }

  #own<T extends { destroy(): void }>(client: T): T {
    this.#ownedClients.push(client);
    return client;
  }

  async launch(spec: ContainerSpec, options: LaunchOptions = {}): Promise<ContainerInfo> {
    const { signal, onProgress } = options;
    const what = `launch of ${typeof spec?.name === 'string' ? spec.name : 'a container'}`;
    throwIfAborted(signal, capitalize(what));
    // Everything that can be refused is refused before anything is created.
    const plan = planLaunch(spec, this);
    const task = planTask(plan, this.#options);
    const tags = labelsToTags(plan.labels, plan.spec.name);
    const name = plan.spec.name;
    if (this.#launching.has(name)) throw conflict(name);
    this.#launching.add(name);
    let arn: string | undefined;
    try {
      if ((await this.#tasks({ signal, what })).some((candidate) => taskName(candidate) === name))
        throw conflict(name);
      onProgress?.({ phase: 'creating', name, message: `task definition ${task.definition.family}` });
      const definitionArn = await this.#call(
        `registering the task definition for ${name}`,
        signal,
        (abortSignal) => this.#definitions.ensure(task.definition, abortSignal),
      );
      await this.#runTasks.take(signal);
      onProgress?.({ phase: 'starting', name, message: 'RunTask' });
      const launchId = randomUUID();
      const input: RunTaskCommandInput = {
        cluster: this.#options.cluster,
        taskDefinition: definitionArn,
        count: 1,
        launchType: this.#options.launchType,
        startedBy: startedByFor(this.namespace),
        group: groupFor(name),
        tags,
        overrides: task.overrides,
        // Derived from this launch's id: a retried call (the SDK's, or after a timeout) cannot start a second task.
        clientToken: createHash('sha256')
          .update(`${this.namespace}/${name}/${launchId}`)
          .digest('hex')
          .slice(0, 64),
        ...(this.#options.networkMode === 'awsvpc'
          ? {
              networkConfiguration: {
                awsvpcConfiguration: {
                  subnets: [...this.#options.subnets],
                  ...(this.#options.securityGroups.length === 0
                    ? {}
                    : { securityGroups: [...this.#options.securityGroups] }),
                  assignPublicIp: this.#options.assignPublicIp ? 'ENABLED' : 'DISABLED',
                },
              },
            }
          : {}),
        ...(this.#options.platformVersion === undefined
          ? {}
          : { platformVersion: this.#options.platformVersion }),
      };
      let answer: RunTaskCommandOutput;
      try {
        answer = await this.#ecs.send(new RunTaskCommand(input), { abortSignal: signal });
      } catch (error) {
        if (signal?.aborted) await this.#stopByName(name, 'launch aborted');
        throw error;
      }
      const started = answer.tasks?.[0];
      arn = started?.taskArn;
      if (arn === undefined) throw runTaskFailure(name, answer.failures ?? []);
      const port = plan.spec.port;
      const running = await waitForRunning(arn, {
        name,
        signal,
        missingGraceMs: this.#options.missingGraceMs,
        describe: (taskArn) => this.#batcher.describe(taskArn),
        // RUNNING is not enough: the proxy also needs the address (ENI or host port) to be reported.
        isReady: (candidate) => hasAddress(candidate, this.#options.networkMode),
        onStatus: (status) => onProgress?.({ phase: 'starting', name, message: `task ${status}` }),
      });
      const upstream = await this.#addresses.upstream(running, port, signal);
      if (upstream === undefined) {
        throw launchFailed(`${name} runs, but ECS reports no address to reach it on port ${port}`);
      }
      const info = toContainerInfo(running, { namespace: this.namespace, upstream });
      if (info === undefined)
        throw launchFailed(`${name} started as task ${arn}, which does not carry dde's tags`);
      // What ECS applied (Fargate rounds up to a valid size), when DescribeTasks does not say.
      return {
        ...info,
        cpus: info.cpus ?? task.applied.cpus,
        memoryLimitMb: info.memoryLimitMb ?? task.applied.memoryLimitMb,
      };
    } catch (error) {
      if (arn !== undefined) {
        // The launch reports this failure: the task is not listed as exited afterwards.
        this.#exited.dismiss(arn);
        await this.#stopQuietly(arn, signal?.aborted ? 'launch aborted' : 'launch failed');
      }
      if (signal?.aborted) throw abortError(signal, capitalize(what));
      throw toDdeError(error, { what, cluster: this.#options.cluster, signal });
    } finally {
      this.#launching.delete(name);
    }
  }

  /** The task of that name: a live one, or one that exited by itself a short while ago. */
  async inspect(name: string, options: OperationOptions = {}): Promise<ContainerInfo | undefined> {
    const context = { signal: options.signal, what: `inspect of ${name}` };
    const live = await this.#tasks(context);
    const task =
      live.find((candidate) => taskName(candidate) === name) ??
      (await this.#exitedTasks(live, context)).find((candidate) => taskName(candidate) === name);
    return task === undefined ? undefined : this.#info(task, options.signal);
  }

  /**
   * The namespace's tasks ECS wants running, plus those whose tool stopped by itself within
   * `exitedTaskRetentionMs` (state `exited`, with the exit code), as Docker lists exited containers.
   */
  async list(options: OperationOptions = {}): Promise<ContainerInfo[]> {
    const context = { signal: options.signal, what: 'listing tasks' };
    const live = await this.#tasks(context);
    const tasks = [...live, ...(await this.#exitedTasks(live, context))];
    const infos = await Promise.all(tasks.map((task) => this.#info(task, options.signal)));
    return infos.filter((info): info is ContainerInfo => info !== undefined);
  }

  async remove(name: string, options: OperationOptions = {}): Promise<boolean> {
    const what = `removal of ${name}`;
    const live = await this.#tasks({ signal: options.signal, what });
    const tasks = live.filter((task) => taskName(task) === name);
    // A task that exited by itself cannot be deleted from ECS: removing it hides it for good.
    const exited = (await this.#exitedTasks(live, { signal: options.signal, what })).filter(
      (task) => taskName(task) === name,
    );
    for (const task of exited) if (task.taskArn !== undefined) this.#exited.dismiss(task.taskArn);
    for (const task of tasks) {
      await this.#call(what, options.signal, (abortSignal) =>
        this.#ecs.send(
          new StopTaskCommand({
            cluster: this.#options.cluster,
            task: task.taskArn,
            reason: `${REMOVED_REASON} (namespace ${this.namespace})`,
          }),
          { abortSignal },
        ),
      );
    }
    if (tasks.length > 0 && this.#options.releaseTaskDefinitions === 'when-unused') {
      await this.#releaseUnused(options.signal).catch(() => {});
    }
    return tasks.length > 0 || exited.length > 0;
  }

  async logs(name: string, options: LogOptions = {}): Promise<LogEntry[]> {
    const what = `logs of ${name}`;
    const group = this.#options.logGroup;
    if (this.#logs === undefined || group === undefined) {
      throw new DdeError(
        'UNSUPPORTED',
        'This EcsBackend has no logs: set its logGroup option (the awslogs driver writes to CloudWatch Logs)',
        { field: 'logGroup' },
      );
    }
    const task = (await this.#tasks({ signal: options.signal, what })).find(
      (candidate) => taskName(candidate) === name,
    );
    if (task?.taskArn === undefined)
      throw new DdeError('NOT_FOUND', `No container named ${name} in namespace ${this.namespace}`);
    const client = this.#logs;
    return this.#call(what, options.signal, () =>
      readLogs(client, group, logStreamName(this.#options.logStreamPrefix, task.taskArn as string), options),
    );
  }

  /**
   * ECS pushes nothing: this yields a `resync` every `pollIntervalMs` (±20 % jitter, so that
   * several proxies do not poll in step), and the manager then rebuilds its table from
   * {@link EcsBackend.list} (ListTasks by startedBy plus batched DescribeTasks).
   */
  async *events(options: OperationOptions = {}): AsyncIterable<BackendEvent> {
    const signal = AbortSignal.any([options.signal ?? new AbortController().signal, this.#closing.signal]);
    for (;;) {
      const jitter = 0.8 + Math.random() * 0.4;
      const aborted = await new Promise<boolean>((resolve) => {
        if (signal.aborted) {
          resolve(true);
          return;
        }
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve(false);
        }, this.#options.pollIntervalMs * jitter);
        const onAbort = () => {
          clearTimeout(timer);
          resolve(true);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (aborted) return;
      yield { type: 'resync', time: new Date(), reason: 'ECS pushes no events: periodic poll' };
    }
  }

  /** Stops the poller, releases task definitions (if configured `on-close`) and the AWS clients it built. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    if (this.#options.releaseTaskDefinitions !== 'never') await this.#releaseUnused().catch(() => {});
    for (const client of this.#ownedClients) client.destroy();
  }

  /** Deregisters the task definitions this backend registered that no task of its namespace uses. */
  async #releaseUnused(signal?: AbortSignal): Promise<void> {
    const registered = this.#definitions.registered();
    if (registered.length === 0) return;
    const used = new Set(
      (await this.#tasks({ signal, what: 'listing tasks' })).map((task) => task.taskDefinitionArn),
    );
    for (const arn of registered) if (!used.has(arn)) await this.#definitions.release(arn);
  }

  async #info(task: Task, signal?: AbortSignal): Promise<ContainerInfo | undefined> {
    const portFromTags = toContainerInfo(task, { namespace: this.namespace, upstream: undefined })?.port;
    const port =
      portFromTags ??
      (task.taskDefinitionArn === undefined
        ? undefined
        : await this.#definitions.port(task.taskDefinitionArn).catch(() => undefined));
    if (port === undefined) return undefined;
    const upstream =
      task.lastStatus === 'RUNNING'
        ? await this.#addresses.upstream(task, port, signal).catch(() => undefined)
        : undefined;
    return toContainerInfo(task, { namespace: this.namespace, upstream, fallbackPort: port });
  }

  /** Every task of this namespace ECS still wants running (PROVISIONING to RUNNING), described with tags. */
  async #tasks(context: { signal: AbortSignal | undefined; what: string }): Promise<Task[]> {
    return this.#call(context.what, context.signal, async (abortSignal) => {
      const arns = await this.#listArns('RUNNING', abortSignal);
      const tasks: Task[] = [];
      for (let start = 0; start < arns.length; start += MAX_DESCRIBE_TASKS) {
        tasks.push(...(await this.#describe(arns.slice(start, start + MAX_DESCRIBE_TASKS), abortSignal)));
      }
      // ListTasks filters on startedBy already; re-check in case an endpoint ignores the filter.
      return tasks.filter(
        (task) =>
          task.startedBy === startedByFor(this.namespace) &&
          task.desiredStatus !== 'STOPPED' &&
          taskName(task) !== undefined,
      );
    });
  }

  /** Tasks of this namespace that exited by itself lately, for names no `live` task holds. */
  #exitedTasks(
    live: readonly Task[],
    context: { signal: AbortSignal | undefined; what: string },
  ): Promise<Task[]> {
    return this.#call(context.what, context.signal, (abortSignal) => this.#exited.list(live, abortSignal));
  }

  /** ListTasks by this namespace's `startedBy`, every page. */
  async #listArns(desiredStatus: 'RUNNING' | 'STOPPED', abortSignal?: AbortSignal): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.#ecs.send(
        new ListTasksCommand({
          cluster: this.#options.cluster,
          startedBy: startedByFor(this.namespace),
          desiredStatus,
          maxResults: 100,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
        { abortSignal },
      );
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return arns;
  }

  async #describe(arns: readonly string[], abortSignal?: AbortSignal): Promise<Task[]> {
    if (arns.length === 0) return [];
    const answer = await this.#ecs.send(
      new DescribeTasksCommand({ cluster: this.#options.cluster, tasks: [...arns], include: ['TAGS'] }),
      { abortSignal },
    );
    return answer.tasks ?? [];
  }

  async #stopByName(name: string, why: string): Promise<void> {
    try {
      const tasks = await this.#tasks({ signal: undefined, what: `cleaning up after ${name}` });
      for (const task of tasks)
        if (taskName(task) === name && task.taskArn) await this.#stopQuietly(task.taskArn, why);
    } catch {
      // Best effort: the caller reports the original failure.
    }
  }

  async #stopQuietly(arn: string, why: string): Promise<void> {
    try {
      await this.#ecs.send(
        new StopTaskCommand({
          cluster: this.#options.cluster,
          task: arn,
          reason: `${REMOVED_REASON}: ${why}`,
        }),
      );
    } catch {
      // Best effort: the caller reports the original failure.
    }
  }

  async #call<T>(
    what: string,
    signal: AbortSignal | undefined,
    call: (signal?: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      return await call(signal);
    } catch (error) {
      throw toDdeError(error, { what, cluster: this.#options.cluster, signal });
    }
  }
}

function hasAddress(task: Task, networkMode: 'awsvpc' | 'bridge'): boolean {
  if (networkMode === 'awsvpc') {
    return (
      eniDetail(task, 'privateIPv4Address') !== undefined ||
      toolContainer(task)?.networkInterfaces?.[0]?.privateIpv4Address !== undefined
    );
  }
  return (toolContainer(task)?.networkBindings ?? []).length > 0;
}

function conflict(name: string): DdeError {
  return new DdeError(
    'CONFLICT',
    `A container named ${name} already runs in this namespace: remove it first`,
    {
      field: 'name',
    },
  );
}

/** RunTask answered without a task: its failures say why (capacity, missing resources...). */
function runTaskFailure(
  name: string,
  failures: readonly { reason?: string; detail?: string; arn?: string }[],
): DdeError {
  const reasons = failures.map((failure) =>
    [failure.reason, failure.detail].filter((part) => part !== undefined && part !== '').join(': '),
  );
  const text = reasons.length > 0 ? reasons.join('; ') : 'ECS answered with neither a task nor a failure';
  const capacity = failures.some((failure) => failure.reason?.startsWith('RESOURCE:'));
  return new DdeError(
    capacity ? 'CAPACITY_EXCEEDED' : 'LAUNCH_FAILED',
    `RunTask for ${name} started no task: ${text}`,
  );
}
