/**
 * CPU time spent by the proxy under test while the load ran: it tells whether a proxy is slow
 * because of its own code (user time) or because of system calls and the network stack
 * (system time), which no JavaScript change removes.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Cumulative CPU time, in microseconds. */
export interface CpuTime {
  /** In the process's own code. */
  readonly userUs: number;
  /** In the kernel on its behalf (system calls, TCP). */
  readonly systemUs: number;
}

/** This process's CPU time (dde's proxies run in it). */
export function ownCpuTime(): CpuTime {
  const { user, system } = process.cpuUsage();
  return { userUs: user, systemUs: system };
}

// Linux reports utime and stime in clock ticks of 1/100 s on every common architecture.
const TICK_US = 10_000;

/** `[ppid, utime, stime]` from a /proc/<pid>/stat line; the name field may hold spaces. */
export function parseProcStat(line: string): [ppid: number, utime: number, stime: number] {
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  // After the name: state(0) ppid(1) ... utime(11) stime(12).
  return [Number(fields[1]), Number(fields[11]), Number(fields[12])];
}

/** `pid` and every descendant of it in a pid -> parent pid map. */
export function treeOf(parents: ReadonlyMap<number, number>, pid: number): Set<number> {
  const tree = new Set([pid]);
  // Parents before children is not guaranteed: repeat until no new descendant turns up.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, ppid] of parents) {
      if (tree.has(ppid) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
    }
  }
  return tree;
}

/** Every live process's stat fields by pid; undefined where there is no /proc (not Linux). */
async function readProcStats(): Promise<Map<number, [number, number, number]> | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  const stats = new Map<number, [number, number, number]>();
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        const line = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
        if (line !== undefined) stats.set(Number(name), parseProcStat(line));
      }),
  );
  return stats;
}

function parentsOf(stats: Map<number, [number, number, number]>): Map<number, number> {
  return new Map([...stats].map(([child, [ppid]]) => [child, ppid]));
}

/** A process and its live descendants (nginx's workers), from /proc; undefined without /proc. */
export async function processTree(pid: number): Promise<Set<number> | undefined> {
  const stats = await readProcStats();
  if (stats === undefined) return undefined;
  return treeOf(parentsOf(stats), pid);
}

/**
 * CPU time of a process and all its live descendants (nginx's workers), from /proc; undefined
 * where there is no /proc (not Linux).
 */
export async function processTreeCpuTime(pid: number): Promise<CpuTime | undefined> {
  const stats = await readProcStats();
  if (stats === undefined) return undefined;
  let userTicks = 0;
  let systemTicks = 0;
  for (const member of treeOf(parentsOf(stats), pid)) {
    const stat = stats.get(member);
    if (stat === undefined) continue;
    userTicks += stat[1];
    systemTicks += stat[2];
  }
  return { userUs: userTicks * TICK_US, systemUs: systemTicks * TICK_US };
}
