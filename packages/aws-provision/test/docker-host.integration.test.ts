import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { isDdeError } from '@dde/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AwsClients } from '../src/aws.ts';
import { createDockerHost, deleteDockerHost, describeDockerHost } from '../src/docker-host.ts';
import type { StackProgress } from '../src/stacks.ts';
import { MOTO_AWS } from './tools.ts';

describe.runIf(inject('motoEndpoint') !== '')('a Docker host stack against moto_server', () => {
  const moto = { endpoint: inject('motoEndpoint') };
  let stateDir: string;
  let clients: AwsClients;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'dde-aws-host-'));
    clients = new AwsClients({ ...MOTO_AWS, endpoint: moto.endpoint });
  });
  afterAll(async () => {
    // A failed assertion must not leave a stack behind in a moto that is about to stop anyway,
    // but the deletes also prove deleteDockerHost is idempotent.
    for (const name of ['alpha', 'beta', 'gamma']) await deleteDockerHost({ ...aws(), name }).catch(() => {});
    clients?.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  const aws = () => ({ ...MOTO_AWS, endpoint: moto.endpoint, stateDir });

  it('creates a host reachable only over mutual TLS from one CIDR, and deletes every trace of it', async () => {
    const events: StackProgress[] = [];
    const host = await createDockerHost({
      ...aws(),
      name: 'alpha',
      allowedCidr: '203.0.113.7/32',
      tags: { team: 'genomics' },
      pollIntervalMs: 50,
      onProgress: (event) => events.push(event),
    });
    expect(host.status).toBe('CREATE_COMPLETE');
    expect(host.dockerHost).toMatch(/^tcp:\/\/\d+\.\d+\.\d+\.\d+:2376$/);
    expect(host.env).toEqual({
      DOCKER_HOST: host.dockerHost,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: join(stateDir, 'hosts', 'alpha'),
    });
    // Progress: the stack events (moto reports the stack's own, not its resources'), oldest first.
    expect(events.map((event) => [event.logicalId, event.status])).toEqual([
      ['dde-host-alpha', 'CREATE_IN_PROGRESS'],
      ['dde-host-alpha', 'CREATE_COMPLETE'],
    ]);

    // The client certificates name the Elastic IP and sit where DOCKER_CERT_PATH points.
    const address = host.dockerHost?.slice('tcp://'.length, -':2376'.length) ?? '';
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) {
      expect((await stat(join(stateDir, 'hosts', 'alpha', file))).mode & 0o777).toBe(0o600);
    }
    const clientCert = new X509Certificate(await readFile(join(stateDir, 'hosts', 'alpha', 'cert.pem')));
    const ca = new X509Certificate(await readFile(join(stateDir, 'hosts', 'alpha', 'ca.pem')));
    expect(clientCert.verify(ca.publicKey)).toBe(true);

    // The server side is in Parameter Store as SecureStrings, and the server certificate names the address.
    const parameters = await clients.ssm.send(
      new GetParametersByPathCommand({ Path: '/dde/hosts/alpha', WithDecryption: true }),
    );
    expect(parameters.Parameters?.map((p) => [p.Name, p.Type]).sort()).toEqual([
      ['/dde/hosts/alpha/ca', 'SecureString'],
      ['/dde/hosts/alpha/server-cert', 'SecureString'],
      ['/dde/hosts/alpha/server-key', 'SecureString'],
    ]);
    const serverCert = await clients.ssm.send(
      new GetParameterCommand({ Name: '/dde/hosts/alpha/server-cert', WithDecryption: true }),
    );
    expect(new X509Certificate(serverCert.Parameter?.Value ?? '').checkIP(address)).toBe(address);

    // What moto reports about the resources.
    const resources = await clients.cloudFormation.send(
      new DescribeStackResourcesCommand({ StackName: 'dde-host-alpha' }),
    );
    const physical = (logicalId: string) =>
      resources.StackResources?.find((resource) => resource.LogicalResourceId === logicalId)
        ?.PhysicalResourceId ?? '';
    const groups = await clients.ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [physical('SecurityGroup')] }),
    );
    const ingress = groups.SecurityGroups?.[0]?.IpPermissions ?? [];
    expect(
      ingress.map((rule) => [
        rule.IpProtocol,
        rule.FromPort,
        rule.ToPort,
        rule.IpRanges?.map((r) => r.CidrIp),
      ]),
    ).toEqual([
      ['tcp', 2376, 2376, ['203.0.113.7/32']],
      ['tcp', 32768, 60999, ['203.0.113.7/32']],
    ]);
    expect(JSON.stringify(ingress)).not.toContain('0.0.0.0/0');
    expect(ingress.some((rule) => rule.FromPort === 22 || rule.FromPort === 2375)).toBe(false);

    const template = await clients.ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: physical('LaunchTemplate') }),
    );
    expect(template.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.MetadataOptions).toMatchObject({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
    });
    const instanceId = physical('Instance');
    expect(host.instanceId).toBe(instanceId);
    const instances = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = instances.Reservations?.[0]?.Instances?.[0];
    expect(instance?.KeyName).toBeUndefined();
    const volumes = await clients.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
    );
    expect(volumes.Volumes?.length).toBeGreaterThan(0);
    for (const volume of volumes.Volumes ?? []) expect(volume.Encrypted).toBe(true);
    // No private key in user data.
    const userData = JSON.stringify(template.LaunchTemplateVersions) + JSON.stringify(instance);
    expect(userData).not.toContain('PRIVATE KEY');

    const addresses = await clients.ec2.send(new DescribeAddressesCommand({ PublicIps: [address] }));
    expect(addresses.Addresses?.[0]?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'dde:managed', Value: 'true' },
        { Key: 'dde:name', Value: 'alpha' },
        { Key: 'team', Value: 'genomics' },
      ]),
    );

    expect(await describeDockerHost(aws() as never).catch((error: unknown) => error)).toMatchObject({
      code: 'INVALID_OPTION',
    });
    const described = await describeDockerHost({ ...aws(), name: 'alpha' });
    expect(described.env).toEqual(host.env);

    // A second create of the same name is refused without touching the first.
    const again = await createDockerHost({ ...aws(), name: 'alpha', allowedCidr: '203.0.113.7/32' }).catch(
      (error: unknown) => error,
    );
    expect(again).toMatchObject({ code: 'CONFLICT' });
    expect((await describeDockerHost({ ...aws(), name: 'alpha' })).certificatesPresent).toBe(true);

    const deleted = await deleteDockerHost({ ...aws(), name: 'alpha', pollIntervalMs: 50 });
    expect(deleted).toEqual({
      stackDeleted: true,
      parametersDeleted: expect.arrayContaining([
        '/dde/hosts/alpha/ca',
        '/dde/hosts/alpha/server-cert',
        '/dde/hosts/alpha/server-key',
      ]),
      addressesReleased: [address],
      certificatesRemoved: true,
    });
    const gone = await describeDockerHost({ ...aws(), name: 'alpha' }).catch((error: unknown) => error);
    expect(isDdeError(gone) && gone.code).toBe('NOT_FOUND');
    const left = await clients.ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'tag:dde:name', Values: ['alpha'] }] }),
    );
    expect(left.Addresses).toEqual([]);
    // Deleting again finds nothing left to remove.
    expect(await deleteDockerHost({ ...aws(), name: 'alpha' })).toEqual({
      stackDeleted: false,
      parametersDeleted: [],
      addressesReleased: [],
      certificatesRemoved: false,
    });
  });

  it('refuses the whole internet and unknown fields before creating anything', async () => {
    for (const [options, field] of [
      [{ name: 'beta', allowedCidr: '0.0.0.0/0' }, 'allowedCidr'],
      [{ name: 'beta', allowedCidr: '203.0.113.7/32', instanceTyp: 't3.small' }, 'instanceTyp'],
      [{ name: 'Beta', allowedCidr: '203.0.113.7/32' }, 'name'],
      [
        { name: 'beta', allowedCidr: '203.0.113.7/32', publishedPorts: { from: 80, to: 90 } },
        'publishedPorts',
      ],
    ] as const) {
      const failure = await createDockerHost({ ...aws(), ...options } as never).catch(
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'INVALID_OPTION', field });
    }
    const beta = await clients.ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'tag:dde:name', Values: ['beta'] }] }),
    );
    expect(beta.Addresses).toEqual([]);
  });

  it('removes everything it made when aborted during creation, and says so', async () => {
    const controller = new AbortController();
    const failure = await createDockerHost({
      ...aws(),
      name: 'gamma',
      allowedCidr: '198.51.100.0/24',
      pollIntervalMs: 50,
      signal: controller.signal,
      // Abort at the first stack event: the stack exists, the address and parameters too.
      onProgress: () => controller.abort(),
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'ABORTED' });
    expect(
      await describeDockerHost({ ...aws(), name: 'gamma' }).catch((error: unknown) => error),
    ).toMatchObject({
      code: 'NOT_FOUND',
    });
    const addresses = await clients.ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'tag:dde:name', Values: ['gamma'] }] }),
    );
    expect(addresses.Addresses).toEqual([]);
    const parameters = await clients.ssm.send(new GetParametersByPathCommand({ Path: '/dde/hosts/gamma' }));
    expect(parameters.Parameters).toEqual([]);
    await expect(stat(join(stateDir, 'hosts', 'gamma'))).rejects.toThrow();
  });
});
