import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { type FieldList, invalidOption, refuseUnknownFields } from '@dde/core';
import { AWS_FIELDS, AwsClients, type AwsOptions, awsError, call } from './aws.ts';
import { describeEcsSetup } from './ecs-setup.ts';
import { validateName } from './options.ts';
import { ecsRuntimePolicy, type PolicyDocument, provisioningPolicy } from './policies.ts';
import { MANAGED_TAG } from './tags.ts';

/** Which of dde's policies: `provision` (for whoever runs dde-aws) or `ecs` (for the app running EcsBackend). */
export type PolicyKind = 'provision' | 'ecs';

/** Options of {@link resolvePolicy}. */
export interface ResolvePolicyOptions extends AwsOptions {
  /** Which policy. */
  readonly kind: PolicyKind;
  /** For `ecs`: the ECS setup whose cluster, roles and log group the policy names. */
  readonly setup?: string;
  /** For `ecs`: the EcsBackend namespace. Default `default`. */
  readonly namespace?: string;
}

/** Options of {@link attachPolicy}. */
export interface AttachPolicyOptions extends ResolvePolicyOptions {
  /** The IAM user to attach it to. Give this or `role`. */
  readonly user?: string;
  /** The IAM role to attach it to. Give this or `user`. */
  readonly role?: string;
}

/** A resolved policy: its IAM name and document. */
export interface ResolvedPolicy {
  /** `dde-provision`, or `dde-ecs-<setup>`. */
  readonly name: string;
  /** The policy document. */
  readonly document: PolicyDocument;
}

const RESOLVE_FIELDS: FieldList<ResolvePolicyOptions> = {
  ...AWS_FIELDS,
  kind: true,
  setup: true,
  namespace: true,
};
const ATTACH_FIELDS: FieldList<AttachPolicyOptions> = { ...RESOLVE_FIELDS, user: true, role: true };

/**
 * The policy document for this account and region: the account comes from STS
 * (`GetCallerIdentity`, which needs no permission), the ECS names from the setup's stack.
 */
export async function resolvePolicy(options: ResolvePolicyOptions): Promise<ResolvedPolicy> {
  refuseUnknownFields(options, RESOLVE_FIELDS, 'the policy options', invalidOption);
  if (options.kind !== 'provision' && options.kind !== 'ecs')
    throw invalidOption('kind', 'must be provision or ecs');
  const aws: AwsOptions = {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
  const clients = new AwsClients(aws);
  try {
    const identity = await call('asking STS for the account', () =>
      clients.sts.send(new GetCallerIdentityCommand({})),
    );
    const account = identity.Account ?? '';
    const partition = identity.Arn?.split(':')[1] ?? 'aws';
    const region = await clients.region();
    if (options.kind === 'provision') {
      return { name: 'dde-provision', document: provisioningPolicy({ account, region, partition }) };
    }
    const setupName = validateName(options.setup, 'setup');
    const setup = await describeEcsSetup({ ...aws, name: setupName });
    if (setup.settings === undefined) {
      throw invalidOption(
        'setup',
        `${setupName} is ${setup.status}, not complete: its roles are not known yet`,
      );
    }
    return {
      name: `dde-ecs-${setupName}`,
      document: ecsRuntimePolicy({
        account,
        region,
        partition,
        cluster: setup.settings.cluster,
        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
        executionRoleArn: setup.settings.executionRoleArn,
        ...(setup.settings.taskRoleArn === undefined ? {} : { taskRoleArn: setup.settings.taskRoleArn }),
        logGroup: setup.settings.logGroup,
      }),
    };
  } finally {
    clients.close();
  }
}

/**
 * Creates the customer-managed policy (path `/dde/`, tagged), or makes the current document its
 * new default version when it exists (dropping the oldest version at IAM's limit of five), and
 * attaches it to the user or role. Returns the policy's ARN. Needs IAM rights an administrator has.
 */
export async function attachPolicy(options: AttachPolicyOptions): Promise<string> {
  refuseUnknownFields(options, ATTACH_FIELDS, 'the policy attach options', invalidOption);
  const { user, role, ...resolveOptions } = options;
  if ((user === undefined) === (role === undefined))
    throw invalidOption('user', 'or role must be given, not both');
  const principal = user ?? role ?? '';
  if (!/^[\w+=,.@-]{1,64}$/.test(principal)) {
    throw invalidOption(user === undefined ? 'role' : 'user', 'must be an IAM user or role name');
  }
  const policy = await resolvePolicy(resolveOptions);
  const clients = new AwsClients(options);
  try {
    const identity = await call('asking STS for the account', () =>
      clients.sts.send(new GetCallerIdentityCommand({})),
    );
    const partition = identity.Arn?.split(':')[1] ?? 'aws';
    const arn = `arn:${partition}:iam::${identity.Account}:policy/dde/${policy.name}`;
    const document = JSON.stringify(policy.document);
    try {
      await clients.iam.send(
        new CreatePolicyCommand({
          PolicyName: policy.name,
          Path: '/dde/',
          PolicyDocument: document,
          Description: `dde: ${options.kind === 'provision' ? 'run dde-aws' : `run @dde/backend-ecs on ${policy.name.slice(8)}`}`,
          Tags: [{ Key: MANAGED_TAG, Value: 'true' }],
        }),
      );
    } catch (error) {
      if (awsError(error, 'creating the policy').code !== 'CONFLICT') throw error;
      const versions = await call(`listing versions of ${arn}`, () =>
        clients.iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn })),
      );
      const old = (versions.Versions ?? []).filter((version) => !version.IsDefaultVersion);
      if ((versions.Versions ?? []).length >= 5 && old.length > 0) {
        const oldest = old.sort((a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0))[0];
        await call(`deleting the oldest version of ${arn}`, () =>
          clients.iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: oldest?.VersionId })),
        );
      }
      await call(`updating ${arn}`, () =>
        clients.iam.send(
          new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: document, SetAsDefault: true }),
        ),
      );
    }
    await call(`attaching ${arn} to ${principal}`, () =>
      user === undefined
        ? clients.iam.send(new AttachRolePolicyCommand({ RoleName: principal, PolicyArn: arn }))
        : clients.iam.send(new AttachUserPolicyCommand({ UserName: principal, PolicyArn: arn })),
    );
    return arn;
  } catch (error) {
    throw awsError(error, `attaching policy ${policy.name}`);
  } finally {
    clients.close();
  }
}
