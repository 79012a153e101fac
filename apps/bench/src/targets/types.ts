import type { Upstream } from '@dde/core';
import type { CpuTime } from '../cpu.ts';

/** What every proxy under test is pointed at: the one upstream container. */
export interface UpstreamTarget {
  /** The container's name, also its routing key under `/docker/<name>/`. */
  readonly name: string;
  /** The container's bridge address. */
  readonly upstream: Upstream;
}

/** A running proxy (or the upstream itself) ready for load. */
export interface RunningTarget {
  /** The URL the HTTP load generator requests. */
  readonly httpUrl: string;
  /** The URL the WebSocket echo clients open, when the target is part of the WebSocket figure. */
  readonly wsUrl?: string;
  /** Whether the proxy runs in this process (so an in-process CPU profile covers it). */
  readonly inProcess?: boolean;
  /** The proxy's process when it runs in one of its own (its descendants count with it), for memory figures. */
  readonly pid?: number;
  /** Cumulative CPU time of the proxy's process(es); absent for the direct baseline. */
  cpuTime?(): Promise<CpuTime | undefined>;
  /** Stops what was started for this target. */
  stop(): Promise<void>;
}

/** A contestant in the benchmark. */
export interface Target {
  /** Short id, used in JSON output and `--only`. */
  readonly id: string;
  /** Human-readable name for the table. */
  readonly label: string;
  /** Why this target cannot run here (e.g. "not installed"), or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  /** Starts the target for this upstream. */
  start(upstream: UpstreamTarget): Promise<RunningTarget>;
}

/** The public path prefix every proxy serves the upstream under. */
export function publicPath(name: string): string {
  return `/docker/${name}/`;
}
