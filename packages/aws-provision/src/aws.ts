import { CloudFormationClient, type CloudFormationClientConfig } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { DdeError, invalidOption, isDdeError } from '@dde/core';

/** AWS credentials, or a provider of them, as the AWS SDK v3 clients take them. */
export type AwsCredentials = NonNullable<CloudFormationClientConfig['credentials']>;

/** Where and as whom to call AWS; every dde-aws function takes these. */
export interface AwsOptions {
  /** AWS region. Default: the SDK's chain (`AWS_REGION`, the profile's region). */
  readonly region?: string;
  /** One endpoint for every service (a VPC endpoint proxy, moto). Default: AWS's own. */
  readonly endpoint?: string;
  /** Credentials or a provider of them. Default: the SDK's standard chain. */
  readonly credentials?: AwsCredentials;
}

/** The AWS fields every options object accepts, for the unknown-field check. */
export const AWS_FIELDS = { region: true, endpoint: true, credentials: true } as const;

/** The SDK clients of one {@link AwsOptions}, built on first use. */
export class AwsClients {
  readonly #config: {
    region?: string;
    endpoint?: string;
    credentials?: AwsCredentials;
    maxAttempts: number;
    retryMode: string;
  };
  #cloudFormation: CloudFormationClient | undefined;
  #ec2: EC2Client | undefined;
  #ssm: SSMClient | undefined;
  #iam: IAMClient | undefined;
  #sts: STSClient | undefined;

  constructor(options: AwsOptions) {
    if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) {
      throw invalidOption(
        'endpoint',
        'must be a URL such as https://vpce-123.cloudformation.eu-west-1.vpce.amazonaws.com',
      );
    }
    if (options.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) {
      throw invalidOption('region', 'must be an AWS region such as eu-west-1');
    }
    this.#config = {
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: 5,
      retryMode: 'adaptive',
    };
  }

  get cloudFormation(): CloudFormationClient {
    this.#cloudFormation ??= new CloudFormationClient(this.#config);
    return this.#cloudFormation;
  }
  get ec2(): EC2Client {
    this.#ec2 ??= new EC2Client(this.#config);
    return this.#ec2;
  }
  get ssm(): SSMClient {
    this.#ssm ??= new SSMClient(this.#config);
    return this.#ssm;
  }
  get iam(): IAMClient {
    this.#iam ??= new IAMClient(this.#config);
    return this.#iam;
  }
  get sts(): STSClient {
    this.#sts ??= new STSClient(this.#config);
    return this.#sts;
  }

  /** The region the clients call. */
  async region(): Promise<string> {
    return this.cloudFormation.config.region();
  }

  /** Releases the clients' sockets. */
  close(): void {
    for (const client of [this.#cloudFormation, this.#ec2, this.#ssm, this.#iam, this.#sts])
      client?.destroy();
  }
}

const NOT_FOUND = new Set([
  'NoSuchEntity',
  'NoSuchEntityException',
  'ParameterNotFound',
  'InvalidAllocationID.NotFound',
]);
const CONFLICT = new Set([
  'AlreadyExistsException',
  'EntityAlreadyExists',
  'EntityAlreadyExistsException',
  'ParameterAlreadyExists',
]);
const FORBIDDEN = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'InvalidClientTokenId',
]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

/**
 * Turns an AWS SDK failure into a {@link DdeError}: `NOT_FOUND`, `CONFLICT`, `FORBIDDEN` (naming the
 * IAM policy to attach), `ENGINE_UNAVAILABLE` (AWS unreachable or no credentials) or
 * `ENGINE_ERROR`, the message naming the call that failed.
 */
export function awsError(error: unknown, what: string): DdeError {
  if (isDdeError(error)) return error;
  const name = (error as { name?: unknown })?.name;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  const text = `${what}: ${message}`;
  if (typeof name === 'string') {
    if (NOT_FOUND.has(name) || (name === 'ValidationError' && /does not exist/.test(message))) {
      return new DdeError('NOT_FOUND', text, { cause: error });
    }
    if (CONFLICT.has(name)) return new DdeError('CONFLICT', text, { cause: error });
    if (FORBIDDEN.has(name)) {
      return new DdeError('FORBIDDEN', `${text} (attach the policy that \`dde-aws policy print\` shows)`, {
        cause: error,
      });
    }
    if (name === 'CredentialsProviderError') {
      return new DdeError('ENGINE_UNAVAILABLE', `${text} (set AWS_PROFILE or AWS credentials)`, {
        cause: error,
      });
    }
  }
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new DdeError('ENGINE_UNAVAILABLE', `${what}: AWS is unreachable (${code})`, { cause: error });
  }
  return new DdeError('ENGINE_ERROR', text, { cause: error });
}

/** Runs `work` with the clients of `options`, releasing their sockets afterwards. */
export async function withClients<T>(
  options: AwsOptions,
  work: (clients: AwsClients) => Promise<T>,
): Promise<T> {
  const clients = new AwsClients(options);
  try {
    return await work(clients);
  } finally {
    clients.close();
  }
}

/** Runs one AWS call, mapping its failure through {@link awsError}. */
export async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw awsError(error, what);
  }
}
