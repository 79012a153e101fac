/**
 * A proxy's resident memory, from /proc: the sum over the process and its descendants (nginx's
 * master and workers) of VmRSS (`/proc/<pid>/status`) and of Pss (`/proc/<pid>/smaps_rollup`,
 * which splits shared pages among the processes sharing them, so a tree's sum counts them once).
 */
import { readFile } from 'node:fs/promises';
import { processTree } from '../../cpu.ts';

/** Memory of a process tree, in KiB. */
export interface TreeMemory {
  /** Sum of VmRSS. */
  readonly rssKiB: number;
  /** Sum of Pss. */
  readonly pssKiB: number;
  /** How many processes were summed. */
  readonly processes: number;
}

/** The value of a `Name:   1234 kB` line (as in /proc/<pid>/status and smaps_rollup), or undefined. */
export function kibField(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The memory of `pid` and its live descendants; throws when `pid` is gone or /proc is missing. */
export async function treeMemory(pid: number): Promise<TreeMemory> {
  const tree = await processTree(pid);
  if (tree === undefined) throw new Error('the memory suite reads /proc: it runs on Linux only');
  let rssKiB = 0;
  let pssKiB = 0;
  let processes = 0;
  for (const member of tree) {
    const [status, rollup] = await Promise.all([
      readFile(`/proc/${member}/status`, 'utf8').catch(() => undefined),
      readFile(`/proc/${member}/smaps_rollup`, 'utf8').catch(() => undefined),
    ]);
    const rss = status === undefined ? undefined : kibField(status, 'VmRSS');
    if (rss === undefined) {
      if (member === pid) throw new Error(`process ${pid} is gone`);
      continue; // a descendant that just exited
    }
    rssKiB += rss;
    pssKiB += (rollup === undefined ? undefined : kibField(rollup, 'Pss')) ?? rss;
    processes++;
  }
  return { rssKiB, pssKiB, processes };
}

/** KiB per connection between two samples of the same tree. */
export function perConnection(
  before: TreeMemory,
  after: TreeMemory,
  connections: number,
): { rssKiB: number; pssKiB: number } {
  return {
    rssKiB: (after.rssKiB - before.rssKiB) / connections,
    pssKiB: (after.pssKiB - before.pssKiB) / connections,
  };
}
