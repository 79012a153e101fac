/**
 * Where a proxy's latency tail comes from (`npm run tail-probe -w @dde/bench`): wrk (32
 * connections) against dde's core handler, the Koa adapter as it was before its fast path
 * (`koa-before`, the old middleware verbatim), the Koa adapter and the Express adapter, all in
 * this process over a local upstream in a child process, rounds interleaved. During each
 * measured run it records the garbage collector's pauses (PerformanceObserver `gc`), the event
 * loop's delay (monitorEventLoopDelay) and this process's CPU per request. `PROBE_HEAP=1` adds
 * a sampling heap profile: bytes allocated per request by package. Settings: `PROBE_SECONDS`
 * (6), `PROBE_WARMUP` (2), `PROBE_ROUNDS` (3), `PROBE_ONLY` (comma-separated variants).
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ContainerManager, createProxy, pathRouter } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import { expressProxy } from '@dde/proxy-express';
import { koaProxy } from '@dde/proxy-koa';
import express from 'express';
import Koa, { type Middleware } from 'koa';
import { onCleanup, runWithCleanup } from '../cleanup.ts';
import { percentile } from '../load/percentile.ts';
import { wrkGenerator } from '../load/wrk.ts';
import { findExecutable, freePort, startChild, waitForHttp } from '../processes.ts';

const SECONDS = Number(process.env.PROBE_SECONDS ?? 6);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 3);
const WARMUP = Number(process.env.PROBE_WARMUP ?? 2);
const ONLY = process.env.PROBE_ONLY?.split(',');
const out = (line: string) => process.stdout.write(`${line}\n`);

type Variant = (manager: ContainerManager) => {
  listener: RequestListener;
  attach?: (server: Server) => void;
};

const router = pathRouter({ prefix: '/docker' });
const VARIANTS: Record<string, Variant> = {
  core: (manager) => {
    const proxy = createProxy({ manager, router });
    return { listener: (req, res) => proxy.handleRequest(req, res) };
  },
  'koa-before': (manager) => {
    const proxy = createProxy({ manager, router });
    // The Koa adapter's middleware before its fast path, verbatim.
    const middleware: Middleware = (ctx, next) => {
      let passed = false;
      proxy.handleRequest(
        ctx.req,
        ctx.res,
        () => {
          passed = true;
        },
        ctx.originalUrl,
      );
      if (passed) return next();
      ctx.respond = false;
      return Promise.resolve();
    };
    const app = new Koa();
    app.use(middleware);
    return { listener: app.callback() };
  },
  koa: (manager) => {
    const app = new Koa();
    const proxy = koaProxy({ manager, router });
    app.use(proxy.middleware);
    return { listener: app.callback(), attach: (server) => proxy.attach(server) };
  },
  express: (manager) => {
    const app = express();
    app.disable('x-powered-by');
    const proxy = expressProxy({ manager, router });
    app.use(proxy.middleware);
    return { listener: app, attach: (server) => proxy.attach(server) };
  },
};

interface Row {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  scavenges: number;
  scavengeMaxMs: number;
  majorGcs: number;
  gcMs: number;
  eldP99: number;
  eldMax: number;
  allocated?: string;
}

interface HeapNode {
  readonly id: number;
  readonly callFrame: { readonly url: string };
  readonly children: readonly HeapNode[];
}

/** Bytes allocated per request, by package, from a sampling heap profile. */
async function allocations<T extends { requests: number }>(run: () => Promise<T>): Promise<[T, string]> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const result = await run();
  // @types/node leaves out `samples` and the nodes' ids, which the protocol has.
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
    profile: { head: HeapNode; samples: { nodeId: number; size: number }[] };
  };
  session.disconnect();
  const sizes = new Map<number, number>();
  for (const s of profile.samples) sizes.set(s.nodeId, (sizes.get(s.nodeId) ?? 0) + s.size);
  const byPackage = new Map<string, number>();
  const walk = (node: HeapNode): void => {
    const bytes = sizes.get(node.id) ?? 0;
    const url = node.callFrame.url;
    const where = url.includes('node_modules/')
      ? (url.split('node_modules/')[1]?.split('/')[0] ?? url)
      : url.includes('/packages/')
        ? `@dde/${url.split('/packages/')[1]?.split('/')[0]}`
        : url.startsWith('node:')
          ? 'node'
          : '(native)';
    byPackage.set(where, (byPackage.get(where) ?? 0) + bytes);
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const total = [...byPackage.values()].reduce((a, b) => a + b, 0);
  const parts = [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([k, v]) => `${k} ${Math.round(v / result.requests)}`);
  return [result, `${Math.round(total / result.requests)} B/req (${parts.join(', ')})`];
}

async function main(): Promise<void> {
  const upstreamPort = await freePort();
  startChild(process.execPath, [fileURLToPath(new URL('../upstream/server.ts', import.meta.url))], {
    env: { ...process.env, PORT: String(upstreamPort) },
  });
  await waitForHttp(`http://127.0.0.1:${upstreamPort}/`);
  const backend = new MemoryBackend({ namespace: 'bm-probe' });
  backend.setUpstream('tool', { host: '127.0.0.1', port: upstreamPort });
  backend.add({ name: 'tool' }, { silent: true });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0 });
  onCleanup('closing the manager', () => manager.close());
  await manager.start();
  await manager.waitUntilReady('tool');
  const wrkPath = await findExecutable('wrk');
  if (wrkPath === undefined) throw new Error('the tail probe needs wrk (apt-get install wrk)');
  const wrk = await wrkGenerator(wrkPath, 1);
  const variants = Object.entries(VARIANTS).filter(([id]) => ONLY?.includes(id) ?? true);
  const rows = new Map<string, Row[]>(variants.map(([id]) => [id, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [id, make] of variants) {
      const { listener, attach } = make(manager);
      const server = createServer(listener);
      attach?.(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/docker/tool/`;
      await wrk.run(url, { connections: 32, seconds: WARMUP });
      const pauses: { kind: number; ms: number }[] = [];
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          pauses.push({ kind: (e as unknown as { detail: { kind: number } }).detail.kind, ms: e.duration });
        }
      });
      observer.observe({ entryTypes: ['gc'] });
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const cpu0 = process.cpuUsage();
      const measured = () => wrk.run(url, { connections: 32, seconds: SECONDS });
      const [r, allocated] = process.env.PROBE_HEAP
        ? await allocations(measured)
        : [await measured(), undefined];
      const cpu = process.cpuUsage(cpu0);
      delay.disable();
      observer.disconnect();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      const minor = pauses.filter((p) => p.kind === 1);
      const row: Row = {
        rps: r.requestsPerSecond,
        p50: r.p50Ms,
        p99: r.p99Ms,
        cpuUs: (cpu.user + cpu.system) / r.requests,
        scavenges: (minor.length / r.requests) * 10_000,
        scavengeMaxMs: Math.max(0, ...minor.map((p) => p.ms)),
        majorGcs: pauses.filter((p) => p.kind === 4).length,
        gcMs: (pauses.reduce((s, p) => s + p.ms, 0) / (SECONDS * 1000)) * 1000,
        eldP99: delay.percentile(99) / 1e6,
        eldMax: delay.max / 1e6,
        ...(allocated ? { allocated } : {}),
      };
      rows.get(id)?.push(row);
      out(
        `round ${round} ${id.padEnd(10)} ${Math.round(row.rps)} req/s p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} ms, ` +
          `${row.cpuUs.toFixed(0)} us CPU/req, ${row.scavenges.toFixed(1)} scavenges/10k req (max ${row.scavengeMaxMs.toFixed(1)} ms), ` +
          `${row.majorGcs} major GCs, GC ${row.gcMs.toFixed(1)} ms/s, loop delay p99 ${row.eldP99.toFixed(2)} max ${row.eldMax.toFixed(1)} ms` +
          (row.allocated ? `\n   allocated ${row.allocated}` : ''),
      );
    }
  }
  const stat = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${(sorted[0] ?? 0).toFixed(2)} / ${percentile(sorted, 50).toFixed(2)}`;
  };
  out(
    `\nvariant     req/s min/median   p50 ms min/median   p99 ms min/median   CPU us/req min/median   GC ms/s min/median`,
  );
  for (const [id, list] of rows) {
    out(
      `${id.padEnd(10)}  ${stat(list.map((r) => r.rps)).padEnd(18)} ${stat(list.map((r) => r.p50)).padEnd(19)} ` +
        `${stat(list.map((r) => r.p99)).padEnd(19)} ${stat(list.map((r) => r.cpuUs)).padEnd(23)} ${stat(list.map((r) => r.gcMs))}`,
    );
  }
}

await runWithCleanup(main);
