/**
 * wrk (C, epoll): the lighter load generator, preferred when installed because on a 2-core
 * machine it leaves more CPU to the proxy under test than autocannon does. A Lua `done` hook
 * prints the numbers as JSON so nothing depends on wrk's human-readable units.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../cleanup.ts';
import { runChild } from '../processes.ts';
import type { LoadGenerator, LoadOptions, LoadResult } from './types.ts';

const MARKER = 'WRK_RESULT ';

const DONE_SCRIPT = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARKER}{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

/** Parses the JSON line the `done` hook printed among wrk's output. */
export function parseWrkOutput(stdout: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) throw new Error(`wrk printed no result line:\n${stdout}`);
  const raw = JSON.parse(line.slice(MARKER.length)) as {
    requests: number;
    durationUs: number;
    p50Us: number;
    p99Us: number;
    errors: number;
  };
  const seconds = raw.durationUs / 1e6;
  return {
    requestsPerSecond: raw.requests / seconds,
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    requests: raw.requests,
    errors: raw.errors,
    seconds,
  };
}

/** A wrk generator using `threads` threads (1 leaves the other core to the proxy). */
export async function wrkGenerator(executable: string, threads: number): Promise<LoadGenerator> {
  const dir = await mkdtemp(join(tmpdir(), 'dde-bench-wrk-'));
  onCleanup(`removing ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'done.lua');
  await writeFile(script, DONE_SCRIPT);
  // `wrk --version` prints its banner and exits 1.
  const banner = await runChild(executable, ['--version'], { combinedOutput: true, anyExitCode: true });
  const version = /wrk (\S+)/.exec(banner)?.[1] ?? 'unknown version';
  return {
    name: `wrk ${version} (${threads} thread${threads === 1 ? '' : 's'})`,
    async run(url: string, options: LoadOptions): Promise<LoadResult> {
      const args = [`-t${threads}`, `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '5s'];
      const stdout = await runChild(executable, [...args, '-s', script, url]);
      return parseWrkOutput(stdout);
    },
  };
}
