/** Large transfers (HTTP bodies, WebSocket streams and frames), timed by a separate process. */
import { fileURLToPath } from 'node:url';
import { runChild } from '../processes.ts';

const WORKER = fileURLToPath(new URL('./transfer-worker.ts', import.meta.url));

/** What is transferred: an HTTP download or upload, a one-way WebSocket stream, one echoed frame. */
export type TransferMode = 'download' | 'upload' | 'ws-stream' | 'ws-frame';

/** The duration of each of `repeats` transfers of `bytes` bytes, one after another, in seconds. */
export async function measureTransfer(
  url: string,
  mode: TransferMode,
  bytes: number,
  repeats: number,
): Promise<number[]> {
  const stdout = await runChild(process.execPath, [WORKER, JSON.stringify({ url, mode, bytes, repeats })]);
  return (JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { seconds: number[] }).seconds;
}
