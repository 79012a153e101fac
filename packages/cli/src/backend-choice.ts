import type { EcsBackendOptions } from '@dde/backend-ecs';
import type { ContainerBackend } from '@dde/core';
import { UsageError } from './usage.ts';

/** The backend options `dde` takes wherever they stand, before the command sees its own. */
export interface BackendChoice {
  /** The arguments without the backend options. */
  readonly argv: string[];
  /** Makes the chosen backend; undefined for the default (Docker). */
  readonly backend: ((namespace: string) => ContainerBackend) | undefined;
}

const VALUE_FLAGS = new Set(['--backend', '--cluster', '--subnet', '--security-group']);

/**
 * Takes `--backend docker|ecs`, `--cluster`, `--subnet` and `--security-group` (both repeatable)
 * out of `argv`. For `ecs`, the rest comes from the environment: `DDE_ECS_CLUSTER`,
 * `DDE_ECS_SUBNETS` and `DDE_ECS_SECURITY_GROUPS` (comma-separated) when the flags are absent,
 * `DDE_ECS_LAUNCH_TYPE`, `DDE_ECS_EXECUTION_ROLE_ARN`, `DDE_ECS_TASK_ROLE_ARN`, `DDE_ECS_LOG_GROUP`,
 * `DDE_ECS_ASSIGN_PUBLIC_IP=true`, `DDE_ECS_UPSTREAM_ADDRESS` (`private` or `public`) and
 * `DDE_ECS_INPUT_WRITER_IMAGE`; region, credentials and
 * endpoint from the AWS SDK's own (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`...).
 * `DDE_BACKEND` chooses the backend when `--backend` is absent. The AWS SDK is loaded only
 * for `ecs`, so Docker commands start as fast as before.
 */
export async function chooseBackend(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<BackendChoice> {
  const rest: string[] = [];
  const values: Record<string, string[]> = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--') {
      rest.push(...argv.slice(index));
      break;
    }
    const [flag = '', inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (!VALUE_FLAGS.has(flag)) {
      rest.push(arg);
      continue;
    }
    const value = inline ?? argv[++index];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    values[flag] = [...(values[flag] ?? []), value];
  }
  const kind = values['--backend']?.at(-1) ?? env.DDE_BACKEND ?? 'docker';
  if (kind !== 'docker' && kind !== 'ecs')
    throw new UsageError(`--backend must be docker or ecs, got "${kind}"`);
  if (kind === 'docker') {
    const stray = ['--cluster', '--subnet', '--security-group'].find((flag) => values[flag] !== undefined);
    if (stray !== undefined) throw new UsageError(`${stray} applies to --backend ecs only`);
    return { argv: rest, backend: undefined };
  }
  const list = (flag: string, variable: string) =>
    values[flag] ??
    (env[variable] ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const cluster = values['--cluster']?.at(-1) ?? env.DDE_ECS_CLUSTER;
  if (cluster === undefined)
    throw new UsageError('--backend ecs needs --cluster <name> (or DDE_ECS_CLUSTER)');
  const launchType = env.DDE_ECS_LAUNCH_TYPE as EcsBackendOptions['launchType'];
  const subnets = list('--subnet', 'DDE_ECS_SUBNETS');
  const securityGroups = list('--security-group', 'DDE_ECS_SECURITY_GROUPS');
  const options: Omit<EcsBackendOptions, 'namespace'> = {
    cluster,
    ...(launchType === undefined ? {} : { launchType }),
    ...(launchType === 'EC2' && subnets.length === 0 ? { networkMode: 'bridge' as const } : {}),
    ...(subnets.length === 0 ? {} : { subnets }),
    ...(securityGroups.length === 0 ? {} : { securityGroups }),
    ...optional('executionRoleArn', env.DDE_ECS_EXECUTION_ROLE_ARN),
    ...optional('taskRoleArn', env.DDE_ECS_TASK_ROLE_ARN),
    ...optional('logGroup', env.DDE_ECS_LOG_GROUP),
    ...optional('inputWriterImage', env.DDE_ECS_INPUT_WRITER_IMAGE),
    ...(env.DDE_ECS_ASSIGN_PUBLIC_IP === 'true' ? { assignPublicIp: true } : {}),
    ...(env.DDE_ECS_UPSTREAM_ADDRESS === undefined || env.DDE_ECS_UPSTREAM_ADDRESS === ''
      ? {}
      : { upstreamAddress: env.DDE_ECS_UPSTREAM_ADDRESS as EcsBackendOptions['upstreamAddress'] }),
  };
  const { EcsBackend, validateEcsBackendOptions } = await import('@dde/backend-ecs');
  // Validate now, so that a bad setting is a usage error before any command runs.
  validateEcsBackendOptions({ ...options, namespace: 'default' });
  return { argv: rest, backend: (namespace) => new EcsBackend({ ...options, namespace }) };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, string>);
}
