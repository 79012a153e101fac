/** The machine a result was measured on, printed with every result. */
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import type Docker from 'dockerode';

/** Hardware and software that shape the figures. */
export interface MachineInfo {
  /** CPU model name. */
  readonly cpu: string;
  /** Cores this process may use. */
  readonly cores: number;
  /** Total memory, in GiB. */
  readonly memoryGiB: number;
  /** Kernel release. */
  readonly kernel: string;
  /** Node.js version running the proxies. */
  readonly node: string;
  /** Docker Engine version. */
  readonly docker: string;
  /** One-minute load average when the run started: above ~0.5, something else competes for the CPU. */
  readonly loadAverage: number;
}

/** Describes this machine and the engine `docker` talks to. */
export async function describeMachine(docker: Docker): Promise<MachineInfo> {
  const version = (await docker.version()) as { Version?: string };
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    docker: version.Version ?? 'unknown',
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}
