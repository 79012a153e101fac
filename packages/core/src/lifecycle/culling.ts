/** When containers are removed for inactivity or age. All durations in ms; unset means never. */
export interface CullPolicy {
  /** Remove containers with no activity for this long. */
  readonly idleTimeoutMs?: number;
  /** Remove containers older than this, active or not. */
  readonly maxLifetimeMs?: number;
  /** Never cull a container younger than this (it may still be loading its tool). */
  readonly graceMs?: number;
}

/** A container as the culler sees it. */
export interface CullCandidate {
  /** Container name. */
  readonly name: string;
  /** When it started (ms since the epoch). */
  readonly startedAtMs: number;
  /** Last recorded activity (ms since the epoch), or undefined when none yet. */
  readonly lastActivityMs: number | undefined;
  /** Open WebSocket sessions: a live session is activity. */
  readonly openWebSockets: number;
  /** HTTP exchanges in flight (a streaming response is activity). Default 0. */
  readonly inFlightRequests?: number;
}

/** Why a container is culled. */
export type CullReason = 'idle' | 'max-lifetime';

/** One culling decision. */
export interface CullDecision {
  /** Container name. */
  readonly name: string;
  /** Why. */
  readonly reason: CullReason;
}

/**
 * Picks the containers to cull at `nowMs`. A container with an open WebSocket or an HTTP
 * exchange in flight is active now;
 * one that never had activity counts as idle since it started. The maximum lifetime applies
 * regardless of activity; the grace period protects young containers from idle culling.
 */
export function selectForCulling(
  candidates: readonly CullCandidate[],
  policy: CullPolicy,
  nowMs: number,
): CullDecision[] {
  const decisions: CullDecision[] = [];
  for (const candidate of candidates) {
    const ageMs = nowMs - candidate.startedAtMs;
    if (policy.maxLifetimeMs !== undefined && ageMs >= policy.maxLifetimeMs) {
      decisions.push({ name: candidate.name, reason: 'max-lifetime' });
      continue;
    }
    if (policy.idleTimeoutMs === undefined || candidate.openWebSockets > 0) continue;
    if ((candidate.inFlightRequests ?? 0) > 0) continue;
    if (policy.graceMs !== undefined && ageMs < policy.graceMs) continue;
    const lastActiveMs = candidate.lastActivityMs ?? candidate.startedAtMs;
    if (nowMs - lastActiveMs >= policy.idleTimeoutMs)
      decisions.push({ name: candidate.name, reason: 'idle' });
  }
  return decisions;
}
