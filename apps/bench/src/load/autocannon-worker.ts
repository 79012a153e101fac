/**
 * Runs autocannon in a process of its own (never inside the proxy under test) and prints its
 * result as one JSON line. Argument: `{"url":...,"connections":...,"seconds":...}`.
 */
import autocannon from 'autocannon';
import type { LoadResult } from './types.ts';

const { url, connections, seconds } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  connections: number;
  seconds: number;
};
const result = await autocannon({ url, connections, duration: seconds, pipelining: 1, timeout: 5 });
const output: LoadResult = {
  requestsPerSecond: result.requests.total / result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  requests: result.requests.total,
  errors: result.errors + result.timeouts + result.non2xx,
  seconds: result.duration,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
