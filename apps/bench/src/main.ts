/**
 * `npm run bench`: one upstream container launched through dde, then the same HTTP load
 * against it directly, through dde (Koa and Express), nginx and configurable-http-proxy, and a
 * WebSocket echo figure direct vs dde. Prints a table and writes `results/latest.{json,md}`.
 * `--suite` adds the suites beyond the hot path (suites/), each writing `results/<id>.*`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LABELS } from '@dde/core';
import { cleanupNamespace } from '@dde/test-support';
import Docker from 'dockerode';
import { interrupted, onCleanup, runWithCleanup } from './cleanup.ts';
import { type BenchConfig, readConfig, USAGE } from './config.ts';
import { startDde } from './dde.ts';
import { autocannonGenerator } from './load/autocannon.ts';
import type { LoadGenerator } from './load/types.ts';
import { wrkGenerator } from './load/wrk.ts';
import { describeMachine, type MachineInfo } from './machine.ts';
import { log, measureHttp, measureWs, primeInProcess } from './measure.ts';
import { findExecutable } from './processes.ts';
import {
  type BenchResult,
  checkTargets,
  type Measurement,
  medianOfRounds,
  proxyCharts,
  renderMarkdown,
  renderText,
} from './report.ts';
import { roundOrder } from './rounds.ts';
import { SUITES } from './suites/index.ts';
import { renderSuiteMarkdown, writeCharts, writeReport, writeSuiteResult } from './suites/write.ts';
import { caddyTarget } from './targets/caddy.ts';
import { chpTarget } from './targets/chp.ts';
import { directTarget } from './targets/direct.ts';
import { nginxTarget } from './targets/nginx.ts';
import type { Target } from './targets/types.ts';
import { buildUpstreamImage } from './upstream/image.ts';

const RESPONSE_BYTES = 1024;

/** wrk when installed (lighter on 2 cores), else autocannon, unless the config forces one. */
async function chooseGenerator(config: BenchConfig): Promise<LoadGenerator> {
  if (config.load === 'autocannon') return autocannonGenerator();
  const wrk = await findExecutable('wrk');
  if (wrk) return wrkGenerator(wrk, config.wrkThreads);
  if (config.load === 'wrk') throw new Error('--load wrk: wrk is not installed (apt-get install wrk)');
  return autocannonGenerator();
}

const RESULTS = new URL('../results/', import.meta.url);

async function main(): Promise<void> {
  const config = readConfig();
  if (config === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  const docker = new Docker();
  const machine = await describeMachine(docker);
  for (const id of config.suites) {
    // BENCH_NAMESPACE_PREFIX: runs sharing an engine keep apart by label (default `bench`).
    const namespace = `${process.env.BENCH_NAMESPACE_PREFIX || 'bench'}-${randomBytes(4).toString('hex')}`;
    if (id === 'proxy') {
      await runProxySuite(config, docker, namespace, machine);
      continue;
    }
    const suite = SUITES[id];
    if (suite === undefined) throw new Error(`--suite ${id}: not implemented yet`);
    log(`== suite ${id} (namespace ${namespace})`);
    onCleanup(`removing what is left in namespace ${namespace}`, () => cleanupNamespace(docker, namespace));
    const result = await suite({ docker, namespace, machine, config, log });
    const record = await writeSuiteResult(RESULTS, result, machine);
    process.stdout.write(`\n${renderSuiteMarkdown(record)}\n`);
    log(`wrote results/${id}.json and results/${id}.md`);
  }
}

/** The original hot-path run: small keep-alive GETs and WebSocket echoes against every peer. */
async function runProxySuite(
  config: BenchConfig,
  docker: Docker,
  namespace: string,
  machine: MachineInfo,
): Promise<void> {
  const generator = await chooseGenerator(config);
  log(`namespace ${namespace}; load generator: ${generator.name}`);

  const image = `dde-bench-upstream:${namespace}`;
  log(`building ${image} (this machine's node binary in a scratch image)...`);
  onCleanup(`removing image ${image}`, () => docker.getImage(image).remove({ force: true }));
  await buildUpstreamImage(docker, image, { [LABELS.namespace]: namespace });

  const dde = await startDde({ namespace, image });
  log(`upstream ${dde.upstream.name} at ${dde.upstream.upstream.host}:${dde.upstream.upstream.port}`);

  const selected = (targets: Target[]) => targets.filter((t) => config.only?.has(t.id) ?? true);
  const nginx = await nginxTarget(config.nginxWorkers);
  const caddy = await caddyTarget(config.caddyProcs);
  const httpTargets = selected([directTarget, dde.core, dde.koa, dde.express, nginx, caddy, chpTarget]);
  const wsTargets = selected([directTarget, dde.koa]);
  const httpRun = {
    generator,
    connections: config.connections,
    seconds: config.seconds,
    warmupSeconds: config.warmupSeconds,
    profileDir: config.cpuProf ? fileURLToPath(new URL('../results/profiles/', import.meta.url)) : undefined,
  };
  if (httpRun.profileDir) await mkdir(httpRun.profileDir, { recursive: true });
  const wsRun = {
    connections: config.wsConnections,
    seconds: config.seconds,
    warmupSeconds: config.warmupSeconds,
    messageBytes: config.wsMessageBytes,
  };
  await primeInProcess(httpTargets, dde.upstream, httpRun);
  // Rounds interleave the targets, so a burst of outside load hits one round of each at most,
  // and each round starts one target later, so no target is always the first one measured.
  const httpRounds = httpTargets.map((): Measurement[] => []);
  const wsRounds = wsTargets.map((): Measurement[] => []);
  for (let round = 1; round <= config.rounds; round++) {
    if (config.rounds > 1) log(`-- round ${round} of ${config.rounds}`);
    for (const i of roundOrder(httpTargets.length, round)) {
      httpRounds[i]?.push(await measureHttp(httpTargets[i] as Target, dde.upstream, httpRun));
    }
    for (const i of roundOrder(wsTargets.length, round)) {
      wsRounds[i]?.push(await measureWs(wsTargets[i] as Target, dde.upstream, wsRun));
    }
  }
  const http = httpRounds.map(medianOfRounds);
  const ws = wsRounds.map(medianOfRounds);

  const result: BenchResult = {
    date: new Date().toISOString(),
    machine,
    loadGenerator: generator.name,
    settings: {
      rounds: config.rounds,
      connections: config.connections,
      seconds: config.seconds,
      warmupSeconds: config.warmupSeconds,
      wsConnections: config.wsConnections,
      wsMessageBytes: config.wsMessageBytes,
      responseBytes: RESPONSE_BYTES,
    },
    http,
    ws,
    checks: checkTargets(http),
  };
  process.stdout.write(`\n${renderText(result)}\n`);
  // A partial run (--only) must not overwrite the figures the README shows.
  const name = config.only ? 'partial' : 'latest';
  await mkdir(RESULTS, { recursive: true });
  await writeFile(new URL(`${name}.json`, RESULTS), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(new URL(`${name}.md`, RESULTS), renderMarkdown(result));
  if (name === 'latest') {
    await writeCharts(RESULTS, 'proxy', { charts: proxyCharts(result) });
    await writeReport(RESULTS);
  }
  log(`\nwrote results/${name}.json and results/${name}.md`);
}

await runWithCleanup(main).catch((error: unknown) => {
  // After a signal, whatever was under way fails: the signal handler already said why.
  if (interrupted()) return;
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
