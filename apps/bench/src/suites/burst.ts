/**
 * Suite `burst`: a class of 50 or 100 opening their tools at once. Every launch goes through
 * one manager (distinct owners, a memory budget that fits them all); the figure is the time
 * until every tool is ready, against the same number of `docker run` in parallel, each polled
 * until it answers. Then with `maxConcurrentStarts`: launches beyond the limit wait in the
 * manager's start queue (phase `queued`, first come first served) and start as slots free, so
 * every client calls `launch()` once, without retrying; the table shows how long each waited in
 * the queue and the most containers that were starting at once. After each burst the engine is
 * checked: every container running, and none left once they are removed.
 */

import type { ContainerPhase, PhaseChange } from '@dde/core';
import { isDdeError } from '@dde/core';
import type Docker from 'dockerode';
import { baselineNamespace, dockerRemove, dockerRun } from './launch/docker-run.ts';
import { containersByState, total } from './launch/engine.ts';
import { getStatus, nowMs, pollUntil200 } from './launch/poll.ts';
import { type DdeStack, startStack } from './launch/stack.ts';
import { mapLimit, ms, ratio, summarize } from './launch/stats.ts';
import { buildHttpdImage, HTTPD_RESERVATION_MB, LAUNCH_DEADLINE_MS, TOOL_PORT } from './launch/tools.ts';
import type { BarChart, Cell, Suite, SuiteCheck, SuiteContext } from './types.ts';

const STARTING: ReadonlySet<ContainerPhase> = new Set(['pulling', 'creating', 'starting', 'probing']);
// Removals and checks after a burst: at most this many engine calls at once.
const CLEANUP_CONCURRENCY = 16;

/** One burst's outcome. */
export interface BurstRun {
  readonly size: number;
  /** `docker run` for the baseline, else `dde` with its limit. */
  readonly contestant: string;
  readonly maxConcurrentStarts: number | undefined;
  /** First launch call to the last tool ready, ms. */
  readonly allReadyMs: number;
  /** Per launch: its call to ready, ms. */
  readonly readyMs: number[];
  /** Per launch: its call to its admission (leaving the start queue), ms. */
  readonly waitMs: number[];
  /** Launches that waited in the start queue. */
  readonly queued: number;
  /** The most containers starting at once (admitted, not yet ready). */
  readonly mostStarting: number;
  /** Launches refused with `LIMIT_EXCEEDED` (none should be: they queue). */
  readonly refusals: number;
  /** Launches that failed for another reason (not retried). */
  readonly failures: string[];
  /** Launched tools that did not answer 200 through the proxy afterwards. */
  readonly notServed: number;
  /** Containers the engine listed right after the burst, by state. */
  readonly engineAfterBurst: Record<string, number>;
  /** Containers the engine still listed after removing them all. */
  readonly orphans: number;
}

async function baselineBurst(
  docker: Docker,
  baselineNs: string,
  network: string,
  image: string,
  size: number,
): Promise<BurstRun> {
  const t0 = nowMs();
  const failures: string[] = [];
  const ids: string[] = [];
  const readyMs: number[] = [];
  await Promise.all(
    Array.from({ length: size }, async (_, i) => {
      try {
        const container = await dockerRun(docker, baselineNs, {
          name: `${baselineNs}-b${size}-${i}`,
          image,
          network,
          memoryReservationMb: HTTPD_RESERVATION_MB,
        });
        ids.push(container.id);
        const first = await pollUntil200(
          `http://${container.ip}:${TOOL_PORT}/`,
          AbortSignal.timeout(LAUNCH_DEADLINE_MS),
        );
        readyMs.push(first.at - t0);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }),
  );
  const allReadyMs = nowMs() - t0;
  const engineAfterBurst = await containersByState(docker, baselineNs);
  await mapLimit(ids, CLEANUP_CONCURRENCY, (id) => dockerRemove(docker, id));
  return {
    size,
    contestant: 'docker run -d + poll',
    maxConcurrentStarts: undefined,
    allReadyMs,
    readyMs,
    waitMs: [],
    queued: 0,
    mostStarting: 0,
    refusals: 0,
    failures,
    notServed: 0,
    engineAfterBurst,
    orphans: total(await containersByState(docker, baselineNs)),
  };
}

async function ddeBurst(
  context: SuiteContext,
  stack: DdeStack,
  image: string,
  size: number,
  limit: number | undefined,
): Promise<BurstRun> {
  const { manager } = stack;
  const tag = limit === undefined ? 'nolimit' : `max${limit}`;
  const names = Array.from({ length: size }, (_, i) => `${context.namespace}-${tag}-${size}-${i}`);
  let refusals = 0;
  const failures: string[] = [];
  const readyMs: number[] = [];
  const waitMs: number[] = [];
  const launched: string[] = [];
  // Admission (the route leaves `queued` for `creating`) and the starts under way, from the
  // manager's phase events.
  const queued = new Set<string>();
  const starting = new Set<string>();
  let mostStarting = 0;
  let t0 = nowMs();
  const onPhase = ({ name, phase }: PhaseChange): void => {
    if (phase === 'queued') queued.add(name);
    else if (phase === 'creating') {
      waitMs.push(nowMs() - t0);
      starting.add(name);
      mostStarting = Math.max(mostStarting, starting.size);
    } else if (!STARTING.has(phase)) starting.delete(name);
  };
  const onRemoved = ({ name }: { name: string }): void => {
    starting.delete(name);
  };
  manager.on('phase', onPhase);
  manager.on('removed', onRemoved);
  t0 = nowMs();
  await Promise.all(
    names.map(async (name, i) => {
      try {
        try {
          await manager.launch({
            name,
            image,
            port: TOOL_PORT,
            owner: `student-${i}`,
            memoryReservationMb: HTTPD_RESERVATION_MB,
          });
        } catch (error) {
          if (isDdeError(error) && error.code === 'LIMIT_EXCEEDED') refusals++;
          throw error;
        }
        launched.push(name);
        await manager.waitUntilReady(name, { signal: AbortSignal.timeout(LAUNCH_DEADLINE_MS) });
        readyMs.push(nowMs() - t0);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
      }
    }),
  );
  const allReadyMs = nowMs() - t0;
  manager.off('phase', onPhase);
  manager.off('removed', onRemoved);
  const engineAfterBurst = await containersByState(context.docker, context.namespace);
  const statuses = await mapLimit(launched, CLEANUP_CONCURRENCY, (name) => getStatus(stack.url(name)));
  const notServed = statuses.filter((status) => status !== 200).length;
  await mapLimit(names, CLEANUP_CONCURRENCY, (name) => manager.remove(name));
  return {
    size,
    contestant: limit === undefined ? 'dde' : `dde, maxConcurrentStarts ${limit}`,
    maxConcurrentStarts: limit,
    allReadyMs,
    readyMs,
    waitMs,
    queued: queued.size,
    mostStarting,
    refusals,
    failures,
    notServed,
    engineAfterBurst,
    orphans: total(await containersByState(context.docker, context.namespace)),
  };
}

/** The suite. */
export const burst: Suite = async (context) => {
  const { docker, namespace, config, log } = context;
  log('building the tool image (busybox httpd)...');
  const image = await buildHttpdImage(docker, namespace);
  const baselineNs = baselineNamespace(docker, namespace);
  const runs: BurstRun[] = [];
  const largest = Math.max(...config.burstSizes);
  const managerFor = (limit: number | undefined) =>
    startStack({
      namespace,
      manager: {
        capacity: { memoryBudgetMb: largest * HTTPD_RESERVATION_MB },
        ...(limit === undefined ? {} : { limits: { maxConcurrentStarts: limit } }),
      },
    });
  // One unmeasured launch creates dde's network (the baseline joins it) and warms the engine.
  const warm = await managerFor(undefined);
  await warm.manager.launch({ name: `${namespace}-warm`, image, port: TOOL_PORT });
  await warm.manager.waitUntilReady(`${namespace}-warm`, { signal: AbortSignal.timeout(LAUNCH_DEADLINE_MS) });
  await warm.manager.remove(`${namespace}-warm`);
  const network = warm.backend.network;
  await warm.close();

  for (const size of config.burstSizes) {
    log(`-- ${size} x docker run in parallel`);
    runs.push(await baselineBurst(docker, baselineNs, network, image, size));
    for (const limit of [undefined, ...config.burstStartLimits]) {
      log(`-- ${size} launches through dde${limit === undefined ? '' : ` (maxConcurrentStarts ${limit})`}`);
      const stack = await managerFor(limit);
      try {
        runs.push(await ddeBurst(context, stack, image, size, limit));
      } finally {
        await stack.close();
      }
    }
  }
  return report(config.burstSizes, runs);
};

function report(sizes: readonly number[], runs: readonly BurstRun[]) {
  const rows: Cell[][] = runs.map((run) => {
    const baseline = runs.find((r) => r.size === run.size && r.contestant.startsWith('docker'));
    const ready = summarize(run.readyMs);
    const wait = summarize(run.waitMs);
    return [
      `${run.size}: ${run.contestant}`,
      `${run.readyMs.length}/${run.size}`,
      ms(run.allReadyMs),
      baseline ? ratio(run.allReadyMs, baseline.allReadyMs) : '-',
      ms(ready.median),
      ms(ready.p95),
      run.waitMs.length > 0 ? ms(wait.median) : null,
      run.waitMs.length > 0 ? ms(wait.p95) : null,
      run.waitMs.length > 0 ? ms(wait.max) : null,
      run.contestant.startsWith('docker') ? null : run.queued,
      run.contestant.startsWith('docker') ? null : run.mostStarting,
      run.refusals,
      run.orphans,
    ];
  });
  const checks: SuiteCheck[] = [];
  for (const run of runs.filter((r) => !r.contestant.startsWith('docker'))) {
    const running = run.engineAfterBurst.running ?? 0;
    checks.push({
      name: `${run.size} launches at once (${run.contestant}): all ready and served`,
      target: `${run.size}/${run.size}`,
      measured: `${run.readyMs.length - run.notServed}/${run.size}${run.failures.length > 0 ? ` (${run.failures.length} failed)` : ''}`,
      met: run.failures.length === 0 && run.notServed === 0 && run.readyMs.length === run.size,
    });
    if (run.maxConcurrentStarts !== undefined) {
      checks.push({
        name: `${run.size} launches at once (${run.contestant}): queued, not refused; limit kept`,
        target: `0 refused, at most ${run.maxConcurrentStarts} starting at once`,
        measured: `${run.refusals} refused (${run.queued} queued), at most ${run.mostStarting} starting at once`,
        met: run.refusals === 0 && run.mostStarting <= run.maxConcurrentStarts,
      });
    }
    checks.push({
      name: `${run.size} launches at once (${run.contestant}): engine state`,
      target: `${run.size} running after the burst, 0 left after removal`,
      measured: `${running} running (${total(run.engineAfterBurst)} in all), ${run.orphans} left`,
      met: running === run.size && total(run.engineAfterBurst) === run.size && run.orphans === 0,
    });
  }
  const chart: BarChart = {
    kind: 'bar',
    title: 'Burst: time until every tool is ready',
    unit: 'ms',
    higherIsBetter: false,
    bars: runs.map((run) => ({ label: run.contestant, value: run.allReadyMs, group: `${run.size} at once` })),
  };
  return {
    id: 'burst' as const,
    title: 'Burst: many launches at once',
    description:
      `Bursts of ${sizes.join(' and ')} launches at once of a busybox httpd tool (${HTTPD_RESERVATION_MB} MB reservation ` +
      'each, distinct owners, a memory budget that fits the largest burst) through one ContainerManager on a real ' +
      "DockerBackend, until every route is ready; the baseline starts as many with `docker run -d` semantics on dde's " +
      'network and polls each until it answers. With `maxConcurrentStarts`, launches beyond the limit wait in the ' +
      "manager's start queue (first come, first served) and every client calls `launch()` once, without retrying: " +
      '"wait" is how long a launch waited to be admitted (its route leaving `queued`), "queued" how many waited, ' +
      '"most starting" the most containers starting at once. After each burst every tool is fetched through the Koa ' +
      'proxy and the engine is asked what runs; after removing them all, what is left.',
    tables: [
      {
        title: 'Time to all ready (ms)',
        columns: [
          'Burst: contestant',
          'ready',
          'all ready',
          'vs docker run',
          'each ready, median',
          'p95',
          'wait, median',
          'wait p95',
          'wait max',
          'queued',
          'most starting',
          'refused',
          'left after removal',
        ],
        rows,
      },
    ],
    charts: [chart],
    checks,
    data: { runs },
  };
}
