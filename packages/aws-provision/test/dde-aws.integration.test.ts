import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect, promisify } from 'node:util';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateUserCommand,
  GetPolicyVersionCommand,
  ListAttachedUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { AwsClients } from '../src/aws.ts';
import { main } from '../src/cli/main.ts';
import { provisioningPolicy } from '../src/policies.ts';
import { MOTO_AWS } from './tools.ts';

const BIN = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));
// Inside the package so that the example's `@dde/aws-provision` import resolves; gitignored.
const EXAMPLE = fileURLToPath(new URL(`../.readme-example-aws-${process.pid}.ts`, import.meta.url));

describe.runIf(inject('motoEndpoint') !== '')('dde-aws against moto_server', () => {
  const moto = { endpoint: inject('motoEndpoint') };
  let stateDir: string;
  let clients: AwsClients;
  const saved = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: MOTO_AWS.region,
    });
    stateDir = await mkdtemp(join(tmpdir(), 'dde-aws-cli-'));
    clients = new AwsClients({ ...MOTO_AWS, endpoint: moto.endpoint });
  });
  afterAll(async () => {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    clients?.close();
    await rm(stateDir, { recursive: true, force: true });
    await rm(EXAMPLE, { force: true });
  });

  /** Runs the command in this process (the SDK reads moto's dummy credentials from the environment). */
  async function ddeAws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main([...args, '--endpoint', moto.endpoint, '--poll-interval', '50'], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { DDE_AWS_STATE_DIR: stateDir },
    });
    return { code, stdout, stderr };
  }

  /** Runs the real command in a child process, as a user would. */
  async function ddeAwsBin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return promisify(execFile)(
      process.execPath,
      ['--conditions=dev-source', BIN, ...args, '--endpoint', moto.endpoint, '--poll-interval', '50'],
      {
        env: {
          ...process.env,
          AWS_REGION: MOTO_AWS.region,
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
          DDE_AWS_STATE_DIR: stateDir,
        },
        timeout: 60_000,
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );
  }

  it('host create prints the export line after plain progress lines; status, env and delete follow', async () => {
    const created = await ddeAwsBin(
      'host',
      'create',
      'lab',
      '--allow',
      '192.0.2.10/32',
      '--tag',
      'team=genomics',
    );
    expect(created.stderr).toMatch(
      /^\S+Z dde-host-lab AWS::CloudFormation::Stack CREATE_IN_PROGRESS(: User Initiated)?$/m,
    );
    expect(created.stderr).toMatch(/^\S+Z dde-host-lab AWS::CloudFormation::Stack CREATE_COMPLETE$/m);
    expect(created.code).toBe(0);
    const certPath = join(stateDir, 'hosts', 'lab');
    expect(created.stdout).toMatch(
      new RegExp(
        `^export DOCKER_HOST=tcp://\\d+\\.\\d+\\.\\d+\\.\\d+:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${certPath}\\n$`,
      ),
    );
    expect(await readFile(join(certPath, 'key.pem'), 'utf8')).toContain('BEGIN PRIVATE KEY');

    const stacks = await clients.cloudFormation.send(
      new DescribeStacksCommand({ StackName: 'dde-host-lab' }),
    );
    expect(stacks.Stacks?.[0]?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'dde:managed', Value: 'true' },
        { Key: 'dde:kind', Value: 'docker-host' },
        { Key: 'dde:name', Value: 'lab' },
        { Key: 'team', Value: 'genomics' },
      ]),
    );

    const env = await ddeAws('host', 'env', 'lab');
    expect(env).toMatchObject({ code: 0, stdout: created.stdout });
    const status = await ddeAws('host', 'status', 'lab', '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({
      name: 'lab',
      status: 'CREATE_COMPLETE',
      certificatesPresent: true,
    });

    const deleted = await ddeAws('host', 'delete', 'lab');
    expect(deleted.code).toBe(0);
    expect(deleted.stderr).toContain(
      'removed: stack, 3 TLS parameter(s), 1 Elastic IP(s), local certificates',
    );
    expect(deleted.stderr).toMatch(/dde-host-lab AWS::CloudFormation::Stack DELETE_COMPLETE/);
    const after = await ddeAws('host', 'env', 'lab');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('NOT_FOUND: No Docker host lab');
  });

  it('ecs create prints the EcsBackend settings; the security group admits the proxy group only', async () => {
    const vpcs = await clients.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
    );
    const vpcId = vpcs.Vpcs?.[0]?.VpcId ?? '';
    const subnets = await clients.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
    );
    const subnetIds = (subnets.Subnets ?? []).slice(0, 2).map((subnet) => subnet.SubnetId ?? '');
    // The proxy's own security group, made here: other test files share this moto.
    const proxyGroup = (
      await clients.ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: 'dde-test-proxy',
          Description: 'the dde proxy',
          VpcId: vpcId,
        }),
      )
    ).GroupId;

    const created = await ddeAws(
      'ecs',
      'create',
      'lab',
      '--vpc',
      vpcId,
      '--subnets',
      subnetIds.join(','),
      '--proxy-sg',
      proxyGroup ?? '',
      '--ports',
      '8000-8999',
      '--log-retention',
      '30',
      '--task-role',
    );
    expect(created).toMatchObject({ code: 0, stderr: expect.stringMatching(/CREATE_COMPLETE/) });
    expect(created.stderr).toMatch(/dde-ecs-lab AWS::CloudFormation::Stack CREATE_COMPLETE/);
    const settings = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(settings).toMatchObject({
      cluster: 'dde-lab',
      region: 'eu-west-1',
      subnets: subnetIds,
      logGroup: '/dde/lab',
      executionRoleArn: expect.stringMatching(/^arn:aws:iam::123456789012:role\//),
      taskRoleArn: expect.stringMatching(/^arn:aws:iam::123456789012:role\//),
    });
    const groups = await clients.ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: settings.securityGroups as string[] }),
    );
    const ingress = groups.SecurityGroups?.[0]?.IpPermissions ?? [];
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8999, IpRanges: [] });
    expect(ingress[0]?.UserIdGroupPairs?.map((pair) => pair.GroupId)).toEqual([proxyGroup]);
    expect(await ddeAws('ecs', 'env', 'lab')).toMatchObject({ code: 0, stdout: created.stdout });

    // The runtime policy names this setup's cluster and roles; attaching it to a user works.
    const printed = await ddeAws('policy', 'print', 'ecs', '--setup', 'lab', '--namespace', 'genomics');
    expect(printed.code).toBe(0);
    const document = JSON.parse(printed.stdout) as { Statement: Array<{ Sid: string; Resource: string[] }> };
    expect(document.Statement.find((s) => s.Sid === 'RunNamespaceTasksOnCluster')?.Resource).toEqual([
      'arn:aws:ecs:eu-west-1:123456789012:task-definition/dde-genomics-*:*',
    ]);
    expect(document.Statement.find((s) => s.Sid === 'PassSetupRolesToEcsTasksOnly')?.Resource).toEqual([
      settings.executionRoleArn,
      settings.taskRoleArn,
    ]);
    await clients.iam.send(new CreateUserCommand({ UserName: 'proxy-app' }));
    const attached = await ddeAws('policy', 'attach', 'ecs', '--setup', 'lab', '--user', 'proxy-app');
    expect(attached).toMatchObject({ code: 0, stdout: 'arn:aws:iam::123456789012:policy/dde/dde-ecs-lab\n' });
    // Attaching again makes a new default version instead of failing.
    expect(await ddeAws('policy', 'attach', 'ecs', '--setup', 'lab', '--user', 'proxy-app')).toMatchObject({
      code: 0,
      stderr: '',
    });
    const policies = await clients.iam.send(new ListAttachedUserPoliciesCommand({ UserName: 'proxy-app' }));
    expect(policies.AttachedPolicies?.map((policy) => policy.PolicyName)).toEqual(['dde-ecs-lab']);
    const version = await clients.iam.send(
      new GetPolicyVersionCommand({
        PolicyArn: 'arn:aws:iam::123456789012:policy/dde/dde-ecs-lab',
        VersionId: 'v2',
      }),
    );
    expect(version.PolicyVersion?.IsDefaultVersion).toBe(true);

    const deleted = await ddeAws('ecs', 'delete', 'lab');
    expect(deleted).toMatchObject({ code: 0 });
    expect(deleted.stderr).toContain('removed stack dde-ecs-lab');
    expect((await ddeAws('ecs', 'env', 'lab')).code).toBe(1);
  });

  it('policy print provision names this account', async () => {
    const printed = await ddeAws('policy', 'print', 'provision');
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('arn:aws:cloudformation:eu-west-1:123456789012:stack/dde-*/*');
  });

  it('a create aborted by Ctrl-C exits 130 and leaves nothing behind', async () => {
    const errors: string[] = [];
    const code = await main(
      [
        'host',
        'create',
        'ctrlc',
        '--allow',
        '192.0.2.10/32',
        '--endpoint',
        moto.endpoint,
        '--poll-interval',
        '50',
      ],
      {
        stdout: { write: () => true },
        stderr: { write: (text: string) => errors.push(text) },
        env: { DDE_AWS_STATE_DIR: stateDir },
        signal: AbortSignal.abort(),
      },
    );
    expect(code).toBe(130);
    expect(errors.join('')).toContain('ABORTED');
    expect(await ddeAws('host', 'status', 'ctrlc')).toMatchObject({ code: 1 });
  });

  it('refuses usage mistakes with exit code 2 and the usage text', async () => {
    for (const args of [
      ['host', 'create', 'x'],
      ['host', 'frobnicate', 'x'],
      ['host', 'create', 'x', '--allow', 'a', '--bogus'],
    ]) {
      const result = await ddeAws(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('Usage: dde-aws');
    }
    const whole = await ddeAws('host', 'create', 'x', '--allow', '0.0.0.0/0');
    expect(whole.code).toBe(1);
    expect(whole.stderr).toContain('INVALID_OPTION: Invalid option: allowedCidr');
  });

  it('runs the README example as written, against moto through AWS_ENDPOINT_URL', async () => {
    const text = await readFile(README, 'utf8');
    const example = /<!-- readme-example aws -->\s*```ts\n([\s\S]*?)```/.exec(text)?.[1];
    expect(example).toContain("allowedCidr: '203.0.113.7/32'");
    await writeFile(EXAMPLE, example ?? '');
    // Run in this process (a child would spend seconds loading the SDK): the SDK takes the
    // endpoint from AWS_ENDPOINT_URL as it would from a user's profile, and the certificates go to
    // the HOME given here.
    const home = join(stateDir, 'readme-home');
    const printed: string[] = [];
    const saved = { HOME: process.env.HOME, AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL };
    const log = vi.spyOn(console, 'log').mockImplementation((...items: unknown[]) => {
      printed.push(items.map((item) => (typeof item === 'string' ? item : inspect(item))).join(' '));
    });
    const progress = vi.spyOn(console, 'error').mockImplementation(() => {});
    Object.assign(process.env, { HOME: home, AWS_ENDPOINT_URL: moto.endpoint });
    try {
      await import(/* @vite-ignore */ pathToFileURL(EXAMPLE).href);
    } finally {
      log.mockRestore();
      progress.mockRestore();
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    const [exported, status, ...deleted] = printed;
    expect(exported).toMatch(
      new RegExp(
        `^export DOCKER_HOST=tcp://[\\d.]+:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${home}/.dde/aws/hosts/lab$`,
      ),
    );
    expect(status).toBe('CREATE_COMPLETE');
    expect(deleted.join('\n')).toMatch(/stackDeleted: true[\s\S]*certificatesRemoved: true/);
  });

  it('shows in the README exactly the provisioning policy dde-aws prints', async () => {
    const text = await readFile(README, 'utf8');
    const shown = /<!-- provisioning-policy -->\s*```json\n([\s\S]*?)```/.exec(text)?.[1];
    expect(JSON.parse(shown ?? 'null')).toEqual(
      provisioningPolicy({ account: '123456789012', region: 'eu-west-1' }),
    );
  });
});
