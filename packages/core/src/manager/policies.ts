import { DdeError, invalidOption } from '../errors.ts';
import type { History } from '../history/history.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import type { CapacityCandidate, CapacityDecision, OverBudgetPolicy } from '../lifecycle/capacity.ts';
import type { CullCandidate, CullPolicy } from '../lifecycle/culling.ts';
import type { Logger } from '../lifecycle/logger.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import type { ResolvedSpec } from '../spec.ts';
import type { ContainerPhase, RouteEntry } from './route-table.ts';

/** A memory budget across every managed container (sum of memory reservations). */
export interface CapacityOptions {
  /** The budget in MB. */
  memoryBudgetMb: number;
  /**
   * What to do when evicting the least recently used containers cannot make room: refuse the
   * launch with `CAPACITY_EXCEEDED` (default) or start over budget (logged, never silent).
   */
  overBudget?: OverBudgetPolicy;
}

/**
 * Count limits. A launch over `maxPerOwner` or `maxContainers` fails at once with
 * `LIMIT_EXCEEDED` (429 through the proxy); one beyond `maxConcurrentStarts` waits for a start
 * slot, first come first served, within `maxQueuedStarts` and `maxStartWaitMs`.
 */
export interface LimitOptions {
  /** Most containers one owner may have (launches waiting for a start slot count). */
  maxPerOwner?: number;
  /** Most containers in all (launches waiting for a start slot count). */
  maxContainers?: number;
  /**
   * Most containers starting (pulling, creating, starting or probing) at once, across every
   * instance sharing the coordination. A launch beyond it waits in phase `queued` until a start
   * slot frees (a starting container became ready, failed or was removed), in arrival order.
   */
  maxConcurrentStarts?: number;
  /**
   * Most launches waiting for a start slot on this instance; one more fails at once with
   * `LIMIT_EXCEEDED`. 0 never waits (every launch beyond `maxConcurrentStarts` is refused).
   * Default 1000: a flood cannot pile up without bound, while any class or lab fits.
   */
  maxQueuedStarts?: number;
  /**
   * Longest a launch waits for a start slot, in ms, before failing with `LIMIT_EXCEEDED`.
   * Default 300000 (5 minutes): the order of a slow image pull, and as long as someone on a
   * please-wait page can be expected to wait; a wait longer than that means the limit is too
   * low for the load.
   */
  maxStartWaitMs?: number;
}

/** Default of {@link LimitOptions.maxQueuedStarts}. */
export const DEFAULT_MAX_QUEUED_STARTS = 1000;
/** Default of {@link LimitOptions.maxStartWaitMs}. */
export const DEFAULT_MAX_START_WAIT_MS = 300_000;

/** Idle culling and maximum lifetime, checked periodically. */
export interface CullingOptions extends CullPolicy {
  /** How often the culler runs, in ms. Default 30000. */
  intervalMs?: number;
}

/** The manager's memory budget, as a dashboard shows it. */
export interface CapacitySnapshot {
  /** The budget in MB, or undefined when there is none. */
  readonly budgetMb: number | undefined;
  /** MB reserved by managed containers. */
  readonly usedMb: number;
  /** What LRU eviction would remove next, first first. */
  readonly evictionOrder: readonly string[];
}

const STARTING: ReadonlySet<ContainerPhase> = new Set(['pulling', 'creating', 'starting', 'probing']);

const CAPACITY_FIELDS: FieldList<CapacityOptions> = { memoryBudgetMb: true, overBudget: true };
const LIMIT_FIELDS: FieldList<LimitOptions> = {
  maxPerOwner: true,
  maxContainers: true,
  maxConcurrentStarts: true,
  maxQueuedStarts: true,
  maxStartWaitMs: true,
};
const CULLING_FIELDS: FieldList<CullingOptions> = {
  idleTimeoutMs: true,
  maxLifetimeMs: true,
  graceMs: true,
  intervalMs: true,
};

/** Throws `INVALID_OPTION` for bad lifecycle options; returns them otherwise. */
export function validatePolicies(options: {
  capacity?: CapacityOptions | undefined;
  limits?: LimitOptions | undefined;
  culling?: CullingOptions | undefined;
}): void {
  const { capacity, limits, culling } = options;
  refuseUnknownFields(capacity, CAPACITY_FIELDS, 'capacity', invalidOption, 'capacity.');
  refuseUnknownFields(limits, LIMIT_FIELDS, 'limits', invalidOption, 'limits.');
  refuseUnknownFields(culling, CULLING_FIELDS, 'culling', invalidOption, 'culling.');
  if (capacity !== undefined) {
    positive('capacity.memoryBudgetMb', capacity.memoryBudgetMb);
    const policy = capacity.overBudget ?? 'refuse';
    if (policy !== 'refuse' && policy !== 'start-anyway') {
      throw invalidOption('capacity.overBudget', 'must be "refuse" or "start-anyway"');
    }
  }
  for (const key of ['maxPerOwner', 'maxContainers', 'maxConcurrentStarts'] as const) {
    const value = limits?.[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw invalidOption(`limits.${key}`, `must be a whole number >= 1, got ${value}`);
    }
  }
  const queued = limits?.maxQueuedStarts;
  if (queued !== undefined && (!Number.isInteger(queued) || queued < 0)) {
    throw invalidOption('limits.maxQueuedStarts', `must be a whole number >= 0, got ${queued}`);
  }
  if (limits?.maxStartWaitMs !== undefined) positive('limits.maxStartWaitMs', limits.maxStartWaitMs);
  for (const key of ['idleTimeoutMs', 'maxLifetimeMs', 'graceMs', 'intervalMs'] as const) {
    const value = culling?.[key];
    if (value !== undefined) positive(`culling.${key}`, value);
  }
}

/** What the count limits weigh of a container: a route, or a launch another instance admitted. */
export interface LimitSubject {
  readonly name: string;
  readonly phase: ContainerPhase;
  readonly info: { readonly owner: string | undefined };
}

/**
 * Throws `LIMIT_EXCEEDED` when starting `spec` would exceed `maxContainers` or `maxPerOwner`,
 * given the containers already in the table (`name` itself left out); returns whether a start
 * slot is free (`maxConcurrentStarts`).
 */
export function checkLimits(
  limits: LimitOptions | undefined,
  spec: ResolvedSpec,
  entries: Iterable<LimitSubject>,
): boolean {
  if (limits === undefined) return true;
  let total = 0;
  let owned = 0;
  let starting = 0;
  for (const entry of entries) {
    if (entry.name === spec.name) continue;
    total++;
    if (spec.owner !== undefined && entry.info.owner === spec.owner) owned++;
    if (STARTING.has(entry.phase)) starting++;
  }
  if (limits.maxContainers !== undefined && total >= limits.maxContainers) {
    throw limitExceeded(
      `${total} containers run or wait to start, the most allowed is ${limits.maxContainers} (limits.maxContainers)`,
      'limits.maxContainers',
    );
  }
  if (limits.maxPerOwner !== undefined && spec.owner !== undefined && owned >= limits.maxPerOwner) {
    throw limitExceeded(
      `${spec.owner} has ${owned} containers, the most allowed per owner is ${limits.maxPerOwner} (limits.maxPerOwner)`,
      'limits.maxPerOwner',
    );
  }
  return limits.maxConcurrentStarts === undefined || starting < limits.maxConcurrentStarts;
}

/** The containers capacity planning weighs, with their recency from the history. */
export function capacityCandidates(
  entries: Iterable<RouteEntry>,
  history: History,
  except: string,
  logger: Logger = silentLogger,
  busyElsewhere: (name: string) => boolean = notBusy,
): CapacityCandidate[] {
  const candidates: CapacityCandidate[] = [];
  for (const entry of entries) {
    // A launch waiting for a start slot holds no memory yet: the budget is weighed when it starts.
    if (entry.name === except || entry.phase === 'queued') continue;
    candidates.push({
      name: entry.name,
      memoryReservationMb: reservedMb(entry),
      lastActivityMs: lastActiveMs(entry, history, logger),
      // Starting containers, live WebSocket sessions and exchanges in flight (here or on another
      // instance) are in use: never evict them.
      pinned:
        entry.launching ||
        STARTING.has(entry.phase) ||
        entry.openWebSockets > 0 ||
        entry.inFlightRequests > 0 ||
        busyElsewhere(entry.name),
    });
  }
  return candidates;
}

/**
 * The containers the culler weighs. A container still starting (a slow tool warming up) is not
 * idle, so the periodic culler leaves it alone; an explicit purge (`includeStarting`) does not.
 */
export function cullCandidates(
  entries: Iterable<RouteEntry>,
  history: History,
  includeStarting = false,
  logger: Logger = silentLogger,
  busyElsewhere: (name: string) => boolean = notBusy,
): CullCandidate[] {
  const candidates: CullCandidate[] = [];
  for (const entry of entries) {
    if (entry.launching || (!includeStarting && STARTING.has(entry.phase))) continue;
    candidates.push({
      name: entry.name,
      startedAtMs: startedAtMs(entry),
      lastActivityMs: lastActiveMs(entry, history, logger),
      openWebSockets: entry.openWebSockets,
      // Another instance serving it counts as an exchange in flight.
      inFlightRequests: entry.inFlightRequests + (busyElsewhere(entry.name) ? 1 : 0),
    });
  }
  return candidates;
}

const notBusy = (): boolean => false;

/** The memory a container holds: its reservation, or nothing once its process has stopped. */
export function reservedMb(entry: RouteEntry): number {
  const state = entry.info.state;
  if (entry.phase === 'queued') return 0;
  return state === 'exited' || state === 'dead' ? 0 : (entry.info.memoryReservationMb ?? 0);
}

/**
 * When the container was last active: its last recorded activity, or when it started if that
 * is later (a container recreated under the same name inherits its predecessor's records).
 * A history that throws counts as activity now (logged): its failure must not get containers
 * culled or evicted, nor stop culling the others.
 */
export function lastActiveMs(entry: RouteEntry, history: History, logger: Logger = silentLogger): number {
  const started = startedAtMs(entry);
  let recorded: number | undefined;
  try {
    recorded = history.lastActivity(entry.name)?.getTime();
  } catch (error) {
    logger.warn(
      { name: entry.name, error },
      'cannot read activity history; counting the container as active',
    );
    return Date.now();
  }
  return recorded === undefined || recorded < started ? started : recorded;
}

/** The error for a launch the budget cannot hold. */
export function capacityExceeded(spec: ResolvedSpec, decision: CapacityDecision, budgetMb: number): DdeError {
  return new DdeError(
    'CAPACITY_EXCEEDED',
    `Cannot start ${spec.name}: it reserves ${spec.memoryReservationMb ?? 0} MB, ${decision.usedMb} of ${budgetMb} MB ` +
      'are reserved, and evicting idle containers cannot free enough. Remove containers, raise the budget, or ' +
      'set capacity.overBudget to "start-anyway".',
    { field: 'memoryReservationMb' },
  );
}

function startedAtMs(entry: RouteEntry): number {
  return (entry.info.startedAt ?? entry.info.createdAt).getTime();
}

function limitExceeded(message: string, field: string): DdeError {
  return new DdeError('LIMIT_EXCEEDED', `Limit reached: ${message}. Try again once a container is removed.`, {
    field,
  });
}

function positive(field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, `must be a positive number, got ${String(value)}`);
  }
}
