import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { DescribeSecurityGroupsCommand, DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateClusterCommand, ECSClient } from '@aws-sdk/client-ecs';

/** A moto_server on loopback, with ECS set up the way dde's tests need it. */
export interface Moto {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Clears moto's state and sets it up again (cluster, manual task progression). */
  reset(): Promise<void>;
  /** Stops moto_server (its whole process group: the pyenv shim forks python). */
  close(): Promise<void>;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/**
 * Whether moto_server can run here: false locally without it; under `CI=true` its absence
 * throws, so a CI run never silently skips the ECS conformance suite.
 */
export function motoAvailable(): boolean {
  const found = spawnSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env.CI === 'true') {
    throw new Error('CI=true but moto_server is missing: pip install "moto[server]==5.2.1"');
  }
  return found;
}

/** Starts `moto_server -H 127.0.0.1 -p <free port>` detached and waits until it answers. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const close = () => stopGroup(child);
  try {
    await waitUntilServing(endpoint, child, AbortSignal.timeout(30_000));
  } catch (error) {
    await close();
    throw new Error(`moto_server did not start on ${endpoint}: ${(error as Error).message}\n${stderr}`);
  }
  const reset = async () => {
    await post(`${endpoint}/moto-api/reset`, {});
    // Tasks stay RUNNING until stopped instead of advancing one state per DescribeTasks.
    await post(`${endpoint}/moto-api/state-manager/set-transition`, {
      model_name: 'ecs::task',
      transition: { progression: 'manual', times: 1_000_000 },
    });
  };
  await reset();
  return { endpoint, region: REGION, credentials: CREDENTIALS, reset, close };
}

/** Creates a cluster and finds the default VPC's subnets and security group. */
export async function prepareEcs(
  moto: Moto,
  cluster: string,
): Promise<{ subnets: string[]; securityGroups: string[] }> {
  const config = { endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials };
  const ecs = new ECSClient(config);
  const ec2 = new EC2Client(config);
  try {
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    const subnets = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }),
    );
    const groups = await ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['default'] }] }),
    );
    return {
      subnets: (subnets.Subnets ?? []).map((subnet) => subnet.SubnetId as string).slice(0, 2),
      securityGroups: (groups.SecurityGroups ?? []).map((group) => group.GroupId as string).slice(0, 1),
    };
  } finally {
    ecs.destroy();
    ec2.destroy();
  }
}

/**
 * An ECS client for moto. moto answers RunTask with a 500 unless every container definition has
 * a container-level `memory`; real ECS does not need it on Fargate, so the test setup, not the
 * backend, adds it: a middleware copies the reservation (or 128 MiB) into `memory`.
 */
export function motoEcsClient(moto: Moto): ECSClient {
  const client = new ECSClient({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as {
        containerDefinitions?: { memory?: number; memoryReservation?: number }[];
      };
      if (Array.isArray(input.containerDefinitions)) {
        input.containerDefinitions = input.containerDefinitions.map((container) => ({
          ...container,
          memory: container.memory ?? container.memoryReservation ?? 128,
        }));
      }
      return next(args);
    },
    { step: 'initialize', name: 'motoContainerMemory' },
  );
  return client;
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}`);
}

async function waitUntilServing(endpoint: string, child: ChildProcess, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    signal.throwIfAborted();
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      resolve();
    }
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
