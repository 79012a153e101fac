import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECSClient, ECSClientConfig } from '@aws-sdk/client-ecs';
import { DEFAULT_NAMESPACE, invalidOption, validateNamespace } from '@dde/core';

/** AWS credentials, or a provider of them, as the AWS SDK v3 clients take them. */
export type EcsCredentials = NonNullable<ECSClientConfig['credentials']>;

/** Where ECS runs the tasks. */
export type LaunchType = 'FARGATE' | 'EC2';

/** How a task's containers are networked: `awsvpc` (an ENI per task) or Docker's `bridge` (EC2 only). */
export type NetworkMode = 'awsvpc' | 'bridge';

/**
 * When task definitions this backend registered are deregistered (and deleted):
 * `when-unused` as soon as it removes their last task, `on-close` when the backend closes and
 * none of its tasks uses them any more, `never` to keep them (they cost nothing).
 */
export type TaskDefinitionRelease = 'when-unused' | 'on-close' | 'never';

/** Which task address the proxy connects to. */
export type UpstreamAddress = 'private' | 'public';

/** Options of {@link EcsBackend}. */
export interface EcsBackendOptions {
  /** The ECS cluster's name or ARN. Required. */
  cluster: string;
  /** Which tasks this backend owns (`startedBy: dde/<namespace>`). Default `"default"`. */
  namespace?: string;
  /** AWS region. Default: the SDK's chain (`AWS_REGION`, the profile's region). */
  region?: string;
  /** API endpoint for ECS, CloudWatch Logs and EC2 (a VPC endpoint, moto, an emulator). */
  endpoint?: string;
  /** Credentials or a provider of them. Default: the SDK's standard chain. */
  credentials?: EcsCredentials;
  /** `FARGATE` (default) or `EC2`. */
  launchType?: LaunchType;
  /** Network mode of the task definitions: `awsvpc` (default; the only one Fargate has) or `bridge` (EC2). */
  networkMode?: NetworkMode;
  /** Subnet ids for `awsvpc` tasks (at least one). */
  subnets?: readonly string[];
  /** Security group ids for `awsvpc` tasks; they must let the proxy reach the tools' ports. */
  securityGroups?: readonly string[];
  /** Give Fargate tasks a public IP (needed to pull public images from a subnet without NAT). Default false. */
  assignPublicIp?: boolean;
  /** Connect to the task's `private` address (default) or its `public` one (proxy outside the VPC; needs `assignPublicIp`). */
  upstreamAddress?: UpstreamAddress;
  /** Role ECS uses to pull images and write logs (required for `logGroup` on Fargate). */
  executionRoleArn?: string;
  /** Role the tool's code runs as. */
  taskRoleArn?: string;
  /** CloudWatch Logs group for the awslogs driver; without it there are no logs. */
  logGroup?: string;
  /** Log stream prefix for the awslogs driver. Default `dde`. */
  logStreamPrefix?: string;
  /**
   * Image of the small init container that writes `fileInput()` files into a task volume
   * (needs `sh` and `printf`). Default `public.ecr.aws/docker/library/busybox:stable`.
   */
  inputWriterImage?: string;
  /** Fargate platform version. Default: ECS's `LATEST`. */
  platformVersion?: string;
  /** When registered task definitions are deregistered. Default `on-close`. */
  releaseTaskDefinitions?: TaskDefinitionRelease;
  /** How long a task may be `MISSING` right after RunTask (eventual consistency). Default 30000 ms. */
  missingGraceMs?: number;
  /** Interval of the poller that keeps the manager's table fresh, jittered by ±20 %. Default 10000 ms. */
  pollIntervalMs?: number;
  /**
   * How long a task whose tool stopped by itself after it ran (it exited, crashed, or was stopped
   * outside dde) stays listed as `exited`, so the proxy shows its failure page (stop reason, exit
   * code) as it does for Docker's exited containers. ECS describes stopped tasks for about an hour:
   * at most 3600000. 0: such tasks vanish as soon as they stop. Default 600000 (10 minutes).
   */
  exitedTaskRetentionMs?: number;
  /** RunTask calls per second the backend allows itself (ECS allows about 20 per account and region). Default 20. */
  runTaskRate?: number;
  /** Attempts per AWS call, with the SDK's adaptive retry mode. Default 5. */
  maxAttempts?: number;
  /** An ECS client to use instead of one built from region, endpoint and credentials. */
  ecs?: ECSClient;
  /** A CloudWatch Logs client to use instead of one built from the settings above. */
  logs?: CloudWatchLogsClient;
  /** An EC2 client (bridge mode and public addresses) to use instead of one built from the settings above. */
  ec2?: EC2Client;
}

/** The validated form of {@link EcsBackendOptions}. */
export interface ResolvedOptions {
  readonly cluster: string;
  readonly namespace: string;
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
  readonly credentials: EcsCredentials | undefined;
  readonly launchType: LaunchType;
  readonly networkMode: NetworkMode;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly assignPublicIp: boolean;
  readonly upstreamAddress: UpstreamAddress;
  readonly executionRoleArn: string | undefined;
  readonly taskRoleArn: string | undefined;
  readonly logGroup: string | undefined;
  readonly logStreamPrefix: string;
  readonly inputWriterImage: string;
  readonly platformVersion: string | undefined;
  readonly releaseTaskDefinitions: TaskDefinitionRelease;
  readonly missingGraceMs: number;
  readonly pollIntervalMs: number;
  readonly exitedTaskRetentionMs: number;
  readonly runTaskRate: number;
  readonly maxAttempts: number;
  readonly ecs: ECSClient | undefined;
  readonly logs: CloudWatchLogsClient | undefined;
  readonly ec2: EC2Client | undefined;
}

/** The input writer image used when none is configured. */
export const DEFAULT_INPUT_WRITER_IMAGE = 'public.ecr.aws/docker/library/busybox:stable';

const KNOWN: Readonly<Record<keyof EcsBackendOptions, true>> = {
  cluster: true,
  namespace: true,
  region: true,
  endpoint: true,
  credentials: true,
  launchType: true,
  networkMode: true,
  subnets: true,
  securityGroups: true,
  assignPublicIp: true,
  upstreamAddress: true,
  executionRoleArn: true,
  taskRoleArn: true,
  logGroup: true,
  logStreamPrefix: true,
  inputWriterImage: true,
  platformVersion: true,
  releaseTaskDefinitions: true,
  missingGraceMs: true,
  pollIntervalMs: true,
  exitedTaskRetentionMs: true,
  runTaskRate: true,
  maxAttempts: true,
  ecs: true,
  logs: true,
  ec2: true,
};

const CLUSTER =
  /^(?:[A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255})$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SUBNET = /^subnet-[A-Za-z0-9]{1,32}$/;
const SECURITY_GROUP = /^sg-[A-Za-z0-9]{1,32}$/;
const LOG_GROUP = /^[\w\-./#]{1,512}$/;
const LOG_PREFIX = /^[^:*]{1,512}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d$/;

/**
 * Checks {@link EcsBackendOptions} without making a backend (no AWS client, no call): throws
 * `INVALID_OPTION` naming the first field at fault and how to fix it, as `new EcsBackend()` would.
 */
export function validateEcsBackendOptions(options: EcsBackendOptions): void {
  validateOptions(options);
}

/** Validates options; throws `INVALID_OPTION` naming the first field at fault and how to fix it. */
export function validateOptions(options: EcsBackendOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('options', 'must be an object such as { cluster: "tools", subnets: ["subnet-..."] }');
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(KNOWN, key)) {
      throw invalidOption(key, `is not an option of EcsBackend (known: ${Object.keys(KNOWN).join(', ')})`);
    }
  }
  if (typeof options.cluster !== 'string' || !CLUSTER.test(options.cluster)) {
    throw invalidOption(
      'cluster',
      `must be an ECS cluster name or ARN (e.g. "dde-tools"), got ${JSON.stringify(options.cluster)}`,
    );
  }
  const namespace = validateNamespace(options.namespace ?? DEFAULT_NAMESPACE);
  const region = optionalMatch('region', options.region, REGION, 'an AWS region such as eu-west-1');
  const endpoint = optionalUrl('endpoint', options.endpoint);
  const credentials = options.credentials;
  if (
    credentials !== undefined &&
    typeof credentials !== 'function' &&
    (typeof credentials !== 'object' ||
      credentials === null ||
      typeof credentials.accessKeyId !== 'string' ||
      typeof credentials.secretAccessKey !== 'string')
  ) {
    throw invalidOption(
      'credentials',
      'must be { accessKeyId, secretAccessKey, sessionToken? } or a provider function',
    );
  }
  const launchType = oneOf('launchType', options.launchType ?? 'FARGATE', ['FARGATE', 'EC2'] as const);
  const networkMode = oneOf('networkMode', options.networkMode ?? 'awsvpc', ['awsvpc', 'bridge'] as const);
  if (launchType === 'FARGATE' && networkMode !== 'awsvpc') {
    throw invalidOption('networkMode', 'must be awsvpc on Fargate (bridge needs launchType EC2)');
  }
  const subnets = idList('subnets', options.subnets, SUBNET, 'subnet-0123456789abcdef0');
  const securityGroups = idList(
    'securityGroups',
    options.securityGroups,
    SECURITY_GROUP,
    'sg-0123456789abcdef0',
  );
  if (networkMode === 'awsvpc' && subnets.length === 0) {
    throw invalidOption(
      'subnets',
      'must name at least one subnet for awsvpc tasks (e.g. ["subnet-0123456789abcdef0"])',
    );
  }
  if (networkMode === 'bridge' && (subnets.length > 0 || securityGroups.length > 0)) {
    throw invalidOption(
      subnets.length > 0 ? 'subnets' : 'securityGroups',
      "applies to awsvpc tasks only: bridge tasks use the container instance's network",
    );
  }
  const assignPublicIp = optionalBoolean('assignPublicIp', options.assignPublicIp) ?? false;
  if (assignPublicIp && launchType !== 'FARGATE') {
    throw invalidOption('assignPublicIp', 'applies to Fargate tasks only');
  }
  const upstreamAddress = oneOf('upstreamAddress', options.upstreamAddress ?? 'private', [
    'private',
    'public',
  ] as const);
  if (upstreamAddress === 'public' && !assignPublicIp) {
    throw invalidOption(
      'upstreamAddress',
      '"public" needs assignPublicIp: true (tasks have no public address otherwise)',
    );
  }
  const executionRoleArn = optionalMatch(
    'executionRoleArn',
    options.executionRoleArn,
    ROLE_ARN,
    'an IAM role ARN',
  );
  const taskRoleArn = optionalMatch('taskRoleArn', options.taskRoleArn, ROLE_ARN, 'an IAM role ARN');
  const logGroup = optionalMatch('logGroup', options.logGroup, LOG_GROUP, 'a CloudWatch Logs group name');
  if (logGroup !== undefined && launchType === 'FARGATE' && executionRoleArn === undefined) {
    throw invalidOption(
      'executionRoleArn',
      'is required with logGroup on Fargate: ECS writes the logs with that role',
    );
  }
  const logStreamPrefix =
    optionalMatch(
      'logStreamPrefix',
      options.logStreamPrefix,
      LOG_PREFIX,
      'a log stream prefix without ":" or "*"',
    ) ?? 'dde';
  const inputWriterImage =
    optionalString('inputWriterImage', options.inputWriterImage) ?? DEFAULT_INPUT_WRITER_IMAGE;
  const platformVersion = optionalString('platformVersion', options.platformVersion);
  if (platformVersion !== undefined && launchType !== 'FARGATE') {
    throw invalidOption('platformVersion', 'applies to Fargate tasks only');
  }
  const releaseTaskDefinitions = oneOf(
    'releaseTaskDefinitions',
    options.releaseTaskDefinitions ?? 'on-close',
    ['when-unused', 'on-close', 'never'] as const,
  );
  return {
    cluster: options.cluster,
    namespace,
    region,
    endpoint,
    credentials,
    launchType,
    networkMode,
    subnets,
    securityGroups,
    assignPublicIp,
    upstreamAddress,
    executionRoleArn,
    taskRoleArn,
    logGroup,
    logStreamPrefix,
    inputWriterImage,
    platformVersion,
    releaseTaskDefinitions,
    missingGraceMs: count('missingGraceMs', options.missingGraceMs, 30_000, 0),
    pollIntervalMs: count('pollIntervalMs', options.pollIntervalMs, 10_000, 100),
    exitedTaskRetentionMs: exitedTaskRetention(options.exitedTaskRetentionMs),
    runTaskRate: count('runTaskRate', options.runTaskRate, 20, 1),
    maxAttempts: count('maxAttempts', options.maxAttempts, 5, 1),
    ecs: client('ecs', options.ecs),
    logs: client('logs', options.logs),
    ec2: client('ec2', options.ec2),
  };
}

function oneOf<const T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw invalidOption(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function optionalString(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalidOption(field, 'must be a non-empty string');
  return value;
}

function optionalMatch(field: string, value: unknown, pattern: RegExp, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw invalidOption(field, `must be ${what}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalBoolean(field: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw invalidOption(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function optionalUrl(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw invalidOption(
      field,
      `must be an http(s) URL such as https://ecs.eu-west-1.amazonaws.com, got ${JSON.stringify(value)}`,
    );
  }
  return value as string;
}

function idList(field: string, value: unknown, pattern: RegExp, example: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidOption(field, `must be an array of ids such as ["${example}"]`);
  if (value.length > 16) throw invalidOption(field, 'may name at most 16 ids (an ECS limit)');
  for (const [index, id] of value.entries()) {
    if (typeof id !== 'string' || !pattern.test(id)) {
      throw invalidOption(
        `${field}[${index}]`,
        `must be an id such as ${example}, got ${JSON.stringify(id)}`,
      );
    }
  }
  return [...value] as string[];
}

/** ECS describes a stopped task for about an hour: keeping it listed longer is impossible. */
const MAX_EXITED_TASK_RETENTION_MS = 3_600_000;

function exitedTaskRetention(value: unknown): number {
  const retention = count('exitedTaskRetentionMs', value, 600_000, 0);
  if (retention > MAX_EXITED_TASK_RETENTION_MS) {
    throw invalidOption(
      'exitedTaskRetentionMs',
      `must be at most ${MAX_EXITED_TASK_RETENTION_MS} (ECS describes stopped tasks for about an hour), got ${retention}`,
    );
  }
  return retention;
}

function count(field: string, value: unknown, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
    throw invalidOption(field, `must be a number of at least ${minimum}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function client<T>(field: string, value: T | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { send?: unknown }).send !== 'function'
  ) {
    throw invalidOption(field, 'must be an AWS SDK v3 client (it has a send() method)');
  }
  return value;
}
