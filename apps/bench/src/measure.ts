/** Runs one target under load: start, warm up, measure, stop; a failure becomes a note, not a crash. */
import { join } from 'node:path';
import { interrupted } from './cleanup.ts';
import type { CpuTime } from './cpu.ts';
import type { LoadGenerator, LoadResult } from './load/types.ts';
import type { WsEchoOptions } from './load/ws-echo.ts';
import { measureWsEcho } from './load/ws-echo.ts';
import { profiled } from './profile.ts';
import type { Measurement } from './report.ts';
import type { Target, UpstreamTarget } from './targets/types.ts';

/** Progress lines go to stderr so that stdout carries only the report. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** HTTP settings shared by every target. */
export interface HttpRun {
  /** The load generator. */
  readonly generator: LoadGenerator;
  /** Concurrent connections. */
  readonly connections: number;
  /** Measured seconds. */
  readonly seconds: number;
  /** Unmeasured warm-up seconds (JIT, connection pools). */
  readonly warmupSeconds: number;
  /** Where to write CPU profiles of in-process targets' measured runs (`<dir>/<id>.cpuprofile`), if anywhere. */
  readonly profileDir?: string | undefined;
}

/** The proxy's CPU per request between two samples, when both exist. */
function cpuPerRequest(
  before: CpuTime | undefined,
  after: CpuTime | undefined,
  requests: number,
): Pick<LoadResult, 'proxyCpuUsPerRequest' | 'proxySystemShare'> {
  if (before === undefined || after === undefined || requests === 0) return {};
  const user = after.userUs - before.userUs;
  const system = after.systemUs - before.systemUs;
  const total = user + system;
  return { proxyCpuUsPerRequest: total / requests, proxySystemShare: total > 0 ? system / total : 0 };
}

function summary(result: LoadResult, unit: string): string {
  const cpu =
    result.proxyCpuUsPerRequest === undefined
      ? ''
      : `, proxy CPU ${Math.round(result.proxyCpuUsPerRequest)} us/req (${Math.round((result.proxySystemShare ?? 0) * 100)}% system)`;
  const latency = `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`;
  return `${Math.round(result.requestsPerSecond)} ${unit}, ${latency}, ${result.errors} errors${cpu}`;
}

async function withTarget(
  target: Target,
  upstream: UpstreamTarget,
  run: (running: Awaited<ReturnType<Target['start']>>) => Promise<Measurement>,
): Promise<Measurement> {
  const reason = await target.unavailable();
  if (reason !== undefined) {
    log(`${target.label}: ${reason}`);
    return { id: target.id, label: target.label, skipped: reason };
  }
  try {
    const running = await target.start(upstream);
    try {
      return await run(running);
    } finally {
      await running.stop();
    }
  } catch (error) {
    if (interrupted()) throw error;
    const message = (error as Error).message.split('\n')[0] ?? 'failed';
    log(`${target.label}: FAILED: ${(error as Error).message}`);
    return { id: target.id, label: target.label, skipped: `failed: ${message}` };
  }
}

/** Requests/s and latency of `target` under the HTTP load. */
export function measureHttp(
  target: Target,
  upstream: UpstreamTarget,
  settings: HttpRun,
): Promise<Measurement> {
  return withTarget(target, upstream, async (running) => {
    log(
      `${target.label}: ${running.httpUrl} warm-up ${settings.warmupSeconds} s, then ${settings.seconds} s`,
    );
    const options = { connections: settings.connections };
    await settings.generator.run(running.httpUrl, { ...options, seconds: settings.warmupSeconds });
    const before = await running.cpuTime?.();
    const measured = () => settings.generator.run(running.httpUrl, { ...options, seconds: settings.seconds });
    const profile =
      settings.profileDir && running.inProcess
        ? join(settings.profileDir, `${target.id}.cpuprofile`)
        : undefined;
    const load = profile ? await profiled(profile, measured) : await measured();
    if (profile) log(`  CPU profile: ${profile}`);
    const after = await running.cpuTime?.();
    const result = { ...load, ...cpuPerRequest(before, after, load.requests) };
    log(`  ${summary(result, 'req/s')}`);
    return { id: target.id, label: target.label, result };
  });
}

/**
 * Gives the process hosting the in-process targets (dde's handlers) its own warm-up, unmeasured:
 * each in-process target gets one run as long as a measurement (warm-up plus measured seconds)
 * before any target is measured. Without it the first one measured paid for the whole process
 * coming up to speed (code shared by every handler, node:http's among it, still being optimised
 * on the second core, and costlier scavenges): the core handler, always measured first, showed
 * twice the adapters' p99 though it does less than they do; the same handler measured again
 * later in the same process cost a quarter less CPU per request. A 2 s priming was not enough
 * (bench README, "Order: the first one measured"). Targets in processes of their own (nginx,
 * Caddy, chp) start fresh for each measurement anyway.
 */
export async function primeInProcess(
  targets: readonly Target[],
  upstream: UpstreamTarget,
  settings: HttpRun,
): Promise<void> {
  for (const target of targets) {
    // A target that cannot run says so when it is measured.
    await withTarget(target, upstream, async (running) => {
      if (running.inProcess) {
        const seconds = settings.warmupSeconds + settings.seconds;
        log(`${target.label}: priming the bench process, ${seconds} s unmeasured`);
        await settings.generator.run(running.httpUrl, { connections: settings.connections, seconds });
      }
      return { id: target.id, label: target.label };
    });
  }
}

/** WebSocket echo round trips/s of `target`. */
export function measureWs(
  target: Target,
  upstream: UpstreamTarget,
  options: WsEchoOptions,
): Promise<Measurement> {
  return withTarget(target, upstream, async ({ wsUrl }) => {
    if (wsUrl === undefined) throw new Error('this target does not proxy WebSockets');
    log(`${target.label}: WebSocket echo ${wsUrl}`);
    const result = await measureWsEcho(wsUrl, options);
    log(`  ${summary(result, 'msg/s')}`);
    return { id: target.id, label: target.label, result };
  });
}
