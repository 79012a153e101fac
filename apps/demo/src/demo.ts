/**
 * Starts the whole demo from its settings: the Docker backend and the container manager (which
 * adopts the namespace's existing containers and enforces the memory budget, the per-owner limit
 * and idle culling), the data listener for containers, and the web application with its proxy
 * and metrics. {@link RunningDemo.close} shuts it down in order.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDockerClient, DockerBackend, resolveEngine } from '@dde/backend-docker';
import type { ContainerManagerOptions, History, Logger, Router } from '@dde/core';
import {
  ContainerManager,
  closeServer,
  DdeMetrics,
  FileHistory,
  formatDuration,
  hostnameRouter,
  isDdeError,
  pathRouter,
} from '@dde/core';
import { RedisStore } from '@dde/redis';
import { Sessions } from './auth/session.ts';
import { Signer } from './auth/signer.ts';
import type { DemoConfig } from './config.ts';
import { DataFiles } from './data/files.ts';
import { DataServer } from './data/server.ts';
import { networkGateway } from './engine/gateway.ts';
import { ImageBuilder } from './images/builder.ts';
import { Launcher } from './launch/launcher.ts';
import { RemovalLog } from './launch/removals.ts';
import { ToolImages } from './tools/images.ts';
import { createApp } from './web/app.ts';

/** How long stopping the demo waits for requests under way and WebSockets to end. */
const DRAIN_MS = 2000;
/** A started demo. */
export interface RunningDemo {
  /** Where people open it. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Where containers fetch their data. */
  readonly dataOrigin: string;
  /** The container manager (for tests and shutdown). */
  readonly manager: ContainerManager;
  /**
   * Stops serving and releases everything. Tool containers keep running (the next start adopts
   * them) unless `removeContainers` is true, which also removes the namespace's own network.
   */
  close(options?: { removeContainers?: boolean }): Promise<void>;
}

/** Where the sample CSV files are. */
export const SAMPLES_DIR: string = fileURLToPath(new URL('../samples/', import.meta.url));

/** Writes one line of the demo's own output. */
export type DemoLog = (line: string) => void;

/** Starts the demo; rejects with a message that says what to fix when something is missing. */
export async function startDemo(
  config: DemoConfig,
  log: DemoLog = (line) => process.stderr.write(`${line}\n`),
): Promise<RunningDemo> {
  const engine = resolveEngine();
  const docker = createDockerClient(engine.endpoint);
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(
      `cannot reach the Docker Engine at ${engine.url} (from ${engine.source}): ${(error as Error).message}. Start it, or point DOCKER_HOST at one.`,
      { cause: error },
    );
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const signer = new Signer(await loadSecret(config.dataDir));
  const backend = new DockerBackend({
    docker,
    namespace: config.namespace,
    network: config.network,
    pullPolicy: 'never',
  });
  const manager = new ContainerManager({
    backend,
    ...(await sharedState(config, log)),
    ...lifecycleOptions(config),
  });
  let launcher: Launcher | undefined;
  const removals = new RemovalLog(manager, {
    idleTimeoutMs: config.idleTimeoutMs,
    launchFailed: (name) => launcher?.job(name)?.containerStarted === false,
    onRemoval: (removal) => log(`${removal.name} ${removal.what}`),
  });
  const cleanups: Array<() => Promise<void>> = [() => manager.close()];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    try {
      await manager.start();
    } catch (error) {
      // The manager connects to Redis first: say which setting to fix.
      if (isDdeError(error) && error.code === 'STATE_UNAVAILABLE')
        throw new Error(`${error.message} Start Redis, or fix --redis.`, { cause: error });
      throw error;
    }
    if (config.redisUrl !== undefined)
      log(`sharing activity, admission and culling of namespace ${config.namespace} through Redis`);
    log(describePolicies(config));
    const adopted = manager.list();
    if (adopted.length > 0)
      log(
        `adopted ${adopted.length} existing container(s): ${adopted.map((route) => route.name).join(', ')}`,
      );

    const files = await DataFiles.open({
      samplesDir: SAMPLES_DIR,
      uploadDir: join(config.dataDir, 'uploads'),
      maxUploadBytes: config.maxUploadBytes,
    });
    const data = new DataServer(files, signer);
    const dataHost = config.dataHost ?? (await networkGateway(docker, config.network ?? 'bridge'));
    await data.listen({ host: dataHost, port: config.dataPort, origin: config.dataOrigin });
    cleanups.push(() => data.close());

    const router = makeRouter(config);
    launcher = new Launcher({
      manager,
      images: new ToolImages(new ImageBuilder(docker), config.imagePrefix),
      files,
      data,
      router,
      publicOrigin: config.publicOrigin,
      maxContainers: config.maxContainers,
    });
    const publicUrl = new URL(config.publicOrigin);
    const sessions = new Sessions(signer, {
      domain: config.routing === 'hostname' ? config.domain : undefined,
      secure: publicUrl.protocol === 'https:',
    });
    const footer = `${backend.kind} backend (${engine.url}) · namespace ${config.namespace} · ${config.routing} routing${config.login ? ' · login' : ''}`;
    const { app, proxy } = createApp({
      config,
      manager,
      launcher,
      removals,
      files,
      sessions,
      router,
      footer,
    });
    const server = createServer(app.callback());
    proxy.attach(server);
    await listen(server, config.port, config.host);
    // Requests under way (a please-wait poll, a slow download) and WebSockets get a moment to
    // end (WebSockets with 1001), then are cut.
    cleanups.push(async () => {
      await Promise.all([proxy.close({ drainMs: DRAIN_MS }), closeServer(server, { drainMs: DRAIN_MS })]);
    });
    const port = (server.address() as AddressInfo).port;
    return {
      url: config.publicOrigin,
      port,
      dataOrigin: data.origin,
      manager,
      async close(options = {}) {
        if (options.removeContainers) {
          const names = await manager.removeAll({ signal: AbortSignal.timeout(60_000) }).catch((error) => {
            log(`could not remove every container: ${(error as Error).message}`);
            return [];
          });
          if (names.length > 0) log(`removed ${names.length} container(s)`);
          await backend.removeNetwork({ signal: AbortSignal.timeout(30_000) }).catch((error) => {
            log(`could not remove the network ${backend.network}: ${(error as Error).message}`);
          });
        }
        await cleanUp();
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/**
 * What the container manager enforces for the demo: the memory budget (LRU eviction), the
 * per-owner limit, idle culling, and Prometheus metrics.
 */
export function lifecycleOptions(
  config: Pick<DemoConfig, 'budgetMb' | 'maxPerOwner' | 'maxContainers' | 'idleTimeoutMs'>,
): Partial<ContainerManagerOptions> {
  const idle = config.idleTimeoutMs;
  return {
    capacity: { memoryBudgetMb: config.budgetMb, overBudget: 'refuse' },
    // The budget caps running containers only: failed ones hold no memory, so the count cap is
    // what stops launches of a crashing tool from piling up stopped containers on the engine.
    limits: {
      maxContainers: config.maxContainers,
      ...(config.maxPerOwner === undefined ? {} : { maxPerOwner: config.maxPerOwner }),
    },
    // A short timeout is checked often enough to be noticed on time; a long one every 30 s.
    culling:
      idle === undefined
        ? undefined
        : { idleTimeoutMs: idle, intervalMs: Math.min(30_000, Math.max(1000, idle / 4)) },
    metrics: new DdeMetrics(),
  };
}

/**
 * Where the manager keeps activity, and how it coordinates with other instances: with
 * `--redis`, the Redis store every instance of the namespace shares (history, admission,
 * culling); without, a history file in the data directory and this process's own memory.
 */
async function sharedState(
  config: Pick<DemoConfig, 'redisUrl' | 'namespace' | 'dataDir'>,
  log: DemoLog,
): Promise<Pick<ContainerManagerOptions, 'history' | 'coordination' | 'logger'>> {
  if (config.redisUrl === undefined) {
    const history: History = await FileHistory.open(join(config.dataDir, 'history.jsonl'));
    return { history };
  }
  const logger = demoLogger(log);
  const store = new RedisStore({ url: config.redisUrl, namespace: config.namespace, logger });
  // The manager connects the store at start() and disconnects it at close().
  return { history: store.history, coordination: store.coordination, logger };
}

/** Warnings and errors (a lost Redis, a failed removal) as lines of the demo's own output. */
function demoLogger(log: DemoLog): Logger {
  const line =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      const error = fields.error instanceof Error ? `: ${fields.error.message}` : '';
      log(`${level}: ${message}${error}`);
    };
  return { debug: () => {}, info: () => {}, warn: line('warning'), error: line('error') };
}

function describePolicies(config: DemoConfig): string {
  const parts = [`memory budget ${config.budgetMb} MB (least recently used containers are evicted)`];
  if (config.maxPerOwner !== undefined) parts.push(`at most ${config.maxPerOwner} container(s) per person`);
  parts.push(`at most ${config.maxContainers} container(s) in all`);
  if (config.idleTimeoutMs !== undefined)
    parts.push(`containers idle for ${formatDuration(config.idleTimeoutMs)} are removed`);
  return parts.join('; ');
}

/** The router of the configured routing mode. */
export function makeRouter(config: DemoConfig): Router {
  if (config.routing === 'path') return pathRouter({ prefix: '/docker', origin: config.publicOrigin });
  const url = new URL(config.publicOrigin);
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return hostnameRouter({
    suffix: config.domain,
    protocol,
    port: url.port === '' ? undefined : Number(url.port),
  });
}

/** The signing secret kept in the data directory, so that sessions survive a restart. */
async function loadSecret(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'secret');
  try {
    const secret = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url');
    if (secret.length >= 32) return secret;
  } catch {
    // First start: make one.
  }
  const secret = randomBytes(32);
  await writeFile(path, secret.toString('base64url'), { mode: 0o600 });
  return secret;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is in use: stop what runs there, or pass --port`
            : `cannot listen on ${host}:${port}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
