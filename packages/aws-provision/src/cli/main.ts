import { parseArgs } from 'node:util';
import { isDdeError } from '@dde/core';
import type { AwsOptions } from '../aws.ts';
import { createDockerHost, deleteDockerHost, describeDockerHost, exportLine } from '../docker-host.ts';
import { createEcsSetup, deleteEcsSetup, describeEcsSetup } from '../ecs-setup.ts';
import { attachPolicy, type PolicyKind, resolvePolicy } from '../iam.ts';
import { type OutputStream, stackProgress } from './progress.ts';

/** What the command reads and writes. */
export interface CliIo {
  /** Results (the export line, JSON). */
  readonly stdout: OutputStream;
  /** Progress and errors. */
  readonly stderr: OutputStream;
  /** The environment (`DDE_AWS_STATE_DIR`, `AWS_*` through the SDK). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted by Ctrl-C: a create then removes what it made. */
  readonly signal?: AbortSignal;
}

const USAGE = `Usage: dde-aws <command> [options]

  host create <name> --allow <cidr>   EC2 Docker host, Docker API on 2376 over mutual TLS
       [--instance-type t3.small] [--volume-size 30] [--vpc id] [--subnet id]
       [--key-name name] [--ports 32768-60999] [--days 365] [--tag key=value]...
  host delete <name>                  remove its stack, TLS parameters, Elastic IP, certificates
  host status <name> [--json]         the stack's state and the local certificates
  host env <name>                     the export line for DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH

  ecs create <name> --vpc id --subnets id,id (--proxy-sg sg-id | --proxy-cidr cidr)
       [--ports 1024-65535] [--log-retention 14] [--task-role] [--tag key=value]...
  ecs delete <name>                   remove its stack
  ecs env <name>                      the EcsBackend settings, as JSON

  policy print provision|ecs [--setup name] [--namespace ns]
  policy attach provision|ecs (--user name | --role name) [--setup name] [--namespace ns]

Global: --region r, --endpoint url, --state-dir dir (default ~/.dde/aws, or DDE_AWS_STATE_DIR),
        --poll-interval ms, -h/--help
`;

/** A mistake in the command line: usage is printed, exit code 2. */
class UsageError extends Error {}

const OPTIONS = {
  allow: { type: 'string' },
  'instance-type': { type: 'string' },
  'volume-size': { type: 'string' },
  vpc: { type: 'string' },
  subnet: { type: 'string' },
  subnets: { type: 'string' },
  'key-name': { type: 'string' },
  ports: { type: 'string' },
  days: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'proxy-sg': { type: 'string' },
  'proxy-cidr': { type: 'string' },
  'log-retention': { type: 'string' },
  'task-role': { type: 'boolean' },
  setup: { type: 'string' },
  namespace: { type: 'string' },
  user: { type: 'string' },
  role: { type: 'string' },
  json: { type: 'boolean' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  'state-dir': { type: 'string' },
  'poll-interval': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
}

/**
 * Runs `dde-aws` and resolves with its exit code: 0 done, 1 failed, 2 usage mistake, 130 aborted.
 * Never throws.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    const [group, action, subject, ...extra] = positionals;
    if (values.help || group === undefined || group === 'help') {
      io.stdout.write(USAGE);
      return group === undefined && !values.help ? 2 : 0;
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const run = COMMANDS[`${group} ${action ?? ''}`];
    if (run === undefined)
      throw new UsageError(`unknown command "${[group, action].filter(Boolean).join(' ')}"`);
    if (subject === undefined)
      throw new UsageError(
        `${group} ${action} needs a ${group === 'policy' ? 'policy (provision or ecs)' : 'name'}`,
      );
    return await run(subject, values, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`dde-aws: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`dde-aws: ${isDdeError(error) ? `${error.code}: ` : ''}${message}\n`);
    return isDdeError(error) && (error.code === 'ABORTED' || error.code === 'TIMEOUT') ? 130 : 1;
  }
}

type Command = (subject: string, values: Values, io: CliIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  async 'host create'(name, values, io) {
    const allowedCidr = required(values.allow, '--allow (your address as a /32)');
    const progress = stackProgress(io.stderr, `creating Docker host ${name}`);
    try {
      const host = await createDockerHost({
        ...hostOptions(values, io),
        name,
        allowedCidr,
        ...optional('instanceType', values['instance-type']),
        ...optional('volumeSizeGb', integer(values['volume-size'], '--volume-size')),
        ...optional('vpcId', values.vpc),
        ...optional('subnetId', values.subnet),
        ...optional('keyName', values['key-name']),
        ...optional('publishedPorts', range(values.ports, '--ports')),
        ...optional('certificateValidityDays', integer(values.days, '--days')),
        ...optional('tags', tags(values.tag)),
        ...optional('signal', io.signal),
        onProgress: progress.report,
      });
      progress.done();
      if (host.env !== undefined) io.stdout.write(`${exportLine(host.env)}\n`);
      return 0;
    } finally {
      progress.done();
    }
  },
  async 'host delete'(name, values, io) {
    const progress = stackProgress(io.stderr, `deleting Docker host ${name}`);
    try {
      const deleted = await deleteDockerHost({
        ...hostOptions(values, io),
        name,
        onProgress: progress.report,
      });
      progress.done();
      io.stderr.write(
        `removed: ${deleted.stackDeleted ? 'stack' : 'no stack'}, ${deleted.parametersDeleted.length} TLS parameter(s), ` +
          `${deleted.addressesReleased.length} Elastic IP(s), ${deleted.certificatesRemoved ? 'local certificates' : 'no local certificates'}\n`,
      );
      return 0;
    } finally {
      progress.done();
    }
  },
  async 'host status'(name, values, io) {
    const host = await describeDockerHost({
      ...awsOnly(values),
      ...optional('stateDir', values['state-dir'] ?? io.env.DDE_AWS_STATE_DIR),
      name,
    });
    if (values.json) {
      io.stdout.write(`${JSON.stringify(host, null, 2)}\n`);
    } else {
      io.stdout.write(
        `${host.name}: ${host.status}, ${host.dockerHost ?? 'no address yet'}, instance ${host.instanceId ?? '-'}, ` +
          `certificates ${host.certificatesPresent ? `in ${host.certPath}` : `missing from ${host.certPath}`}\n`,
      );
    }
    return 0;
  },
  async 'host env'(name, values, io) {
    const host = await describeDockerHost({
      ...awsOnly(values),
      ...optional('stateDir', values['state-dir'] ?? io.env.DDE_AWS_STATE_DIR),
      name,
    });
    if (host.env === undefined) {
      io.stderr.write(
        `dde-aws: host ${name} is not usable from here (stack ${host.status}, certificates ${host.certificatesPresent ? 'present' : 'missing'})\n`,
      );
      return 1;
    }
    io.stdout.write(`${exportLine(host.env)}\n`);
    return 0;
  },
  async 'ecs create'(name, values, io) {
    const progress = stackProgress(io.stderr, `creating ECS setup ${name}`);
    try {
      const setup = await createEcsSetup({
        ...stackOptions(values),
        name,
        vpcId: required(values.vpc, '--vpc'),
        subnetIds: required(values.subnets, '--subnets').split(','),
        ...optional('proxySecurityGroupId', values['proxy-sg']),
        ...optional('proxyCidr', values['proxy-cidr']),
        ...optional('toolPorts', range(values.ports, '--ports')),
        ...optional('logRetentionDays', integer(values['log-retention'], '--log-retention')),
        ...optional('taskRole', values['task-role']),
        ...optional('tags', tags(values.tag)),
        ...optional('signal', io.signal),
        onProgress: progress.report,
      });
      progress.done();
      io.stdout.write(`${JSON.stringify(setup.settings, null, 2)}\n`);
      return 0;
    } finally {
      progress.done();
    }
  },
  async 'ecs delete'(name, values, io) {
    const progress = stackProgress(io.stderr, `deleting ECS setup ${name}`);
    try {
      const deleted = await deleteEcsSetup({ ...stackOptions(values), name, onProgress: progress.report });
      progress.done();
      io.stderr.write(
        deleted ? `removed stack dde-ecs-${name}\n` : `no stack dde-ecs-${name}: nothing to remove\n`,
      );
      return 0;
    } finally {
      progress.done();
    }
  },
  async 'ecs env'(name, values, io) {
    const setup = await describeEcsSetup({ ...awsOnly(values), name });
    if (setup.settings === undefined) {
      io.stderr.write(`dde-aws: ECS setup ${name} is ${setup.status}, not complete\n`);
      return 1;
    }
    io.stdout.write(`${JSON.stringify(setup.settings, null, 2)}\n`);
    return 0;
  },
  async 'policy print'(kind, values, io) {
    const policy = await resolvePolicy({
      ...awsOnly(values),
      kind: policyKind(kind),
      ...policyTarget(values),
    });
    io.stdout.write(`${JSON.stringify(policy.document, null, 2)}\n`);
    return 0;
  },
  async 'policy attach'(kind, values, io) {
    const arn = await attachPolicy({
      ...awsOnly(values),
      kind: policyKind(kind),
      ...policyTarget(values),
      ...optional('user', values.user),
      ...optional('role', values.role),
    });
    io.stdout.write(`${arn}\n`);
    return 0;
  },
};

function awsOnly(values: Values): AwsOptions {
  return { ...optional('region', values.region), ...optional('endpoint', values.endpoint) };
}

/** The AWS options and polling pace of stack commands. */
function stackOptions(values: Values): AwsOptions & { pollIntervalMs?: number } {
  return {
    ...awsOnly(values),
    ...optional('pollIntervalMs', integer(values['poll-interval'], '--poll-interval')),
  };
}

/** The options of host commands: also where the client certificates live. */
function hostOptions(values: Values, io: CliIo): AwsOptions & { stateDir?: string; pollIntervalMs?: number } {
  return {
    ...stackOptions(values),
    ...optional('stateDir', values['state-dir'] ?? io.env.DDE_AWS_STATE_DIR),
  };
}

function policyTarget(values: Values): { setup?: string; namespace?: string } {
  return { ...optional('setup', values.setup), ...optional('namespace', values.namespace) };
}

function policyKind(kind: string): PolicyKind {
  if (kind !== 'provision' && kind !== 'ecs')
    throw new UsageError(`unknown policy "${kind}" (provision or ecs)`);
  return kind;
}

/** `{ [key]: value }`, or nothing when the value is absent (options refuse explicit undefined fields' defaults). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  return value;
}

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} takes a whole number, not "${value}"`);
  return Number(value);
}

function range(value: string | undefined, flag: string): { from: number; to: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(value);
  if (match === null) throw new UsageError(`${flag} takes a range such as 32768-60999, not "${value}"`);
  return { from: Number(match[1]), to: Number(match[2]) };
}

function tags(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const result: Record<string, string> = {};
  for (const entry of values) {
    const at = entry.indexOf('=');
    if (at < 1) throw new UsageError(`--tag takes key=value, not "${entry}"`);
    result[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return result;
}
