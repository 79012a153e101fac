/**
 * Suite `memory`: what idle connections cost a proxy. Each peer runs in a process of its own
 * (dde's proxy in proxy-child.ts, so nothing of the benchmark counts), is warmed up, and then
 * its resident memory is read idle and again with N idle keep-alive HTTP connections (one
 * answered GET each) or N open WebSockets (one echo each) held by this process. A fresh proxy
 * for each kind and round, so what one load leaves behind never counts for the other.
 * `BENCH_MEMORY_CONNECTIONS` sets N (default 1,000).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LABELS } from '@dde/core';
import { onCleanup } from '../cleanup.ts';
import { startDde } from '../dde.ts';
import { caddyTarget } from '../targets/caddy.ts';
import { nginxTarget } from '../targets/nginx.ts';
import type { RunningTarget, Target, UpstreamTarget } from '../targets/types.ts';
import { buildUpstreamImage } from '../upstream/image.ts';
import { type HeldConnections, holdKeepAlive, holdWebSockets } from './memory/connections.ts';
import { ddeChildTarget, type RunningChildProxy } from './memory/dde-child.ts';
import {
  type ConnectionKind,
  figuresOf,
  type MemorySample,
  memoryChart,
  memoryChecks,
  memoryTable,
} from './memory/figures.ts';
import { treeMemory } from './memory/rss.ts';
import type { Suite, SuiteContext } from './types.ts';

/** Time for sockets, buffers and the allocator to settle before a reading. */
const SETTLE_MS = 2000;
/** Connections opened (and closed again) before the idle reading: code compiled, pools made. */
const WARM_UP_CONNECTIONS = 20;

const HOLD: Record<ConnectionKind, (running: RunningTarget, count: number) => Promise<HeldConnections>> = {
  'keep-alive': (running, count) => holdKeepAlive(running.httpUrl, count),
  websocket: (running, count) => {
    if (running.wsUrl === undefined) throw new Error('this peer does not proxy WebSockets');
    return holdWebSockets(running.wsUrl, count);
  },
};

function connectionCount(): number {
  const raw = process.env.BENCH_MEMORY_CONNECTIONS;
  const n = raw === undefined || raw === '' ? 1000 : Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`BENCH_MEMORY_CONNECTIONS must be a positive whole number, got "${raw}"`);
  }
  return n;
}

/** The peers (`--only` picks some); each must run in a process of its own (its RunningTarget has a `pid`). */
async function peers(context: SuiteContext): Promise<Target[]> {
  const all = [
    ddeChildTarget('koa', context.namespace),
    ddeChildTarget('core', context.namespace),
    await nginxTarget(context.config.nginxWorkers),
    await caddyTarget(context.config.caddyProcs),
  ];
  return all.filter((peer) => context.config.only?.has(peer.id) ?? true);
}

async function reading(running: RunningTarget, pid: number) {
  await sleep(SETTLE_MS);
  const heap =
    'collectGarbage' in running ? await (running as RunningChildProxy).collectGarbage() : undefined;
  if (heap !== undefined) await sleep(500); // let freed pages go back before reading RSS
  return { memory: await treeMemory(pid), heap: heap && heap.heapUsed + heap.external };
}

async function measure(
  peer: Target,
  upstream: UpstreamTarget,
  kind: ConnectionKind,
  round: number,
  connections: number,
  log: (message: string) => void,
): Promise<MemorySample> {
  const base = { peer: peer.id, label: peer.label, kind, round };
  const reason = await peer.unavailable();
  if (reason !== undefined) return { ...base, skipped: reason };
  try {
    const running = await peer.start(upstream);
    try {
      const { pid } = running;
      if (pid === undefined) throw new Error('it does not run in a process of its own');
      await (await HOLD[kind](running, WARM_UP_CONNECTIONS)).closeAll();
      const idle = await reading(running, pid);
      const held = await HOLD[kind](running, connections);
      try {
        const loaded = await reading(running, pid);
        const sample = {
          ...base,
          before: idle.memory,
          after: loaded.memory,
          heapBefore: idle.heap,
          heapAfter: loaded.heap,
          open: held.open(),
        };
        const perConnection = (loaded.memory.rssKiB - idle.memory.rssKiB) / connections;
        log(
          `  ${peer.label}, ${kind}: idle ${(idle.memory.rssKiB / 1024).toFixed(1)} MiB, ` +
            `${perConnection.toFixed(1)} KiB RSS per connection, ${sample.open}/${connections} open`,
        );
        return sample;
      } finally {
        await held.closeAll();
      }
    } finally {
      await running.stop();
    }
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'failed';
    log(`  ${peer.label}, ${kind}: FAILED: ${(error as Error).message}`);
    return { ...base, skipped: `failed: ${message}` };
  }
}

export const memorySuite: Suite = async (context) => {
  const { docker, namespace, config, log } = context;
  const connections = connectionCount();
  const image = `dde-bench-upstream:${namespace}`;
  log(`building ${image}...`);
  onCleanup(`removing image ${image}`, () => docker.getImage(image).remove({ force: true }));
  await buildUpstreamImage(docker, image, { [LABELS.namespace]: namespace });
  const { upstream } = await startDde({ namespace, image });
  const targets = await peers(context);
  const kinds: ConnectionKind[] = ['keep-alive', 'websocket'];
  const samples: MemorySample[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    log(`-- round ${round} of ${config.rounds}: ${connections} connections each`);
    for (const kind of kinds) {
      for (const peer of targets) samples.push(await measure(peer, upstream, kind, round, connections, log));
    }
  }
  const figures = kinds.flatMap((kind) =>
    targets.map((peer) =>
      figuresOf(
        samples.filter((s) => s.peer === peer.id && s.kind === kind),
        connections,
      ),
    ),
  );
  return {
    id: 'memory',
    title: 'Memory per connection',
    description:
      `The resident memory each proxy's processes add for ${connections.toLocaleString('en-US')} idle keep-alive ` +
      `HTTP connections (one answered GET each) and for as many open WebSockets (one echo each), opened ` +
      `50 at a time from the benchmark's process. Each proxy runs alone in its own process(es), fresh for each ` +
      `kind and round, warmed up with ${WARM_UP_CONNECTIONS} connections, then read idle and loaded after ` +
      `${SETTLE_MS / 1000} s to settle (dde: after two full GCs). A WebSocket costs a proxy two sockets ` +
      `(client and upstream). Median of ${config.rounds} round${config.rounds === 1 ? '' : 's'}.`,
    tables: kinds.map((kind) => memoryTable(kind, figures, connections)),
    charts: [memoryChart(figures)],
    checks: memoryChecks(figures, connections),
    data: { connections, settleMs: SETTLE_MS, warmUpConnections: WARM_UP_CONNECTIONS, figures, samples },
  };
};
