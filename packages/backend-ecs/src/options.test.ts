import { describe, expect, it } from 'vitest';
import type { EcsBackendOptions } from './options.ts';
import { DEFAULT_INPUT_WRITER_IMAGE, validateOptions } from './options.ts';

const FARGATE: EcsBackendOptions = {
  cluster: 'tools',
  subnets: ['subnet-0123abcd'],
  securityGroups: ['sg-0123abcd'],
};

function refusal(options: unknown): { code?: string; field?: string; message?: string } {
  try {
    validateOptions(options as EcsBackendOptions);
  } catch (error) {
    return error as { code: string; field: string; message: string };
  }
  throw new Error('accepted');
}

describe('validateOptions', () => {
  it('applies defaults', () => {
    expect(validateOptions(FARGATE)).toMatchObject({
      cluster: 'tools',
      namespace: 'default',
      launchType: 'FARGATE',
      networkMode: 'awsvpc',
      assignPublicIp: false,
      upstreamAddress: 'private',
      logStreamPrefix: 'dde',
      inputWriterImage: DEFAULT_INPUT_WRITER_IMAGE,
      releaseTaskDefinitions: 'on-close',
      missingGraceMs: 30_000,
      pollIntervalMs: 10_000,
      exitedTaskRetentionMs: 600_000,
      runTaskRate: 20,
      maxAttempts: 5,
    });
  });

  it('accepts EC2 with bridge networking and a cluster ARN', () => {
    expect(
      validateOptions({
        cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/tools',
        launchType: 'EC2',
        networkMode: 'bridge',
        region: 'eu-west-1',
      }),
    ).toMatchObject({ launchType: 'EC2', networkMode: 'bridge', subnets: [] });
  });

  it.each([
    [{ ...FARGATE, subnet: ['subnet-1'] }, 'subnet', /not an option of EcsBackend/],
    [{ subnets: ['subnet-1'] }, 'cluster', /cluster name or ARN/],
    [{ ...FARGATE, cluster: 'has space' }, 'cluster', /cluster name or ARN/],
    [{ ...FARGATE, namespace: 'Upper' }, 'namespace', /lowercase/],
    [{ cluster: 'tools' }, 'subnets', /at least one subnet/],
    [{ ...FARGATE, subnets: ['vpc-1'] }, 'subnets[0]', /subnet-/],
    [{ ...FARGATE, securityGroups: 'sg-1' }, 'securityGroups', /array/],
    [{ ...FARGATE, networkMode: 'bridge' }, 'networkMode', /awsvpc on Fargate/],
    [
      { cluster: 'c', launchType: 'EC2', networkMode: 'bridge', subnets: ['subnet-1'] },
      'subnets',
      /awsvpc tasks only/,
    ],
    [{ ...FARGATE, launchType: 'EXTERNAL' }, 'launchType', /FARGATE, EC2/],
    [{ ...FARGATE, upstreamAddress: 'public' }, 'upstreamAddress', /assignPublicIp/],
    [{ ...FARGATE, logGroup: '/dde/tools' }, 'executionRoleArn', /required with logGroup/],
    [{ ...FARGATE, executionRoleArn: 'role/x' }, 'executionRoleArn', /IAM role ARN/],
    [{ ...FARGATE, region: 'Europe' }, 'region', /AWS region/],
    [{ ...FARGATE, endpoint: 'localhost:4566' }, 'endpoint', /http\(s\) URL/],
    [{ ...FARGATE, credentials: { accessKeyId: 'a' } }, 'credentials', /secretAccessKey/],
    [{ ...FARGATE, releaseTaskDefinitions: 'always' }, 'releaseTaskDefinitions', /when-unused/],
    [{ ...FARGATE, runTaskRate: 0 }, 'runTaskRate', /at least 1/],
    [{ ...FARGATE, exitedTaskRetentionMs: -1 }, 'exitedTaskRetentionMs', /at least 0/],
    [{ ...FARGATE, exitedTaskRetentionMs: 7_200_000 }, 'exitedTaskRetentionMs', /about an hour/],
    [{ ...FARGATE, ecs: {} }, 'ecs', /AWS SDK v3 client/],
    [
      { cluster: 'c', launchType: 'EC2', networkMode: 'bridge', platformVersion: '1.4.0' },
      'platformVersion',
      /Fargate/,
    ],
  ])('refuses %o naming %s', (options, field, message) => {
    const error = refusal(options);
    expect(error).toMatchObject({ code: 'INVALID_OPTION', field });
    expect(error.message).toMatch(message);
  });

  it('refuses a non-object', () => {
    expect(refusal(undefined)).toMatchObject({ code: 'INVALID_OPTION', field: 'options' });
  });
});
