/** A running container as capacity planning sees it. */
export interface CapacityCandidate {
  /** Container name. */
  readonly name: string;
  /** Memory it reserves, in MB (0 when the spec set none). */
  readonly memoryReservationMb: number;
  /** Last recorded activity (ms since the epoch); its start time when it never had any. */
  readonly lastActivityMs: number;
  /** Never evicted (e.g. still starting, or has an open WebSocket). */
  readonly pinned?: boolean;
}

/** What to do when evicting every evictable container still cannot make room. */
export type OverBudgetPolicy = 'refuse' | 'start-anyway';

/** The input of {@link planCapacity}. */
export interface CapacityRequest {
  /** The memory budget across all managed containers, in MB. */
  readonly budgetMb: number;
  /** Memory the new container reserves, in MB. */
  readonly requestMb: number;
  /** The containers already counted against the budget. */
  readonly running: readonly CapacityCandidate[];
  /** See {@link OverBudgetPolicy}. */
  readonly overBudget: OverBudgetPolicy;
}

/** What {@link planCapacity} decided. */
export interface CapacityDecision {
  /**
   * `fits`: start it; `evict`: remove {@link CapacityDecision.evict} first, then start;
   * `refuse`: do not start; `over-budget`: start anyway, over the budget (policy `start-anyway`).
   */
  readonly outcome: 'fits' | 'evict' | 'refuse' | 'over-budget';
  /** Names to remove, least recently used first. Empty unless the outcome is `evict`. */
  readonly evict: readonly string[];
  /** MB reserved now. */
  readonly usedMb: number;
  /** MB reserved after the decision is carried out. */
  readonly afterMb: number;
}

/**
 * Decides how to make room for a new container under a memory budget: evict the least
 * recently used containers (by recorded activity) until it fits. When even evicting every
 * evictable container would not make room, nothing is evicted and the policy says whether to
 * refuse or to start over budget; it never happens silently.
 */
export function planCapacity(request: CapacityRequest): CapacityDecision {
  const usedMb = sum(request.running.map((candidate) => candidate.memoryReservationMb));
  if (usedMb + request.requestMb <= request.budgetMb) {
    return { outcome: 'fits', evict: [], usedMb, afterMb: usedMb + request.requestMb };
  }
  const evictable = request.running
    .filter((candidate) => !candidate.pinned && candidate.memoryReservationMb > 0)
    .sort((a, b) => a.lastActivityMs - b.lastActivityMs || (a.name < b.name ? -1 : 1));
  const evict: string[] = [];
  let afterMb = usedMb;
  for (const candidate of evictable) {
    if (afterMb + request.requestMb <= request.budgetMb) break;
    evict.push(candidate.name);
    afterMb -= candidate.memoryReservationMb;
  }
  if (afterMb + request.requestMb <= request.budgetMb) {
    return { outcome: 'evict', evict, usedMb, afterMb: afterMb + request.requestMb };
  }
  return request.overBudget === 'start-anyway'
    ? { outcome: 'over-budget', evict: [], usedMb, afterMb: usedMb + request.requestMb }
    : { outcome: 'refuse', evict: [], usedMb, afterMb: usedMb };
}

/**
 * The containers LRU eviction would remove next, in order, to free `mb` (for dashboards: "what
 * goes next").
 */
export function evictionOrder(running: readonly CapacityCandidate[]): string[] {
  return running
    .filter((candidate) => !candidate.pinned && candidate.memoryReservationMb > 0)
    .sort((a, b) => a.lastActivityMs - b.lastActivityMs || (a.name < b.name ? -1 : 1))
    .map((candidate) => candidate.name);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
