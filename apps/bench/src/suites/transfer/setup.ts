/** What the transfer suites share: the upstream launched through dde, and running one peer at a time. */
import { LABELS } from '@dde/core';
import { interrupted, onCleanup } from '../../cleanup.ts';
import { type DdeUnderTest, startDde } from '../../dde.ts';
import type { RunningTarget, Target, UpstreamTarget } from '../../targets/types.ts';
import { buildUpstreamImage } from '../../upstream/image.ts';
import type { SuiteContext } from '../types.ts';

/** Builds the upstream image in the suite's namespace and launches it through dde. */
export async function startUpstream(ctx: SuiteContext): Promise<DdeUnderTest> {
  const image = `dde-bench-upstream:${ctx.namespace}`;
  ctx.log(`building ${image}...`);
  onCleanup(`removing image ${image}`, () => ctx.docker.getImage(image).remove({ force: true }));
  await buildUpstreamImage(ctx.docker, image, { [LABELS.namespace]: ctx.namespace });
  return startDde({ namespace: ctx.namespace, image });
}

/** The targets `--only` leaves. */
export function selected(ctx: SuiteContext, targets: readonly Target[]): Target[] {
  return targets.filter((t) => ctx.config.only?.has(t.id) ?? true);
}

/** A peer's figures, or why it has none. */
export type PeerOutcome<T> = { readonly value: T } | { readonly skipped: string };

/** Starts `target`, runs `measure` on it, stops it; unavailable or failing peers become a reason. */
export async function onTarget<T>(
  ctx: SuiteContext,
  target: Target,
  upstream: UpstreamTarget,
  measure: (running: RunningTarget) => Promise<T>,
): Promise<PeerOutcome<T>> {
  const reason = await target.unavailable();
  if (reason !== undefined) {
    ctx.log(`${target.label}: ${reason}`);
    return { skipped: reason };
  }
  try {
    const running = await target.start(upstream);
    try {
      return { value: await measure(running) };
    } finally {
      await running.stop();
    }
  } catch (error) {
    if (interrupted()) throw error;
    ctx.log(`${target.label}: FAILED: ${(error as Error).message}`);
    return { skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
  }
}
