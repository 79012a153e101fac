import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Whether a command-line tool is installed. Under CI=true a missing tool throws instead, so the
 * suites that need it fail rather than skip.
 */
export function toolAvailable(command: string, versionArg = '--version'): boolean {
  const found = spawnSync(command, [versionArg], { stdio: 'ignore', timeout: 60_000 }).status === 0;
  if (!found && process.env.CI === 'true') {
    throw new Error(`${command} is not installed, and CI=true forbids skipping the tests that need it`);
  }
  return found;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A moto_server on a loopback port: its endpoint, and how to stop it. */
export interface Moto {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts moto_server on a free loopback port. It is a pyenv shim that forks python, so it runs
 * detached in its own process group and `stop` kills the whole group.
 */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const ready = await fetch(`${endpoint}/moto-api/`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return { endpoint, stop };
    await sleep(200);
  }
  await stop();
  throw new Error('moto_server did not answer within 60 s');
}

/** Credentials moto accepts (it checks none); never real ones. */
export const MOTO_AWS = {
  region: 'eu-west-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
} as const;
