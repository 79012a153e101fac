import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeWithDocker } from './docker.ts';
import { freePort } from './ports.ts';

/** A throwaway `redis-server` on loopback, without persistence. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: there is no persistence). */
  restart(): Promise<void>;
}

/**
 * Whether `redis-server` is installed. Missing, this is false locally (the tests skip), and
 * throws under `CI=true` (CI installs Debian's redis-server).
 */
export function redisAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI === 'true')
      throw new Error('CI=true but redis-server is missing: apt-get install redis-server');
    return false;
  }
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.end('PING\r\n');
      socket.once('data', (data) => resolve(data.toString().startsWith('+PONG')));
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a Redis server on a free loopback port; resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    child = started;
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (started.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server did not start on ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: start };
}

/**
 * A `describe` that needs a Redis server: `factory` gets a getter of the throwaway Redis started
 * before the suite's tests (and stopped after them). Without redis-server it skips locally;
 * under `CI=true` it fails the run.
 */
export function describeWithRedis(title: string, factory: (redis: () => TestRedis) => void): void {
  if (skippedWithoutRedis(title)) return;
  describe(title, () => redisForSuite(factory));
}

/**
 * A `describe` that needs a Docker Engine and a Redis server: `factory` gets the engine and a
 * getter of the throwaway Redis started before the suite's tests (and stopped after them).
 * Without either it skips locally; under `CI=true` a missing one fails the run.
 */
export async function describeWithDockerAndRedis(
  title: string,
  factory: (docker: Dockerode, redis: () => TestRedis) => void,
): Promise<void> {
  if (skippedWithoutRedis(title)) return;
  await describeWithDocker(title, (docker) => redisForSuite((redis) => factory(docker, redis)));
}

/**
 * Without redis-server, registers `title` as skipped, saying what to install, and answers true;
 * under `CI=true` {@link redisAvailable} throws instead, so CI never skips. For suites that
 * start their own Redis (e.g. beside an image build): `if (!skippedWithoutRedis(title)) ...`.
 */
export function skippedWithoutRedis(title: string): boolean {
  if (redisAvailable()) return false;
  describe.skip(title, () => it('needs redis-server (apt-get install redis-server)', () => {}));
  return true;
}

/** Starts a Redis server before the current suite's tests and stops it after them. */
function redisForSuite(factory: (redis: () => TestRedis) => void): void {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  factory(() => {
    if (redis === undefined)
      throw new Error('the Redis server starts in beforeAll: use it in a test or hook');
    return redis;
  });
}
