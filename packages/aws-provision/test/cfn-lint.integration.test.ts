import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecsRuntimePolicy, type PolicyDocument, provisioningPolicy } from '../src/policies.ts';
import { toolAvailable } from './tools.ts';

const TEMPLATES = fileURLToPath(new URL('../templates/', import.meta.url));

const provision = provisioningPolicy({ account: '123456789012', region: 'eu-west-1' });
const runtime = ecsRuntimePolicy({
  account: '123456789012',
  region: 'eu-west-1',
  cluster: 'dde-lab',
  namespace: 'genomics',
  executionRoleArn: 'arn:aws:iam::123456789012:role/dde-ecs-lab-ExecutionRole-ABC',
  taskRoleArn: 'arn:aws:iam::123456789012:role/dde-ecs-lab-TaskRole-DEF',
  logGroup: '/dde/lab',
});

/** A policy as the one resource of a template, so that cfn-lint checks its actions, ARNs and conditions. */
function policyTemplate(document: PolicyDocument): string {
  return JSON.stringify({
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: { Policy: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: document } } },
  });
}

describe.runIf(toolAvailable('cfn-lint'))('cfn-lint', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dde-aws-lint-'));
    await writeFile(join(dir, 'provision-policy.json'), policyTemplate(provision));
    await writeFile(join(dir, 'ecs-runtime-policy.json'), policyTemplate(runtime));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds nothing, informational checks included, in both templates and both policies', async () => {
    // A control in the same run proves the policies are really checked: cfn-lint knows every
    // IAM action (W3037), so a misspelt one must be reported, and only there.
    const control = join(dir, 'control-policy.json');
    await writeFile(
      control,
      policyTemplate({
        ...runtime,
        Statement: [{ Sid: 'Misspelt', Effect: 'Allow', Action: ['ecs:RunTasks'], Resource: ['*'] }],
      }),
    );
    // One cfn-lint process for all the files: its start-up costs seconds.
    const files = [
      join(TEMPLATES, 'docker-host.yaml'),
      join(TEMPLATES, 'ecs.yaml'),
      join(dir, 'provision-policy.json'),
      join(dir, 'ecs-runtime-policy.json'),
      control,
    ];
    const result = await promisify(execFile)(
      'cfn-lint',
      ['--format', 'json', '--include-checks', 'I', '--regions', 'eu-west-1', 'us-east-1', '--', ...files],
      { timeout: 120_000 },
    ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const findings = JSON.parse(result.stdout || '[]') as Array<{
      Rule: { Id: string };
      Message: string;
      Filename: string;
    }>;
    expect(
      findings
        .filter((finding) => finding.Filename !== control)
        .map((f) => `${f.Filename}: ${f.Rule.Id} ${f.Message}`),
    ).toEqual([]);
    expect(findings.map((finding) => [finding.Filename, finding.Rule.Id])).toEqual([[control, 'W3037']]);
  });
});

describe('the policies', () => {
  it('fit a customer-managed policy (6,144 characters without whitespace)', () => {
    for (const document of [provision, runtime]) {
      expect(JSON.stringify(document).replace(/\s/g, '').length).toBeLessThan(6144);
    }
  });

  it('grant "*" only to calls IAM cannot narrow', () => {
    const starred = (document: PolicyDocument) =>
      document.Statement.filter((statement) => statement.Resource.includes('*')).flatMap(
        (statement) => statement.Action,
      );
    expect(starred(provision).every((action) => /^(ec2|logs):Describe/.test(action))).toBe(true);
    expect(starred(runtime).sort()).toEqual([
      'ec2:DescribeInstances',
      'ec2:DescribeNetworkInterfaces',
      'ecs:DeregisterTaskDefinition',
      'ecs:DescribeTaskDefinition',
      'ecs:RegisterTaskDefinition',
    ]);
  });

  it('limit RunTask to the namespace family on the cluster, and PassRole to ECS tasks for the two roles', () => {
    const statement = (sid: string) => runtime.Statement.find((entry) => entry.Sid === sid);
    expect(statement('RunNamespaceTasksOnCluster')).toEqual({
      Sid: 'RunNamespaceTasksOnCluster',
      Effect: 'Allow',
      Action: ['ecs:RunTask'],
      Resource: ['arn:aws:ecs:eu-west-1:123456789012:task-definition/dde-genomics-*:*'],
      Condition: { ArnEquals: { 'ecs:cluster': 'arn:aws:ecs:eu-west-1:123456789012:cluster/dde-lab' } },
    });
    expect(statement('TagOnCreateOnly')?.Condition).toEqual({
      StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'] },
    });
    expect(statement('PassSetupRolesToEcsTasksOnly')).toMatchObject({
      Resource: [
        'arn:aws:iam::123456789012:role/dde-ecs-lab-ExecutionRole-ABC',
        'arn:aws:iam::123456789012:role/dde-ecs-lab-TaskRole-DEF',
      ],
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    const passRole = provision.Statement.filter((entry) => entry.Action.includes('iam:PassRole'));
    expect(passRole).toEqual([
      expect.objectContaining({
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    ]);
  });

  it('refuse a bad account, a cluster ARN, a non-role ARN and unknown fields', () => {
    const base = {
      account: '123456789012',
      region: 'eu-west-1',
      cluster: 'dde-lab',
      executionRoleArn: 'arn:aws:iam::123456789012:role/x',
      logGroup: '/dde/lab',
    };
    expect(() => provisioningPolicy({ account: '1234' })).toThrow(
      expect.objectContaining({ field: 'account' }),
    );
    expect(() =>
      ecsRuntimePolicy({ ...base, cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/x' }),
    ).toThrow(expect.objectContaining({ field: 'cluster' }));
    expect(() => ecsRuntimePolicy({ ...base, taskRoleArn: 'arn:aws:iam::123456789012:user/x' })).toThrow(
      expect.objectContaining({ field: 'taskRoleArn' }),
    );
    expect(() => provisioningPolicy({ account: '123456789012', regoin: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', field: 'regoin' }),
    );
  });
});
