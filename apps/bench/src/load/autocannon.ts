/**
 * autocannon (Node): the fallback load generator when wrk is not installed. It is heavier than
 * wrk, so on a 2-core machine it takes CPU from the proxy under test and lowers every figure.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runChild } from '../processes.ts';
import type { LoadGenerator, LoadOptions, LoadResult } from './types.ts';

const WORKER = fileURLToPath(new URL('./autocannon-worker.ts', import.meta.url));

/** The autocannon generator; each run is a separate Node process. */
export function autocannonGenerator(): LoadGenerator {
  const { version } = createRequire(import.meta.url)('autocannon/package.json') as { version: string };
  return {
    name: `autocannon ${version} (separate Node process)`,
    async run(url: string, options: LoadOptions): Promise<LoadResult> {
      const stdout = await runChild(process.execPath, [WORKER, JSON.stringify({ url, ...options })]);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      return JSON.parse(last) as LoadResult;
    },
  };
}
