import { type FieldList, invalidOption, refuseUnknownFields } from '@dde/core';
import { AWS_FIELDS, AwsClients, type AwsOptions, withClients } from './aws.ts';
import {
  type PortRange,
  validateCidr,
  validateInterval,
  validateName,
  validatePortRange,
  validateTags,
} from './options.ts';
import {
  createStack,
  deleteStack,
  refuseExistingStack,
  requireStack,
  type StackState,
  type StackWatchOptions,
  templateBody,
} from './stacks.ts';
import { stackNameOf, tagsOf } from './tags.ts';

/** Options every ECS setup function takes. */
export interface EcsSetupTarget extends AwsOptions {
  /** The setup's dde name: the stack is `dde-ecs-<name>`, the cluster `dde-<name>`, the log group `/dde/<name>`. */
  readonly name: string;
}

/** Options of {@link createEcsSetup}. */
export interface CreateEcsSetupOptions extends EcsSetupTarget, StackWatchOptions {
  /** The existing VPC the tasks run in. */
  readonly vpcId: string;
  /** Subnets of that VPC for the tasks (at least one). */
  readonly subnetIds: readonly string[];
  /** The proxy's security group: the only source admitted to the tools' ports. Give this or `proxyCidr`. */
  readonly proxySecurityGroupId?: string;
  /** The proxy's network, when it has no security group in the VPC. Give this or `proxySecurityGroupId`. */
  readonly proxyCidr?: string;
  /** The ports the tools listen on. Default 1024-65535. */
  readonly toolPorts?: PortRange;
  /** Log retention in days (a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, ...). Default 14. */
  readonly logRetentionDays?: number;
  /** Create an (empty) task role for the tools' code. Default false. */
  readonly taskRole?: boolean;
  /** Extra tags for everything created. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Aborting stops the wait and deletes the stack. */
  readonly signal?: AbortSignal;
}

/** Options of {@link deleteEcsSetup}. */
export interface DeleteEcsSetupOptions extends EcsSetupTarget, StackWatchOptions {}

/** The `EcsBackend` options an ECS setup provides (pass them to `new EcsBackend({...})`). */
export interface EcsBackendSettings {
  /** The cluster's name, `dde-<setup>`. */
  readonly cluster: string;
  /** The region of the setup. */
  readonly region: string;
  /** The subnets for the tasks. */
  readonly subnets: readonly string[];
  /** The tasks' security group, which admits the proxy only. */
  readonly securityGroups: readonly string[];
  /** The task execution role. */
  readonly executionRoleArn: string;
  /** The task role, when the setup has one. */
  readonly taskRoleArn?: string;
  /** The log group, `/dde/<setup>`. */
  readonly logGroup: string;
}

/** An ECS setup, as {@link createEcsSetup} and {@link describeEcsSetup} report it. */
export interface EcsSetup {
  /** Its dde name. */
  readonly name: string;
  /** Its stack, `dde-ecs-<name>`. */
  readonly stackName: string;
  /** The stack's status (`CREATE_COMPLETE` once usable). */
  readonly status: string;
  /** The backend settings, once the stack is complete. */
  readonly settings: EcsBackendSettings | undefined;
}

const TARGET_FIELDS: FieldList<EcsSetupTarget> = { ...AWS_FIELDS, name: true };
const CREATE_FIELDS: FieldList<CreateEcsSetupOptions> = {
  ...TARGET_FIELDS,
  vpcId: true,
  subnetIds: true,
  proxySecurityGroupId: true,
  proxyCidr: true,
  toolPorts: true,
  logRetentionDays: true,
  taskRole: true,
  tags: true,
  signal: true,
  onProgress: true,
  pollIntervalMs: true,
};
const DELETE_FIELDS: FieldList<DeleteEcsSetupOptions> = {
  ...TARGET_FIELDS,
  onProgress: true,
  pollIntervalMs: true,
};
const RETENTIONS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Creates the ECS setup `@dde/backend-ecs` needs (cluster, task execution role, optional task
 * role, log group with retention, a security group admitting only the proxy) as the stack
 * `dde-ecs-<name>`, waits for it, and returns the backend's settings. A failed or aborted
 * creation leaves no stack.
 */
export async function createEcsSetup(options: CreateEcsSetupOptions): Promise<EcsSetup> {
  refuseUnknownFields(options, CREATE_FIELDS, 'createEcsSetup options', invalidOption);
  const name = validateName(options.name);
  if (typeof options.vpcId !== 'string' || !/^vpc-[0-9a-f]+$/.test(options.vpcId)) {
    throw invalidOption('vpcId', 'must be a VPC id such as vpc-0abc123');
  }
  const subnets = options.subnetIds;
  if (
    !Array.isArray(subnets) ||
    subnets.length === 0 ||
    !subnets.every((id) => /^subnet-[0-9a-f]+$/.test(id))
  ) {
    throw invalidOption('subnetIds', 'must be one or more subnet ids such as subnet-0abc123');
  }
  const { proxySecurityGroupId, proxyCidr } = options;
  if ((proxySecurityGroupId === undefined) === (proxyCidr === undefined)) {
    throw invalidOption(
      'proxySecurityGroupId',
      'or proxyCidr must be given, not both: they name the only source admitted',
    );
  }
  if (proxySecurityGroupId !== undefined && !/^sg-[0-9a-f]+$/.test(proxySecurityGroupId)) {
    throw invalidOption('proxySecurityGroupId', 'must be a security group id such as sg-0abc123');
  }
  if (proxyCidr !== undefined) validateCidr(proxyCidr, 'proxyCidr');
  const ports = validatePortRange(options.toolPorts ?? { from: 1024, to: 65535 }, 'toolPorts', 1);
  const retention = options.logRetentionDays ?? 14;
  if (!RETENTIONS.includes(retention)) {
    throw invalidOption('logRetentionDays', `must be one of ${RETENTIONS.join(', ')}`);
  }
  if (options.taskRole !== undefined && typeof options.taskRole !== 'boolean') {
    throw invalidOption('taskRole', 'must be true or false');
  }
  const tags = validateTags(options.tags);
  const pollIntervalMs = validateInterval(options.pollIntervalMs, 'pollIntervalMs');
  const stackName = stackNameOf('ecs-setup', name);
  const clients = new AwsClients(options);
  try {
    await refuseExistingStack(clients.cloudFormation, 'ecs-setup', name);
    const stack = await createStack(clients.cloudFormation, {
      stackName,
      templateBody: await templateBody('ecs'),
      parameters: {
        SetupName: name,
        VpcId: options.vpcId,
        SubnetIds: subnets.join(','),
        ProxySecurityGroupId: proxySecurityGroupId ?? '',
        ProxyCidr: proxyCidr ?? '',
        ToolPortFrom: String(ports.from),
        ToolPortTo: String(ports.to),
        LogRetentionDays: String(retention),
        CreateTaskRole: String(options.taskRole ?? false),
      },
      tags: tagsOf('ecs-setup', name, tags),
      signal: options.signal,
      onProgress: options.onProgress,
      pollIntervalMs,
    }).catch(async (error: unknown) => {
      // OnFailure: DELETE removes a failed stack; an aborted one is being deleted: wait for it.
      await deleteStack(clients.cloudFormation, stackName, { pollIntervalMs }).catch(() => {});
      throw error;
    });
    return setupFrom(name, stackName, stack, await clients.region());
  } finally {
    clients.close();
  }
}

/** Deletes the setup's stack and waits until it is gone; false when there was none. */
export async function deleteEcsSetup(options: DeleteEcsSetupOptions): Promise<boolean> {
  refuseUnknownFields(options, DELETE_FIELDS, 'deleteEcsSetup options', invalidOption);
  const name = validateName(options.name);
  const pollIntervalMs = validateInterval(options.pollIntervalMs, 'pollIntervalMs');
  return withClients(options, (clients) =>
    deleteStack(clients.cloudFormation, stackNameOf('ecs-setup', name), {
      onProgress: options.onProgress,
      pollIntervalMs,
    }),
  );
}

/** The setup's status and backend settings; `NOT_FOUND` when there is no stack. */
export async function describeEcsSetup(options: EcsSetupTarget): Promise<EcsSetup> {
  refuseUnknownFields(options, TARGET_FIELDS, 'describeEcsSetup options', invalidOption);
  const name = validateName(options.name);
  return withClients(options, async (clients) => {
    const { stackName, stack } = await requireStack(clients.cloudFormation, 'ecs-setup', name);
    return setupFrom(name, stackName, stack, await clients.region());
  });
}

function setupFrom(name: string, stackName: string, stack: StackState, region: string): EcsSetup {
  const outputs = stack.outputs;
  const complete = stack.status === 'CREATE_COMPLETE' || stack.status === 'UPDATE_COMPLETE';
  const settings: EcsBackendSettings | undefined = complete
    ? {
        cluster: `dde-${name}`,
        region,
        subnets: (outputs.SubnetIds ?? stack.parameters.SubnetIds ?? '').split(',').filter(Boolean),
        securityGroups: outputs.SecurityGroupId ? [outputs.SecurityGroupId] : [],
        executionRoleArn: outputs.ExecutionRoleArn ?? '',
        ...(outputs.TaskRoleArn ? { taskRoleArn: outputs.TaskRoleArn } : {}),
        logGroup: outputs.LogGroupName ?? `/dde/${name}`,
      }
    : undefined;
  return { name, stackName, status: stack.status, settings };
}
