import { type FieldList, invalidOption, refuseUnknownFields } from '@dde/core';
import { MANAGED_TAG, STACK_PREFIX } from './tags.ts';

/** One IAM policy statement. */
export interface PolicyStatement {
  /** A statement id. */
  readonly Sid: string;
  /** Always `Allow`: dde's policies grant, they never carve exceptions. */
  readonly Effect: 'Allow';
  /** The actions. */
  readonly Action: readonly string[];
  /** The resources (ARNs, patterns). */
  readonly Resource: readonly string[];
  /** Conditions, as IAM writes them. */
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** An IAM policy document. */
export interface PolicyDocument {
  /** The policy language version. */
  readonly Version: '2012-10-17';
  /** The statements. */
  readonly Statement: readonly PolicyStatement[];
}

/** Options of {@link provisioningPolicy}. */
export interface ProvisioningPolicyOptions {
  /** The AWS account id (12 digits). */
  readonly account: string;
  /** The region the stacks live in; `*` for any. Default `*`. */
  readonly region?: string;
  /** The partition (`aws`, `aws-cn`, `aws-us-gov`). Default `aws`. */
  readonly partition?: string;
}

/** Options of {@link ecsRuntimePolicy}. */
export interface EcsRuntimePolicyOptions {
  /** The AWS account id (12 digits). */
  readonly account: string;
  /** The cluster's region. */
  readonly region: string;
  /** The partition. Default `aws`. */
  readonly partition?: string;
  /** The cluster's name (`dde-<setup>`). */
  readonly cluster: string;
  /** The EcsBackend namespace: task definition families are `dde-<namespace>-*`. Default `default`. */
  readonly namespace?: string;
  /** The task execution role's ARN. */
  readonly executionRoleArn: string;
  /** The task role's ARN, when the setup has one. */
  readonly taskRoleArn?: string;
  /** The log group the tools log to. */
  readonly logGroup: string;
}

const PROVISIONING_FIELDS: FieldList<ProvisioningPolicyOptions> = {
  account: true,
  region: true,
  partition: true,
};
const RUNTIME_FIELDS: FieldList<EcsRuntimePolicyOptions> = {
  account: true,
  region: true,
  partition: true,
  cluster: true,
  namespace: true,
  executionRoleArn: true,
  taskRoleArn: true,
  logGroup: true,
};

const TAGGED_REQUEST = { StringEquals: { [`aws:RequestTag/${MANAGED_TAG}`]: 'true' } } as const;
const TAGGED_RESOURCE = { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' } } as const;

/**
 * The customer-managed policy a user needs to run `dde-aws host` and `dde-aws ecs`: CloudFormation
 * on stacks named `dde-*` only; EC2, IAM, ECS and CloudWatch Logs resources created only with the
 * `dde:managed` tag and changed or deleted only when they carry it; roles and instance profiles
 * named `dde-*` only; `iam:PassRole` only to EC2 for the Docker host's role; SSM parameters
 * under `/dde/` only. Describe calls, which IAM cannot narrow, are the only `*` resources.
 */
export function provisioningPolicy(options: ProvisioningPolicyOptions): PolicyDocument {
  refuseUnknownFields(options, PROVISIONING_FIELDS, 'the provisioning policy options', invalidOption);
  const account = accountId(options.account);
  const region = options.region ?? '*';
  const arn = arnBuilder(options.partition ?? 'aws', region, account);
  const ec2 = (type: string) => arn('ec2', `${type}/*`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'CreateDdeStacks',
        Effect: 'Allow',
        Action: ['cloudformation:CreateStack', 'cloudformation:TagResource'],
        Resource: [arn('cloudformation', `stack/${STACK_PREFIX}*/*`)],
        Condition: TAGGED_REQUEST,
      },
      {
        Sid: 'ManageDdeStacks',
        Effect: 'Allow',
        Action: [
          'cloudformation:DeleteStack',
          'cloudformation:DescribeStackEvents',
          'cloudformation:DescribeStackResources',
          'cloudformation:DescribeStacks',
          'cloudformation:GetTemplate',
        ],
        Resource: [arn('cloudformation', `stack/${STACK_PREFIX}*/*`)],
      },
      {
        Sid: 'ReadEc2AndLogs',
        Effect: 'Allow',
        Action: [
          'ec2:DescribeAddresses',
          'ec2:DescribeImages',
          'ec2:DescribeInstances',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:DescribeLaunchTemplates',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSubnets',
          'ec2:DescribeVolumes',
          'ec2:DescribeVpcs',
          'logs:DescribeLogGroups',
        ],
        Resource: ['*'],
      },
      {
        Sid: 'ReadAmazonLinuxImageParameter',
        Effect: 'Allow',
        Action: ['ssm:GetParameters', 'ssm:GetParameter'],
        Resource: [
          `arn:${options.partition ?? 'aws'}:ssm:${region}::parameter/aws/service/ami-amazon-linux-latest/*`,
        ],
      },
      {
        Sid: 'CreateTaggedEc2Resources',
        Effect: 'Allow',
        Action: [
          'ec2:AllocateAddress',
          'ec2:CreateLaunchTemplate',
          'ec2:CreateSecurityGroup',
          'ec2:RunInstances',
        ],
        Resource: [
          ec2('elastic-ip'),
          ec2('launch-template'),
          ec2('security-group'),
          ec2('instance'),
          ec2('volume'),
        ],
        Condition: TAGGED_REQUEST,
      },
      {
        Sid: 'UseNetworkForNewResources',
        Effect: 'Allow',
        Action: ['ec2:CreateSecurityGroup', 'ec2:RunInstances'],
        Resource: [
          ec2('vpc'),
          ec2('subnet'),
          ec2('network-interface'),
          ec2('key-pair'),
          ec2('launch-template'),
          ec2('security-group'),
          arn('ec2', 'image/*', region, ''),
        ],
      },
      {
        Sid: 'TagOnCreateOnly',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: [ec2('*')],
        Condition: {
          StringEquals: {
            'ec2:CreateAction': [
              'AllocateAddress',
              'CreateLaunchTemplate',
              'CreateSecurityGroup',
              'RunInstances',
            ],
          },
        },
      },
      {
        Sid: 'ChangeTaggedEc2Resources',
        Effect: 'Allow',
        Action: [
          'ec2:AssociateAddress',
          'ec2:AuthorizeSecurityGroupEgress',
          'ec2:AuthorizeSecurityGroupIngress',
          'ec2:DeleteLaunchTemplate',
          'ec2:DeleteSecurityGroup',
          'ec2:DisassociateAddress',
          'ec2:ReleaseAddress',
          'ec2:RevokeSecurityGroupEgress',
          'ec2:RevokeSecurityGroupIngress',
          'ec2:TerminateInstances',
        ],
        Resource: [ec2('*')],
        Condition: TAGGED_RESOURCE,
      },
      {
        Sid: 'CreateTaggedRoles',
        Effect: 'Allow',
        Action: ['iam:CreateRole', 'iam:TagRole'],
        Resource: [arn('iam', `role/${STACK_PREFIX}*`, '')],
        Condition: TAGGED_REQUEST,
      },
      {
        Sid: 'ManageDdeRolesAndProfiles',
        Effect: 'Allow',
        Action: [
          'iam:AddRoleToInstanceProfile',
          'iam:CreateInstanceProfile',
          'iam:DeleteInstanceProfile',
          'iam:DeleteRole',
          'iam:DeleteRolePolicy',
          'iam:GetInstanceProfile',
          'iam:GetRole',
          'iam:GetRolePolicy',
          'iam:PutRolePolicy',
          'iam:RemoveRoleFromInstanceProfile',
        ],
        Resource: [
          arn('iam', `role/${STACK_PREFIX}*`, ''),
          arn('iam', `instance-profile/${STACK_PREFIX}*`, ''),
        ],
      },
      {
        Sid: 'PassHostRoleToEc2Only',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: [arn('iam', `role/${STACK_PREFIX}host-*`, '')],
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
      {
        Sid: 'DdeTlsParameters',
        Effect: 'Allow',
        Action: ['ssm:AddTagsToResource', 'ssm:DeleteParameter', 'ssm:DeleteParameters', 'ssm:PutParameter'],
        Resource: [arn('ssm', 'parameter/dde/*')],
      },
      {
        Sid: 'CreateTaggedClusters',
        Effect: 'Allow',
        Action: ['ecs:CreateCluster', 'ecs:TagResource'],
        Resource: [arn('ecs', `cluster/${STACK_PREFIX}*`)],
        Condition: TAGGED_REQUEST,
      },
      {
        Sid: 'ManageDdeClusters',
        Effect: 'Allow',
        Action: ['ecs:DeleteCluster', 'ecs:DescribeClusters'],
        Resource: [arn('ecs', `cluster/${STACK_PREFIX}*`)],
      },
      {
        Sid: 'DdeLogGroups',
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:PutRetentionPolicy', 'logs:TagResource'],
        Resource: [arn('logs', 'log-group:/dde/*')],
      },
    ],
  };
}

/**
 * The customer-managed policy the application running `@dde/backend-ecs` needs: RunTask only for
 * task definitions of its namespace's family prefix and only on its cluster, tags only on the
 * tasks and task definitions it creates (`ecs:CreateAction`), task reads and stops only on its
 * cluster, its log group's events, and `iam:PassRole` of the setup's two roles to
 * `ecs-tasks.amazonaws.com` only.
 */
export function ecsRuntimePolicy(options: EcsRuntimePolicyOptions): PolicyDocument {
  refuseUnknownFields(options, RUNTIME_FIELDS, 'the ECS runtime policy options', invalidOption);
  const account = accountId(options.account);
  const arn = arnBuilder(options.partition ?? 'aws', options.region, account);
  const cluster = options.cluster;
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(cluster)) {
    throw invalidOption(
      'cluster',
      'must be a cluster name (letters, digits, hyphens, underscores), not an ARN',
    );
  }
  const namespace = options.namespace ?? 'default';
  const clusterArn = arn('ecs', `cluster/${cluster}`);
  const onCluster = { ArnEquals: { 'ecs:cluster': clusterArn } };
  const families = arn('ecs', `task-definition/${STACK_PREFIX}${namespace}-*:*`);
  const roles = [
    options.executionRoleArn,
    ...(options.taskRoleArn === undefined ? [] : [options.taskRoleArn]),
  ];
  for (const [index, role] of roles.entries()) {
    if (!/^arn:[a-z-]+:iam::\d{12}:role\/.+$/.test(role)) {
      throw invalidOption(
        index === 0 ? 'executionRoleArn' : 'taskRoleArn',
        `"${role}" is not an IAM role ARN`,
      );
    }
  }
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RunNamespaceTasksOnCluster',
        Effect: 'Allow',
        Action: ['ecs:RunTask'],
        Resource: [families],
        Condition: onCluster,
      },
      {
        Sid: 'TagOnCreateOnly',
        Effect: 'Allow',
        Action: ['ecs:TagResource'],
        Resource: [arn('ecs', `task/${cluster}/*`), families],
        Condition: { StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'] } },
      },
      {
        Sid: 'ReadAndStopClusterTasks',
        Effect: 'Allow',
        Action: ['ecs:DescribeTasks', 'ecs:StopTask'],
        Resource: [arn('ecs', `task/${cluster}/*`)],
        Condition: onCluster,
      },
      {
        Sid: 'ListClusterTasks',
        Effect: 'Allow',
        Action: ['ecs:DescribeContainerInstances', 'ecs:ListTasks'],
        Resource: [arn('ecs', `container-instance/${cluster}/*`)],
        Condition: onCluster,
      },
      {
        Sid: 'DeleteNamespaceTaskDefinitions',
        Effect: 'Allow',
        Action: ['ecs:DeleteTaskDefinitions'],
        Resource: [families],
      },
      {
        // IAM cannot narrow these three to a resource.
        Sid: 'TaskDefinitionsAndAddresses',
        Effect: 'Allow',
        Action: [
          'ec2:DescribeInstances',
          'ec2:DescribeNetworkInterfaces',
          'ecs:DeregisterTaskDefinition',
          'ecs:DescribeTaskDefinition',
          'ecs:RegisterTaskDefinition',
        ],
        Resource: ['*'],
      },
      {
        Sid: 'ReadToolLogs',
        Effect: 'Allow',
        Action: ['logs:GetLogEvents'],
        Resource: [arn('logs', `log-group:${options.logGroup}:log-stream:*`)],
      },
      {
        Sid: 'PassSetupRolesToEcsTasksOnly',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: roles,
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      },
    ],
  };
}

function accountId(account: unknown): string {
  if (typeof account !== 'string' || !/^\d{12}$/.test(account)) {
    throw invalidOption('account', 'must be a 12-digit AWS account id');
  }
  return account;
}

/** ARNs of one partition, region and account; `region` and `account` overridable (IAM has neither region). */
function arnBuilder(partition: string, region: string, account: string) {
  return (
    service: string,
    resource: string,
    inRegion: string = region,
    ofAccount: string = account,
  ): string => `arn:${partition}:${service}:${inRegion}:${ofAccount}:${resource}`;
}
