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

/**
 * CPU time of a process and all its live descendants (nginx's workers), from /proc; undefined
 * where there is no /proc (not Linux).
 */
export async function processTreeCpuTime(pid: number): Promise<CpuTime | undefined> {
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
  let userTicks = 0;
  let systemTicks = 0;
  const tree = new Set([pid]);
  // Parents before children is not guaranteed: repeat until no new descendant turns up.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, [ppid]] of stats) {
      if (tree.has(ppid) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
    }
  }
  for (const member of tree) {
    const stat = stats.get(member);
    if (stat === undefined) continue;
    userTicks += stat[1];
    systemTicks += stat[2];
  }
  return { userUs: userTicks * TICK_US, systemUs: systemTicks * TICK_US };
}
