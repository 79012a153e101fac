import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AllocateAddressCommand,
  DescribeAddressesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  ReleaseAddressCommand,
} from '@aws-sdk/client-ec2';
import { DeleteParametersCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { DdeError, type FieldList, invalidOption, isDdeError, refuseUnknownFields } from '@dde/core';
import { AWS_FIELDS, AwsClients, type AwsOptions, call, withClients } from './aws.ts';
import { writeClientCertificates } from './certificate-files.ts';
import { generateDockerTlsCertificates } from './certificates.ts';
import {
  defaultStateDir,
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
  type StackProgress,
  type StackWatchOptions,
  templateBody,
} from './stacks.ts';
import { KIND_TAG, NAME_TAG, stackNameOf, tagsOf } from './tags.ts';

/** Options every Docker host function takes. */
export interface DockerHostTarget extends AwsOptions {
  /** The host's dde name (the stack is `dde-host-<name>`). */
  readonly name: string;
  /** Where local state lives: client certificates go to `<stateDir>/hosts/<name>`. Default `~/.dde/aws`. */
  readonly stateDir?: string;
}

/** Options of {@link createDockerHost}. */
export interface CreateDockerHostOptions extends DockerHostTarget, StackWatchOptions {
  /**
   * The only network allowed to reach the Docker API and the published ports, as an IPv4 CIDR
   * (your address as `/32`). `0.0.0.0/0` is refused.
   */
  readonly allowedCidr: string;
  /** EC2 instance type. Default `t3.small`. */
  readonly instanceType?: string;
  /** Root volume size in GiB (encrypted gp3). Default 30. */
  readonly volumeSizeGb?: number;
  /** The VPC. Default: the region's default VPC. */
  readonly vpcId?: string;
  /** A public subnet. Default: a default subnet of the VPC. */
  readonly subnetId?: string;
  /** An EC2 key pair name to allow SSH (port 22, from `allowedCidr` only). Default: none, no SSH. */
  readonly keyName?: string;
  /** Host ports containers are published on, open to `allowedCidr`. Default 32768-60999. */
  readonly publishedPorts?: PortRange;
  /** Validity of the TLS certificates, in days. Default 365. */
  readonly certificateValidityDays?: number;
  /** Extra tags for everything created (`dde:managed`, `dde:kind`, `dde:name` are always set). */
  readonly tags?: Readonly<Record<string, string>>;
  /** The AMI's SSM parameter. Default Amazon Linux 2023, x86_64. */
  readonly imageParameter?: string;
  /** Aborting stops the wait and removes what was created. */
  readonly signal?: AbortSignal;
}

/** Options of {@link deleteDockerHost}. */
export interface DeleteDockerHostOptions extends DockerHostTarget, StackWatchOptions {}

/** The environment the docker CLI and `DockerBackend` read to reach the host. */
export interface DockerEnv {
  /** `tcp://<address>:2376`. */
  readonly DOCKER_HOST: string;
  /** Always `1`: the server certificate is verified. */
  readonly DOCKER_TLS_VERIFY: '1';
  /** The directory holding `ca.pem`, `cert.pem` and `key.pem`. */
  readonly DOCKER_CERT_PATH: string;
}

/** A Docker host, as {@link createDockerHost} and {@link describeDockerHost} report it. */
export interface DockerHost {
  /** Its dde name. */
  readonly name: string;
  /** Its stack. */
  readonly stackName: string;
  /** The stack's status (`CREATE_COMPLETE` once usable). */
  readonly status: string;
  /** The EC2 instance. */
  readonly instanceId: string | undefined;
  /** `tcp://<elastic ip>:2376`. */
  readonly dockerHost: string | undefined;
  /** The local directory with `ca.pem`, `cert.pem`, `key.pem`. */
  readonly certPath: string;
  /** Whether those files are there. */
  readonly certificatesPresent: boolean;
  /** The environment to reach it, when the stack and certificates are both there. */
  readonly env: DockerEnv | undefined;
}

/** What {@link deleteDockerHost} removed. */
export interface DeletedDockerHost {
  /** Whether there was a stack to delete. */
  readonly stackDeleted: boolean;
  /** The SSM parameters deleted. */
  readonly parametersDeleted: readonly string[];
  /** The Elastic IP addresses released. */
  readonly addressesReleased: readonly string[];
  /** Whether there were local certificates to remove. */
  readonly certificatesRemoved: boolean;
}

const TARGET_FIELDS: FieldList<DockerHostTarget> = { ...AWS_FIELDS, name: true, stateDir: true };
const CREATE_FIELDS: FieldList<CreateDockerHostOptions> = {
  ...TARGET_FIELDS,
  allowedCidr: true,
  instanceType: true,
  volumeSizeGb: true,
  vpcId: true,
  subnetId: true,
  keyName: true,
  publishedPorts: true,
  certificateValidityDays: true,
  tags: true,
  imageParameter: true,
  signal: true,
  onProgress: true,
  pollIntervalMs: true,
};
const DELETE_FIELDS: FieldList<DeleteDockerHostOptions> = {
  ...TARGET_FIELDS,
  onProgress: true,
  pollIntervalMs: true,
};
const PARAMETER_NAMES = ['ca', 'server-cert', 'server-key'] as const;
const DEFAULT_IMAGE = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/** The SSM Parameter Store path of a host's TLS parameters. */
export function parameterPathOf(name: string): string {
  return `/dde/hosts/${name}`;
}

/** The local directory of a host's client certificates. */
export function certPathOf(name: string, stateDir: string = defaultStateDir()): string {
  return join(stateDir, 'hosts', name);
}

/** The `export ...` line a user pastes into a shell. */
export function exportLine(env: DockerEnv | Readonly<Record<string, string>>): string {
  return `export ${Object.entries(env)
    .map(
      ([key, value]) =>
        `${key}=${/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`}`,
    )
    .join(' ')}`;
}

/**
 * Creates a Docker host: allocates a tagged Elastic IP, generates the host's CA, server and client
 * certificates for that address, stores the server side as SecureString parameters under
 * `/dde/hosts/<name>/` (read by the instance role only, never put in user data), writes the client
 * side to `<stateDir>/hosts/<name>`, creates the `dde-host-<name>` stack and waits until the
 * instance reports that dockerd answers. Any failure or abort removes everything it made (as
 * {@link deleteDockerHost} does) before rejecting.
 */
export async function createDockerHost(options: CreateDockerHostOptions): Promise<DockerHost> {
  refuseUnknownFields(options, CREATE_FIELDS, 'createDockerHost options', invalidOption);
  const name = validateName(options.name);
  const allowedCidr = validateCidr(options.allowedCidr, 'allowedCidr');
  const ports = validatePortRange(
    options.publishedPorts ?? { from: 32768, to: 60999 },
    'publishedPorts',
    1024,
  );
  const tags = validateTags(options.tags);
  const pollIntervalMs = validateInterval(options.pollIntervalMs, 'pollIntervalMs');
  const volumeSize = options.volumeSizeGb ?? 30;
  if (!Number.isInteger(volumeSize) || volumeSize < 8 || volumeSize > 16384) {
    throw invalidOption('volumeSizeGb', 'must be a whole number of GiB from 8 to 16384');
  }
  for (const field of ['instanceType', 'vpcId', 'subnetId', 'keyName', 'imageParameter'] as const) {
    if (options[field] !== undefined && (typeof options[field] !== 'string' || options[field] === '')) {
      throw invalidOption(field, 'must be a non-empty string');
    }
  }
  const stackName = stackNameOf('docker-host', name);
  const certPath = certPathOf(name, options.stateDir);
  const clients = new AwsClients(options);
  try {
    await refuseExistingStack(clients.cloudFormation, 'docker-host', name);
    const network = await resolveNetwork(clients.ec2, options.vpcId, options.subnetId);
    const resourceTags = tagsOf('docker-host', name, tags);
    try {
      const address = await call('allocating an Elastic IP', () =>
        clients.ec2.send(
          new AllocateAddressCommand({
            Domain: 'vpc',
            TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: resourceTags }],
          }),
        ),
      );
      const publicIp = address.PublicIp ?? '';
      const bundle = await generateDockerTlsCertificates({
        ipAddresses: [publicIp],
        name: `dde host ${name}`,
        ...(options.certificateValidityDays === undefined
          ? {}
          : { validityDays: options.certificateValidityDays }),
      });
      await putServerParameters(clients.ssm, name, bundle, resourceTags);
      await writeClientCertificates(certPath, bundle);
      const stack = await createStack(clients.cloudFormation, {
        stackName,
        templateBody: await templateBody('docker-host'),
        parameters: {
          HostName: name,
          AllowedCidr: allowedCidr,
          ImageId: options.imageParameter ?? DEFAULT_IMAGE,
          InstanceType: options.instanceType ?? 't3.small',
          VolumeSize: String(volumeSize),
          VpcId: network.vpcId,
          SubnetId: network.subnetId,
          ElasticIpAllocationId: address.AllocationId ?? '',
          PublicIp: publicIp,
          ParameterPath: parameterPathOf(name),
          PublishedPortFrom: String(ports.from),
          PublishedPortTo: String(ports.to),
          KeyName: options.keyName ?? '',
        },
        tags: resourceTags,
        signal: options.signal,
        onProgress: options.onProgress,
        pollIntervalMs,
      });
      return hostFrom(name, stackName, stack.status, stack.outputs, certPath, true);
    } catch (error) {
      await removeHost(clients, name, certPath, { pollIntervalMs }).catch((cleanup: unknown) => {
        throw new DdeError(
          isDdeError(error) ? error.code : 'ENGINE_ERROR',
          `${(error as Error).message}; removing what was made failed too (${(cleanup as Error).message}): run dde-aws host delete ${name}`,
          { cause: error },
        );
      });
      throw error;
    }
  } finally {
    clients.close();
  }
}

/**
 * Deletes a Docker host: its stack (waiting until it is gone), its SSM parameters, its Elastic IP
 * and its local client certificates. Whatever is already gone is skipped, so it also finishes an
 * interrupted creation or deletion.
 */
export async function deleteDockerHost(options: DeleteDockerHostOptions): Promise<DeletedDockerHost> {
  refuseUnknownFields(options, DELETE_FIELDS, 'deleteDockerHost options', invalidOption);
  const name = validateName(options.name);
  const pollIntervalMs = validateInterval(options.pollIntervalMs, 'pollIntervalMs');
  return withClients(options, (clients) =>
    removeHost(clients, name, certPathOf(name, options.stateDir), {
      onProgress: options.onProgress,
      pollIntervalMs,
    }),
  );
}

/** The host's stack status, address and local certificates; `NOT_FOUND` when there is no stack. */
export async function describeDockerHost(options: DockerHostTarget): Promise<DockerHost> {
  refuseUnknownFields(options, TARGET_FIELDS, 'describeDockerHost options', invalidOption);
  const name = validateName(options.name);
  return withClients(options, async (clients) => {
    const { stackName, stack } = await requireStack(clients.cloudFormation, 'docker-host', name);
    const certPath = certPathOf(name, options.stateDir);
    const present = await Promise.all(
      ['ca.pem', 'cert.pem', 'key.pem'].map((file) => exists(join(certPath, file))),
    );
    return hostFrom(name, stackName, stack.status, stack.outputs, certPath, present.every(Boolean));
  });
}

function hostFrom(
  name: string,
  stackName: string,
  status: string,
  outputs: Readonly<Record<string, string>>,
  certPath: string,
  certificatesPresent: boolean,
): DockerHost {
  const dockerHost = outputs.DockerHost;
  const usable = status === 'CREATE_COMPLETE' && dockerHost !== undefined && certificatesPresent;
  return {
    name,
    stackName,
    status,
    instanceId: outputs.InstanceId,
    dockerHost,
    certPath,
    certificatesPresent,
    env: usable ? { DOCKER_HOST: dockerHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath } : undefined,
  };
}

async function removeHost(
  clients: AwsClients,
  name: string,
  certPath: string,
  watch: {
    onProgress?: ((progress: StackProgress) => void) | undefined;
    pollIntervalMs?: number | undefined;
  },
): Promise<DeletedDockerHost> {
  const stackDeleted = await deleteStack(clients.cloudFormation, stackNameOf('docker-host', name), watch);
  const names = PARAMETER_NAMES.map((parameter) => `${parameterPathOf(name)}/${parameter}`);
  const deleted = await call('deleting the TLS parameters', () =>
    clients.ssm.send(new DeleteParametersCommand({ Names: names })),
  );
  // Only once the stack (and with it the address's association) is gone can the address go.
  const addresses = await call('finding the Elastic IP', () =>
    clients.ec2.send(
      new DescribeAddressesCommand({
        Filters: [
          { Name: `tag:${KIND_TAG}`, Values: ['docker-host'] },
          { Name: `tag:${NAME_TAG}`, Values: [name] },
        ],
      }),
    ),
  );
  const released: string[] = [];
  for (const address of addresses.Addresses ?? []) {
    await call(`releasing Elastic IP ${address.PublicIp}`, () =>
      clients.ec2.send(new ReleaseAddressCommand({ AllocationId: address.AllocationId })),
    );
    released.push(address.PublicIp ?? address.AllocationId ?? '');
  }
  const certificatesRemoved = await exists(certPath);
  await rm(certPath, { recursive: true, force: true });
  return {
    stackDeleted,
    parametersDeleted: deleted.DeletedParameters ?? [],
    addressesReleased: released,
    certificatesRemoved,
  };
}

async function putServerParameters(
  ssm: SSMClient,
  name: string,
  bundle: { ca: string; server: { certificate: string; privateKey: string } },
  tags: Array<{ Key: string; Value: string }>,
): Promise<void> {
  const values: Record<(typeof PARAMETER_NAMES)[number], string> = {
    ca: bundle.ca,
    'server-cert': bundle.server.certificate,
    'server-key': bundle.server.privateKey,
  };
  for (const parameter of PARAMETER_NAMES) {
    const parameterName = `${parameterPathOf(name)}/${parameter}`;
    await call(`storing ${parameterName}`, () =>
      ssm.send(
        new PutParameterCommand({
          Name: parameterName,
          Value: values[parameter],
          Type: 'SecureString',
          Description: `dde Docker host ${name}: TLS ${parameter}`,
          Tags: tags,
        }),
      ),
    );
  }
}

/** The VPC and subnet to use: the given ones, or the region's default VPC and a default subnet. */
async function resolveNetwork(
  ec2: EC2Client,
  vpcId: string | undefined,
  subnetId: string | undefined,
): Promise<{ vpcId: string; subnetId: string }> {
  if (subnetId !== undefined) {
    const answer = await call(`describing subnet ${subnetId}`, () =>
      ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })),
    );
    const subnet = answer.Subnets?.[0];
    if (subnet?.VpcId === undefined)
      throw invalidOption('subnetId', `${subnetId} does not exist in this region`);
    if (vpcId !== undefined && subnet.VpcId !== vpcId) {
      throw invalidOption('subnetId', `${subnetId} belongs to ${subnet.VpcId}, not to vpcId ${vpcId}`);
    }
    return { vpcId: subnet.VpcId, subnetId };
  }
  const vpc =
    vpcId ??
    (
      await call('finding the default VPC', () =>
        ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })),
      )
    ).Vpcs?.[0]?.VpcId;
  if (vpc === undefined)
    throw invalidOption('vpcId', 'is needed: this region has no default VPC (give vpcId and subnetId)');
  const subnets = await call(`finding a subnet of ${vpc}`, () =>
    ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpc] },
          ...(vpcId === undefined ? [{ Name: 'default-for-az', Values: ['true'] }] : []),
        ],
      }),
    ),
  );
  const chosen = subnets.Subnets?.map((subnet) => subnet.SubnetId).find((id) => id !== undefined);
  if (chosen === undefined) throw invalidOption('subnetId', `is needed: ${vpc} has no subnet to choose from`);
  return { vpcId: vpc, subnetId: chosen };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
