/** Child processes and ports: spawned with an undo registered, so none outlives the run. */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { onCleanup } from './cleanup.ts';

/** A started child process and how to stop it (SIGTERM, then SIGKILL after 3 s). */
export interface Child {
  readonly process: ChildProcess;
  /** Output collected so far (stdout and stderr), for error messages. */
  readonly output: () => string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Stops the process and waits for it to exit. */
  readonly stop: () => Promise<void>;
}

/** Spawns `command` and registers its stop as a cleanup. */
export function startChild(command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => {}); // reported by whoever awaits it
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited.catch(() => {});
    clearTimeout(timer);
  };
  const stop = onCleanup(`stopping ${command} (pid ${child.pid})`, kill);
  return { process: child, output: () => output, exited, stop };
}

/** Options of {@link runChild}. */
export interface RunOptions extends SpawnOptions {
  /** Return stderr along with stdout (for tools that print their version on stderr). */
  combinedOutput?: boolean;
  /** Return the output even when the command exits non-zero (`wrk --version` exits 1). */
  anyExitCode?: boolean;
}

/** Runs a command to completion; returns its stdout, or throws with its output on failure. */
export async function runChild(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const { combinedOutput = false, anyExitCode = false, ...spawnOptions } = options;
  const child = startChild(command, args, spawnOptions);
  let stdout = '';
  child.process.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await child.exited;
  await child.stop();
  if (code !== 0 && !anyExitCode) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${child.output()}`);
  }
  return combinedOutput ? child.output() : stdout;
}

/** The absolute path of an executable on PATH (or in the sbin directories), or undefined. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {}
  }
  return undefined;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Resolves once `url` answers an HTTP GET with a status below 500; throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const status = await new Promise<number | string>((resolve) => {
      const req = request(url, { agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => resolve(error.message));
      req.end();
    });
    if (typeof status === 'number' && status < 500) return;
    last = String(status);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})`);
}
