/**
 * Suite `bodies`: one large download and one large upload (100 MB by default) through dde
 * (core handler, Koa, Express), nginx (tuned for large bodies), Caddy, and directly: MB/s and
 * the proxy's CPU time per MB. Transfers run one at a time over a fresh connection each.
 */
import { measureTransfer, type TransferMode } from '../load/transfer.ts';
import { caddyTarget } from '../targets/caddy.ts';
import { directTarget } from '../targets/direct.ts';
import { nginxTarget } from '../targets/nginx.ts';
import { onTarget, type PeerOutcome, selected, startUpstream } from './transfer/setup.ts';
import { cpuMsPer, MB, mbPerSecond, median, ratioCheck } from './transfer/stats.ts';
import type { Cell, Suite, SuiteCheck } from './types.ts';

/** dde's throughput against nginx's, in both directions (issue #14). */
const MIN_RATIO_TO_NGINX = 0.8;

/** One direction's figures for one peer in one round. */
interface Direction {
  readonly seconds: readonly number[];
  readonly cpuMsPerMB: number | undefined;
}

type BodiesRound = Record<'download' | 'upload', Direction>;

/** Medians over every round: MB/s and CPU per MB. */
function summarise(rounds: readonly BodiesRound[], mode: 'download' | 'upload', bytes: number) {
  const seconds = median(rounds.flatMap((r) => r[mode].seconds));
  const cpu = median(rounds.flatMap((r) => (r[mode].cpuMsPerMB === undefined ? [] : [r[mode].cpuMsPerMB])));
  return { mbps: seconds === undefined ? undefined : mbPerSecond(bytes, seconds), cpuMsPerMB: cpu };
}

export const bodiesSuite: Suite = async (ctx) => {
  const { config } = ctx;
  const bytes = config.transferMB * MB;
  const dde = await startUpstream(ctx);
  const targets = selected(ctx, [
    directTarget,
    dde.core,
    dde.koa,
    dde.express,
    await nginxTarget(config.nginxWorkers, true),
    await caddyTarget(config.caddyProcs),
  ]);
  const outcomes = targets.map((): PeerOutcome<BodiesRound>[] => []);
  for (let round = 1; round <= config.rounds; round++) {
    if (config.rounds > 1) ctx.log(`-- round ${round} of ${config.rounds}`);
    for (const [i, target] of targets.entries()) {
      const outcome = await onTarget(ctx, target, dde.upstream, async (running) => {
        ctx.log(`${target.label}: ${running.httpUrl}`);
        const direction = async (mode: TransferMode): Promise<Direction> => {
          // One unmeasured transfer first: connection pools, JIT.
          await measureTransfer(running.httpUrl, mode, Math.min(bytes, 10 * MB), 1);
          const before = await running.cpuTime?.();
          const seconds = await measureTransfer(running.httpUrl, mode, bytes, config.transferRepeats);
          const cpuMsPerMB = cpuMsPer(before, await running.cpuTime?.(), (bytes / MB) * seconds.length);
          ctx.log(
            `  ${mode} ${mbPerSecond(bytes, median(seconds) ?? 0).toFixed(0)} MB/s, ${cpuMsPerMB?.toFixed(2) ?? '-'} ms CPU/MB`,
          );
          return { seconds, cpuMsPerMB };
        };
        return { download: await direction('download'), upload: await direction('upload') };
      });
      outcomes[i]?.push(outcome);
    }
  }
  const peers = targets.map((target, i) => {
    const rounds = outcomes[i] ?? [];
    const skipped = rounds.find((r): r is { skipped: string } => 'skipped' in r)?.skipped;
    const values = rounds.flatMap((r) => ('value' in r ? [r.value] : []));
    return {
      id: target.id,
      label: target.label,
      skipped,
      rounds,
      download: skipped ? undefined : summarise(values, 'download', bytes),
      upload: skipped ? undefined : summarise(values, 'upload', bytes),
    };
  });
  const byId = new Map(peers.map((p) => [p.id, p]));
  const nginx = byId.get('nginx');
  const ratio = (value: number | undefined, peer: number | undefined): Cell =>
    value !== undefined && peer ? `${(value / peer).toFixed(2)}x` : null;
  const rows = peers.map((p): Cell[] =>
    p.skipped
      ? [p.label, p.skipped, null, null, null, null, null]
      : [
          p.label,
          p.download?.mbps ?? null,
          p.download?.cpuMsPerMB ?? null,
          ratio(p.download?.mbps, nginx?.download?.mbps),
          p.upload?.mbps ?? null,
          p.upload?.cpuMsPerMB ?? null,
          ratio(p.upload?.mbps, nginx?.upload?.mbps),
        ],
  );
  const checks: SuiteCheck[] = [];
  for (const id of ['dde-core', 'dde-koa', 'dde-express']) {
    const peer = byId.get(id);
    if (peer === undefined) continue;
    for (const mode of ['download', 'upload'] as const) {
      checks.push(
        ratioCheck(
          {
            name: `${config.transferMB} MB ${mode} MB/s, ${peer.label} vs nginx`,
            higherIsBetter: true,
            bound: MIN_RATIO_TO_NGINX,
          },
          peer[mode]?.mbps,
          nginx?.[mode]?.mbps,
        ),
      );
    }
  }
  const bars = peers.flatMap((p) =>
    (['download', 'upload'] as const).flatMap((mode) => {
      const value = p[mode]?.mbps;
      return value === undefined ? [] : [{ label: p.label, value, group: mode }];
    }),
  );
  const cpuBars = peers.flatMap((p) =>
    (['download', 'upload'] as const).flatMap((mode) => {
      const value = p[mode]?.cpuMsPerMB;
      return value === undefined ? [] : [{ label: p.label, value, group: mode }];
    }),
  );
  return {
    id: 'bodies',
    title: `Large bodies: ${config.transferMB} MB download and upload`,
    description: `One ${config.transferMB} MB download (GET, content-length) and one ${config.transferMB} MB upload (POST, content-length, read and dropped by the upstream) at a time, over a fresh connection each, from a Node client in a separate process, directly and through each proxy. nginx streams uploads (\`proxy_request_buffering off\`) and buffers downloads in memory only (64 KiB buffers, no temp file). Medians of ${config.transferRepeats} transfers per round after one unmeasured 10 MB transfer; ${config.rounds} round(s).`,
    tables: [
      {
        title: `${config.transferMB} MB bodies`,
        columns: [
          'target',
          'download (MB/s)',
          'proxy CPU (ms/MB)',
          'vs nginx',
          'upload (MB/s)',
          'proxy CPU (ms/MB)',
          'vs nginx',
        ],
        rows,
        note: 'Proxy CPU: user + system time of the proxy process(es) during the measured transfers, per MB (10^6 bytes); the in-process dde rows include the container manager idling beside the proxy.',
      },
    ],
    charts: [
      { kind: 'bar', title: `${config.transferMB} MB bodies`, unit: 'MB/s', higherIsBetter: true, bars },
      { kind: 'bar', title: 'Proxy CPU per MB', unit: 'ms/MB', higherIsBetter: false, bars: cpuBars },
    ],
    checks,
    data: { transferMB: config.transferMB, repeats: config.transferRepeats, rounds: config.rounds, peers },
  };
};
