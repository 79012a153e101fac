/**
 * Suite `ws`: WebSocket through dde (core handler and Koa), nginx, Caddy and two minimal Node
 * relays, against the upstream directly. Three figures per peer: echo round trips/s with p50
 * and p99 (small messages, many connections), a one-way stream (MB/s and the proxy's CPU per
 * MB), and the time one large binary frame takes to be echoed.
 */

import { measureTransfer } from '../load/transfer.ts';
import type { LoadResult } from '../load/types.ts';
import { measureWsEcho } from '../load/ws-echo.ts';
import { roundOrder } from '../rounds.ts';
import { caddyTarget } from '../targets/caddy.ts';
import { directTarget } from '../targets/direct.ts';
import { nginxTarget } from '../targets/nginx.ts';
import { onreadRelayTarget, pipeRelayTarget, rawRelayTarget } from '../targets/relays.ts';
import type { Target } from '../targets/types.ts';
import { onTarget, type PeerOutcome, selected, startUpstream } from './transfer/setup.ts';
import { cpuMsPer, MB, mbPerSecond, median, type RatioTarget, ratioCheck } from './transfer/stats.ts';
import type { Cell, Suite, SuiteCheck, SuiteContext, SuiteTable } from './types.ts';

/** One peer's figures in one round. */
interface WsRound {
  readonly echo: LoadResult;
  /** Proxy CPU per echoed message (both directions), in µs. */
  readonly echoCpuUs: number | undefined;
  /** Seconds of each one-way stream. */
  readonly streamSeconds: readonly number[];
  /** Proxy CPU per streamed MB, in ms. */
  readonly streamCpuMsPerMB: number | undefined;
  /** Seconds of each large frame's echo. */
  readonly frameSeconds: readonly number[];
}

/** One peer's figures over all rounds. */
interface WsPeer {
  readonly id: string;
  readonly label: string;
  readonly rounds: readonly PeerOutcome<WsRound>[];
}

/** The figures a table shows for one peer. */
interface WsFigures {
  readonly echoPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly echoCpuUs: number | undefined;
  readonly streamMBps: number | undefined;
  readonly streamCpuMsPerMB: number | undefined;
  readonly frameSeconds: number | undefined;
}

/**
 * Targets against nginx (the hand-tuned C proxy, upgrade headers set), set from its figures in
 * the first runs (bench README, `Suite: ws`): the echo and the stream cost a Node process two to
 * three times nginx's CPU per message or MB in the kernel and V8 alone, so the bar is the HTTP
 * path's (0.6x); a large frame is paced by the endpoints, so there dde should be near nginx.
 */
const TARGETS = {
  /** Echo round trips/s, at least this times nginx's. */
  echo: 0.6,
  /** Echo p99, at most this times nginx's. */
  p99: 2,
  /** One-way stream MB/s, at least this times nginx's. */
  stream: 0.6,
  /** Large frame echo time, at most this times nginx's. */
  frame: 1.25,
} as const;

async function measureRound(
  ctx: SuiteContext,
  target: Target,
  dde: Awaited<ReturnType<typeof startUpstream>>,
) {
  const { config } = ctx;
  const streamBytes = config.transferMB * MB;
  const frameBytes = config.frameMiB * 1024 * 1024;
  return onTarget(ctx, target, dde.upstream, async (running): Promise<WsRound> => {
    const url = running.wsUrl;
    if (url === undefined) throw new Error('this target does not proxy WebSockets');
    ctx.log(`${target.label}: ${url}`);
    let before = await running.cpuTime?.();
    const echo = await measureWsEcho(url, {
      connections: config.wsConnections,
      seconds: config.seconds,
      warmupSeconds: config.warmupSeconds,
      messageBytes: config.wsMessageBytes,
    });
    // The CPU sample spans the warm-up too: count its round trips at the measured rate.
    const echoCpuUs = cpuMsPer(
      before,
      await running.cpuTime?.(),
      echo.requestsPerSecond * (config.seconds + config.warmupSeconds),
    );
    ctx.log(
      `  echo ${Math.round(echo.requestsPerSecond)} msg/s, p50 ${echo.p50Ms.toFixed(2)} ms, p99 ${echo.p99Ms.toFixed(2)} ms`,
    );
    before = await running.cpuTime?.();
    const streamSeconds = await measureTransfer(url, 'ws-stream', streamBytes, config.transferRepeats);
    const streamCpuMsPerMB = cpuMsPer(
      before,
      await running.cpuTime?.(),
      (streamBytes / MB) * streamSeconds.length,
    );
    const frameSeconds = await measureTransfer(url, 'ws-frame', frameBytes, config.transferRepeats);
    ctx.log(
      `  stream ${mbPerSecond(streamBytes, median(streamSeconds) ?? 0).toFixed(0)} MB/s; ${config.frameMiB} MiB frame echoed in ${(median(frameSeconds) ?? 0).toFixed(3)} s`,
    );
    return {
      echo,
      echoCpuUs: echoCpuUs === undefined ? undefined : echoCpuUs * 1000,
      streamSeconds,
      streamCpuMsPerMB,
      frameSeconds,
    };
  });
}

/** A peer's figures: the median round by echo rate, the median of every transfer. */
function figures(peer: WsPeer, streamBytes: number): WsFigures | string {
  const rounds: WsRound[] = [];
  for (const round of peer.rounds) {
    if ('skipped' in round) return round.skipped;
    rounds.push(round.value);
  }
  const byRate = [...rounds].sort((a, b) => a.echo.requestsPerSecond - b.echo.requestsPerSecond);
  const mid = byRate[Math.floor((byRate.length - 1) / 2)] as WsRound;
  const streamSeconds = median(rounds.flatMap((r) => r.streamSeconds));
  return {
    echoPerSecond: mid.echo.requestsPerSecond,
    p50Ms: mid.echo.p50Ms,
    p99Ms: mid.echo.p99Ms,
    errors: mid.echo.errors,
    echoCpuUs: mid.echoCpuUs,
    streamMBps: streamSeconds === undefined ? undefined : mbPerSecond(streamBytes, streamSeconds),
    streamCpuMsPerMB: median(
      rounds.flatMap((r) => (r.streamCpuMsPerMB === undefined ? [] : [r.streamCpuMsPerMB])),
    ),
    frameSeconds: median(rounds.flatMap((r) => r.frameSeconds)),
  };
}

const RELAY_IDS = ['dde-core', 'relay-pipe', 'relay-raw', 'relay-onread'];

export const wsSuite: Suite = async (ctx) => {
  const { config } = ctx;
  const dde = await startUpstream(ctx);
  const targets = selected(ctx, [
    directTarget,
    dde.core,
    dde.koa,
    await nginxTarget(config.nginxWorkers),
    await caddyTarget(config.caddyProcs),
    pipeRelayTarget,
    rawRelayTarget,
    onreadRelayTarget,
  ]);
  // As in the proxy suite, the bench process warms up before any of its own targets is measured
  // (bench README, "Order: the first one measured").
  for (const target of targets) {
    await onTarget(ctx, target, dde.upstream, async (running) => {
      if (!running.inProcess || running.wsUrl === undefined) return;
      const seconds = config.warmupSeconds + config.seconds;
      ctx.log(`${target.label}: priming the bench process, ${seconds} s unmeasured`);
      await measureWsEcho(running.wsUrl, {
        connections: config.wsConnections,
        seconds,
        warmupSeconds: 0,
        messageBytes: config.wsMessageBytes,
      });
    });
  }
  const rounds = targets.map((): PeerOutcome<WsRound>[] => []);
  for (let round = 1; round <= config.rounds; round++) {
    if (config.rounds > 1) ctx.log(`-- round ${round} of ${config.rounds}`);
    for (const i of roundOrder(targets.length, round)) {
      rounds[i]?.push(await measureRound(ctx, targets[i] as Target, dde));
    }
  }
  const streamBytes = config.transferMB * MB;
  const peers: WsPeer[] = targets.map((t, i) => ({ id: t.id, label: t.label, rounds: rounds[i] ?? [] }));
  const figs = new Map(peers.map((p) => [p.id, figures(p, streamBytes)]));
  const ok = (id: string) => {
    const f = figs.get(id);
    return typeof f === 'object' ? f : undefined;
  };
  const direct = ok('direct');
  const nginx = ok('nginx');
  const skippedRow = (peer: WsPeer, width: number): Cell[] => [
    peer.label,
    `${figs.get(peer.id) as string}`,
    ...Array.from({ length: width - 2 }, () => null),
  ];
  const frameLabel = `${config.frameMiB} MiB frame echo (s)`;
  const echoRow = (peer: WsPeer): Cell[] => {
    const f = ok(peer.id);
    if (f === undefined) return skippedRow(peer, 7);
    return [
      peer.label,
      f.echoPerSecond,
      f.p50Ms,
      f.p99Ms,
      direct ? `${(f.echoPerSecond / direct.echoPerSecond).toFixed(2)}x` : null,
      f.echoCpuUs ?? null,
      f.errors,
    ];
  };
  const bulkRow = (peer: WsPeer): Cell[] => {
    const f = ok(peer.id);
    if (f === undefined) return skippedRow(peer, 5);
    return [
      peer.label,
      f.streamMBps ?? null,
      f.streamCpuMsPerMB ?? null,
      f.frameSeconds ?? null,
      nginx?.frameSeconds && f.frameSeconds ? `${(f.frameSeconds / nginx.frameSeconds).toFixed(2)}x` : null,
    ];
  };
  const tables: SuiteTable[] = [
    {
      title: 'WebSocket echo',
      columns: [
        'target',
        'round trips/s',
        'p50 (ms)',
        'p99 (ms)',
        'vs direct',
        'proxy CPU (µs/msg)',
        'errors',
      ],
      rows: peers.map(echoRow),
      note: `${config.wsConnections} connections, each with one ${config.wsMessageBytes}-byte binary message in flight; ${config.seconds} s after ${config.warmupSeconds} s of warm-up; median of ${config.rounds} round(s) by rate.`,
    },
    {
      title: 'Large transfers',
      columns: [
        'target',
        `${config.transferMB} MB stream (MB/s)`,
        'proxy CPU (ms/MB)',
        frameLabel,
        'frame vs nginx',
      ],
      rows: peers.map(bulkRow),
      note: `Stream: the upstream sends ${config.transferMB} MB in 64 KiB binary frames to one client. Frame: one ${config.frameMiB} MiB binary message sent and echoed back whole. Medians of ${config.transferRepeats} transfers per round.`,
    },
    {
      title: 'Relay variants (the same upstream, in this process)',
      columns: ['relay', 'round trips/s', 'p99 (ms)', 'proxy CPU (µs/msg)', 'stream (MB/s)', frameLabel],
      rows: peers
        .filter((p) => RELAY_IDS.includes(p.id))
        .map((peer) => {
          const f = ok(peer.id);
          if (f === undefined) return skippedRow(peer, 6);
          return [
            peer.label,
            f.echoPerSecond,
            f.p99Ms,
            f.echoCpuUs ?? null,
            f.streamMBps ?? null,
            f.frameSeconds ?? null,
          ];
        }),
      note: "dde's relay (createProxy on node:http; it reads both sides into reused buffers, `onread`) against bare relays with no answer parsing, history or fault handling: a `socket.pipe()` pair, an `on('data')`/`write()` relay, and an `onread` relay with one buffer per session.",
    },
  ];
  const checks: SuiteCheck[] = [];
  for (const id of ['dde-core', 'dde-koa']) {
    const f = ok(id);
    const who = id === 'dde-core' ? 'dde (core)' : 'dde (Koa)';
    const check = (target: RatioTarget, measured: number | undefined, peer: number | undefined) =>
      checks.push(ratioCheck(target, measured, peer));
    check(
      { name: `echo round trips/s, ${who} vs nginx`, higherIsBetter: true, bound: TARGETS.echo },
      f?.echoPerSecond,
      nginx?.echoPerSecond,
    );
    check(
      { name: `echo p99, ${who} vs nginx`, higherIsBetter: false, bound: TARGETS.p99 },
      f?.p99Ms,
      nginx?.p99Ms,
    );
    check(
      { name: `one-way stream MB/s, ${who} vs nginx`, higherIsBetter: true, bound: TARGETS.stream },
      f?.streamMBps,
      nginx?.streamMBps,
    );
    check(
      {
        name: `${config.frameMiB} MiB frame echo time, ${who} vs nginx`,
        higherIsBetter: false,
        bound: TARGETS.frame,
      },
      f?.frameSeconds,
      nginx?.frameSeconds,
    );
  }
  const bars = (pick: (f: WsFigures) => number | undefined) =>
    peers.flatMap((p) => {
      const f = ok(p.id);
      const value = f ? pick(f) : undefined;
      return value === undefined ? [] : [{ label: p.label, value }];
    });
  return {
    id: 'ws',
    title: 'WebSocket: echo, stream and large frames',
    description:
      'One upstream container (a hand-written RFC 6455 echo server on Node) launched through dde, reached directly at its bridge IP, through dde (core handler on node:http, and Koa), nginx (upgrade headers set, keep-alive pool), Caddy (reverse_proxy) and two minimal Node relays. Load comes from the `ws` client in separate processes; peers run one at a time.',
    tables,
    charts: [
      {
        kind: 'bar',
        title: 'WebSocket echo round trips/s',
        unit: 'round trips/s',
        higherIsBetter: true,
        bars: bars((f) => f.echoPerSecond),
      },
      {
        kind: 'bar',
        title: 'WebSocket echo p99',
        unit: 'ms',
        higherIsBetter: false,
        bars: bars((f) => f.p99Ms),
      },
      {
        kind: 'bar',
        title: `WebSocket ${config.transferMB} MB one-way stream`,
        unit: 'MB/s',
        higherIsBetter: true,
        bars: bars((f) => f.streamMBps),
      },
      {
        kind: 'bar',
        title: `WebSocket ${config.frameMiB} MiB frame echo`,
        unit: 's',
        higherIsBetter: false,
        bars: bars((f) => f.frameSeconds),
      },
    ],
    checks,
    data: {
      settings: { ...config, only: config.only ? [...config.only] : undefined, suites: undefined },
      peers,
    },
  };
};
