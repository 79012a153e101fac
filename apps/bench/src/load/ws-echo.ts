/** WebSocket echo round trips per second through a URL, measured by a separate process. */
import { fileURLToPath } from 'node:url';
import { runChild } from '../processes.ts';
import type { LoadResult } from './types.ts';

const WORKER = fileURLToPath(new URL('./ws-echo-worker.ts', import.meta.url));

/** How a WebSocket echo run goes. */
export interface WsEchoOptions {
  /** Concurrent WebSocket connections, each with one message in flight. */
  readonly connections: number;
  /** Measured duration, in seconds. */
  readonly seconds: number;
  /** Unmeasured run-up, in seconds. */
  readonly warmupSeconds: number;
  /** Size of each binary message. */
  readonly messageBytes: number;
}

/** Runs the echo load against `url` (`ws://...`); `requestsPerSecond` counts round trips. */
export async function measureWsEcho(url: string, options: WsEchoOptions): Promise<LoadResult> {
  const stdout = await runChild(process.execPath, [WORKER, JSON.stringify({ url, ...options })]);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as LoadResult;
}
