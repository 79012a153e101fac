/** What the proxies run as child processes (nginx, Caddy) share: a temp directory and the wait for their first answer. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../cleanup.ts';
import { processTreeCpuTime } from '../cpu.ts';
import { type Child, waitForHttp } from '../processes.ts';
import { publicPath, type RunningTarget, type UpstreamTarget } from './types.ts';

/** A fresh temp directory `dde-bench-<name>-*`, removed on cleanup or by `remove`. */
export async function tempDir(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `dde-bench-${name}-`));
  return { dir, remove: onCleanup(`removing ${dir}`, () => rm(dir, { recursive: true, force: true })) };
}

/**
 * Waits until the proxy `child` answers on 127.0.0.1:`port` (or fails with its output if it
 * exits first); the running target stops it and removes its directory.
 */
export async function childProxy(
  name: string,
  child: Child,
  port: number,
  target: UpstreamTarget,
  removeDir: () => Promise<void>,
): Promise<RunningTarget> {
  const url = `http://127.0.0.1:${port}${publicPath(target.name)}`;
  await Promise.race([
    waitForHttp(url),
    child.exited.then((code) => {
      throw new Error(`${name} exited with ${code}: ${child.output()}`);
    }),
  ]);
  return {
    httpUrl: url,
    wsUrl: url.replace('http:', 'ws:'),
    pid: child.process.pid,
    cpuTime: () => processTreeCpuTime(child.process.pid ?? -1),
    stop: async () => {
      await child.stop();
      await removeDir();
    },
  };
}
