import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/** Where Debian's `docker-registry` package installs the registry. */
export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** A throwaway image registry on loopback (see {@link startRegistry}). */
export interface LocalRegistry {
  /** `127.0.0.1:<port>`: prefix image names with it, e.g. `${address}/tool:1`. */
  readonly address: string;
  /** Stops the registry and deletes its storage. */
  close(): Promise<void>;
}

/**
 * Whether a local registry can run here. Without the binary this is false locally, and throws
 * under `CI=true` (CI installs it: `apt-get install docker-registry`).
 */
export function registryAvailable(): boolean {
  if (existsSync(REGISTRY_BINARY)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`CI=true but ${REGISTRY_BINARY} is missing: apt-get install docker-registry`);
  }
  return false;
}

/**
 * Starts Debian's `docker-registry` on 127.0.0.1 and a free port, storing images in a fresh
 * temporary directory, without TLS or authentication: Docker treats registries on 127.0.0.0/8
 * as insecure (plain HTTP allowed) by default. Resolves once the registry answers `/v2/`.
 */
export async function startRegistry(options: { signal?: AbortSignal } = {}): Promise<LocalRegistry> {
  const signal = options.signal ?? AbortSignal.timeout(30_000);
  const directory = mkdtempSync(join(tmpdir(), 'dde-registry-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = join(directory, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(directory, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  );
  const child = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const close = async () => {
    await stop(child);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(address, child, signal);
  } catch (error) {
    await close();
    throw new Error(`docker-registry did not start on ${address}: ${(error as Error).message}\n${stderr}`);
  }
  return { address, close };
}

async function waitUntilServing(address: string, child: ChildProcess, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    signal.throwIfAborted();
    try {
      const response = await fetch(`http://${address}/v2/`, { signal });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
