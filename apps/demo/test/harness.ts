/**
 * What the end-to-end tests need: the running demo as a child process (exactly what
 * `npm run demo` runs), headless Chromium through playwright-core, screenshots, and a clean-up
 * that removes every container and image a run created.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerodeOptions, resolveEngine } from '@dde/backend-docker';
import Dockerode from 'dockerode';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterEach, beforeEach } from 'vitest';
import { IMAGE_LABEL } from '../src/tools/images.ts';

/** The demo's package directory. */
export const DEMO_DIR: string = fileURLToPath(new URL('..', import.meta.url));
/** Where screenshots go (gitignored). */
export const RESULTS_DIR: string = join(DEMO_DIR, 'test-results');
/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** A random suffix for namespaces and image prefixes of one run. */
export function runId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Whether the end-to-end tests can run here: a Docker Engine answers and Chromium is installed.
 * With `CI=true` a missing one throws instead: CI must never skip these tests silently.
 */
export async function prerequisites(docker: Dockerode): Promise<{ ok: boolean; reason?: string }> {
  const missing: string[] = [];
  try {
    await docker.ping();
  } catch (error) {
    missing.push(`no Docker Engine answers (${(error as Error).message})`);
  }
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  if (missing.length === 0) return { ok: true };
  const reason = missing.join('; ');
  if (process.env.CI === 'true') throw new Error(`the demo's end-to-end tests cannot run: ${reason}`);
  return { ok: false, reason };
}

/** The engine the tests use (found like the docker CLI finds it), and whether they can run. */
export async function testEngine(): Promise<{ docker: Dockerode; ready: { ok: boolean; reason?: string } }> {
  const docker = new Dockerode(dockerodeOptions(resolveEngine().endpoint));
  return { docker, ready: await prerequisites(docker) };
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The demo running as a child process. */
export interface DemoProcess {
  /** Where it says people open it. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Sends `signal` and waits for the process to exit; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node --conditions=dev-source src/main.ts <args>` and waits until it listens. */
export async function startDemoProcess(args: readonly string[], timeoutMs = 60_000): Promise<DemoProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--conditions=dev-source', 'src/main.ts', ...args], {
    cwd: DEMO_DIR,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the demo did not start within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /dde demo listening at (\S+) \(port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1] as string, port: Number(match[2]) });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited with code ${code} before listening:\n${output}`));
    });
  });
  const { url, port } = await listening;
  return {
    url,
    port,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * After each failed test, fails once more with what the demos wrote during it (a launch the
 * engine refused says there why): the browser only shows that a page never came, and CI keeps
 * only the failure summary.
 */
export function reportDemoOutputOnFailure(demos: readonly DemoProcess[], lines = 20): void {
  const before = new Map<DemoProcess, number>();
  beforeEach(() => {
    for (const demo of demos) before.set(demo, demo.output().length);
  });
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail') return;
    const written = demos.flatMap((demo) => {
      const text = demo
        .output()
        .slice(before.get(demo) ?? 0)
        .trimEnd();
      if (text === '') return [];
      return [`the demo at ${demo.url} wrote:\n    ${text.split('\n').slice(-lines).join('\n    ')}`];
    });
    throw new Error(written.length > 0 ? written.join('\n') : 'no demo wrote anything during this test');
  });
}

/** A fresh headless Chromium profile. */
export interface Browser {
  /** Its only context. */
  readonly context: BrowserContext;
  /** Opens a page. */
  page(): Promise<Page>;
  /** Closes the browser and deletes the profile. */
  close(): Promise<void>;
}

/** Launches Debian's Chromium headless, with a fresh user-data-dir. */
export async function openBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'dde-demo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  context.setDefaultTimeout(30_000);
  return {
    context,
    page: () => context.newPage(),
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `test-results/<group>/<name>.png`; returns its path. */
export async function screenshot(page: Page, group: string, name: string): Promise<string> {
  const dir = join(RESULTS_DIR, group);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Removes every container and network of these namespaces and every image with this prefix label. */
export async function removeEverything(
  docker: Dockerode,
  namespaces: readonly string[],
  imagePrefix: string,
): Promise<void> {
  for (const namespace of namespaces) {
    const containers = await docker
      .listContainers({ all: true, filters: { label: [`dde.namespace=${namespace}`] } })
      .catch(() => []);
    for (const container of containers) {
      await docker
        .getContainer(container.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    }
    // The namespace's isolated network: engines have few address pools, never leak one.
    const networks = await docker
      .listNetworks({ filters: { label: [`dde.namespace=${namespace}`] } })
      .catch(() => []);
    for (const network of networks) {
      await docker
        .getNetwork(network.Id)
        .remove()
        .catch(() => {});
    }
  }
  const images = await docker
    .listImages({ filters: { label: [`${IMAGE_LABEL}=${imagePrefix}`] } })
    .catch(() => []);
  // Tool images first: the runtime image is their parent.
  const isRuntime = (image: (typeof images)[number]): boolean =>
    (image.RepoTags ?? []).some((tag) => tag.includes('-node:'));
  images.sort((a, b) => Number(isRuntime(a)) - Number(isRuntime(b)));
  for (const image of images) {
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
  }
}

/** Names of the running or stopped containers of a namespace. */
export async function containerNames(docker: Dockerode, namespace: string): Promise<string[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`dde.namespace=${namespace}`] },
  });
  return containers.map((container) => (container.Names[0] ?? '').replace(/^\//, ''));
}

/** A temporary data directory for one demo instance. */
export function dataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'dde-demo-data-'));
}
