import type { Coordination, Reservation } from '../coordination/coordination.ts';
import { DdeError, isDdeError } from '../errors.ts';
import type { History } from '../history/history.ts';
import { LABELS } from '../labels.ts';
import type { CapacityCandidate, CapacityDecision } from '../lifecycle/capacity.ts';
import { planCapacity } from '../lifecycle/capacity.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { RemovalReason } from '../lifecycle/metrics.ts';
import type { LaunchPlan } from '../plan.ts';
import type { CapacityOptions, LimitOptions, LimitSubject } from './policies.ts';
import { capacityCandidates, capacityExceeded, checkLimits } from './policies.ts';
import type { QueueSpot, QueueTickets } from './queue-tickets.ts';
import type { RouteEntry } from './route-table.ts';
import { NO_START_SLOT } from './start-queue.ts';

/** What {@link Admission} needs of its manager. */
export interface AdmissionContext {
  readonly coordination: Coordination;
  readonly history: History;
  readonly logger: Logger;
  readonly capacity: CapacityOptions | undefined;
  readonly limits: LimitOptions | undefined;
  /** The manager's routes now. */
  entries(): Iterable<RouteEntry>;
  /** Removes a container (LRU eviction). */
  remove(name: string, options: { reason: RemovalReason; signal: AbortSignal }): Promise<unknown>;
  /** Aborts when the manager closes. */
  readonly closing: AbortSignal;
  /** Learns now which containers other instances serve (see `Coordination.publishBusy`). */
  refreshBusy(): Promise<void>;
  /** The start queue shared by the instances. */
  readonly tickets: QueueTickets;
}

// The admission lock is renewed while held; a holder that dies frees it after this.
const LOCK_TTL_MS = 10_000;
// How long a launch waits for admissions under way on every instance.
const LOCK_WAIT_MS = 60_000;
// A reservation outlives a launch whose instance died no longer than this.
const LAUNCH_RESERVATION_MS = 10 * 60_000;
// After the launch, until every instance's route table shows the container (events take ms).
const LAUNCHED_RESERVATION_MS = 5_000;

/**
 * Decides whether launches may start: count limits and the memory budget (evicting the least
 * recently used containers to make room), one admission at a time across every instance that
 * shares the {@link Coordination}. A launch admitted here is reserved there until every
 * instance's route table shows its container, so two instances never both count the same free
 * memory or the same free slot.
 */
export class Admission {
  readonly #context: AdmissionContext;

  constructor(context: AdmissionContext) {
    this.#context = context;
  }

  /**
   * Admits the launch of `plan` under the admission lock (evicting when needed), reserves it
   * and runs `addRoute` before releasing the lock. Answers {@link NO_START_SLOT}, admitting
   * nothing, when `limits.maxConcurrentStarts` has no slot free, `mayStart` is false or an
   * earlier ticket waits in the shared start queue (earlier launches start first, on whatever
   * instance); the launch then holds a ticket of its own in `spot`. Throws `LIMIT_EXCEEDED`
   * (another limit), `CAPACITY_EXCEEDED`, `CONFLICT` (another instance launches another spec
   * under the name), or `STATE_UNAVAILABLE` when the shared state cannot be reached: never
   * admitted on a local guess.
   */
  async admit<T>(
    plan: LaunchPlan,
    addRoute: () => T,
    spot: QueueSpot,
    mayStart = true,
  ): Promise<T | typeof NO_START_SLOT> {
    const { coordination, closing, tickets } = this.#context;
    const spec = plan.spec;
    const outcome = await coordination.withLock(
      'admission',
      async () => {
        // One read for both: a launch that need not wait pays no round trip for the queue.
        const { reservations, queue } = await coordination.admissionState();
        tickets.seen(queue);
        const entries = [...this.#context.entries()];
        const other = reservations.find((reservation) => reservation.name === spec.name);
        const inTable = entries.some((entry) => entry.name === spec.name && entry.info.id !== '');
        if (other !== undefined && (other.starting || inTable)) {
          if (other.specHash !== hashOf(plan)) {
            throw new DdeError(
              'CONFLICT',
              `Container ${spec.name} is being launched with another spec: choose another name`,
              { field: 'name' },
            );
          }
          // The same spec, admitted elsewhere: launching it joins that container (the engine
          // makes one; the second launch finds it), without counting it twice.
          return addRoute();
        }
        // What other instances serve right now, not as of up to a second ago: never evict those.
        if (this.#context.capacity !== undefined) await this.#context.refreshBusy();
        const pending = reservations.filter(
          (reservation) =>
            reservation.name !== spec.name && !entries.some((entry) => entry.name === reservation.name),
        );
        const { slot, decision } = this.#decide(plan, entries, pending);
        if (!slot || !mayStart || !spot.first(queue)) {
          // Its ticket is issued under the lock: no launch that arrives later can go first.
          await spot.take();
          return NO_START_SLOT;
        }
        if (decision?.outcome === 'over-budget') {
          this.#context.logger.warn(
            {
              name: spec.name,
              usedMb: decision.usedMb,
              afterMb: decision.afterMb,
              budgetMb: this.#context.capacity?.memoryBudgetMb,
            },
            'starting over the memory budget',
          );
        }
        for (const victim of decision?.evict ?? []) {
          this.#context.logger.info(
            { name: victim, for: spec.name },
            'evicting least recently used container',
          );
          await this.#context.remove(victim, { reason: 'lru', signal: closing });
        }
        await coordination.reserve(reservationOf(plan, true), LAUNCH_RESERVATION_MS);
        const route = addRoute();
        // Out of line before the lock goes, so the next in line may take the next slot.
        await spot.leave();
        return route;
      },
      { ttlMs: LOCK_TTL_MS, waitMs: LOCK_WAIT_MS, signal: closing },
    );
    if (!outcome.ran) {
      throw new DdeError(
        'STATE_UNAVAILABLE',
        `Cannot admit ${spec.name}: other launches held the admission lock for ${LOCK_WAIT_MS / 1000} s`,
      );
    }
    return outcome.value;
  }

  /**
   * What admitting `plan` would do given the routes here only (no shared state, no lock): throws
   * like {@link Admission.admit}, else returns the capacity decision (undefined without a budget).
   * A full `maxConcurrentStarts` is no refusal: the launch would wait for a slot.
   */
  check(plan: LaunchPlan): CapacityDecision | undefined {
    return this.#decide(plan, [...this.#context.entries()], []).decision;
  }

  /** The launch ended: its reservation stays briefly (until every table shows it) or goes. */
  settled(plan: LaunchPlan, launched: boolean): void {
    const { coordination, logger } = this.#context;
    // Launched, it is still starting (probing) for every instance whose table does not show it
    // yet: one that does counts it by its phase instead, and frees its start slot once ready.
    const done = launched
      ? coordination.reserve(reservationOf(plan, true), LAUNCHED_RESERVATION_MS)
      : coordination.release(plan.spec.name);
    // Either way the reservation expires by itself: a failure here costs nothing but time.
    done.catch((error: unknown) => {
      if (!isDdeError(error) || error.code !== 'STATE_UNAVAILABLE')
        logger.warn({ name: plan.spec.name, error }, 'cannot update the launch reservation');
    });
  }

  /**
   * The container was removed: its reservation goes with it, or for a few seconds it would
   * still count against the limits and the budget, as if it ran.
   */
  removed(name: string): void {
    const { coordination, logger } = this.#context;
    coordination.release(name).catch((error: unknown) => {
      if (!isDdeError(error) || error.code !== 'STATE_UNAVAILABLE')
        logger.warn({ name, error }, 'cannot release the reservation of a removed container');
    });
  }

  #decide(
    plan: LaunchPlan,
    entries: readonly RouteEntry[],
    pending: readonly Reservation[],
  ): { slot: boolean; decision: CapacityDecision | undefined } {
    const { limits, capacity, history, logger, coordination } = this.#context;
    const spec = plan.spec;
    const slot = checkLimits(limits, spec, [...entries, ...pending.map(limitSubject)]);
    if (capacity === undefined) return { slot, decision: undefined };
    const busy = (name: string): boolean => coordination.busyElsewhere(name);
    const running: CapacityCandidate[] = capacityCandidates(entries, history, spec.name, logger, busy);
    for (const reservation of pending) {
      // Admitted elsewhere and not visible here yet: it holds its memory and cannot be evicted.
      running.push({
        name: reservation.name,
        memoryReservationMb: reservation.memoryReservationMb,
        lastActivityMs: Date.now(),
        pinned: true,
      });
    }
    const decision = planCapacity({
      budgetMb: capacity.memoryBudgetMb,
      requestMb: spec.memoryReservationMb ?? 0,
      running,
      overBudget: capacity.overBudget ?? 'refuse',
    });
    if (decision.outcome === 'refuse') throw capacityExceeded(spec, decision, capacity.memoryBudgetMb);
    return { slot, decision };
  }
}

function hashOf(plan: LaunchPlan): string {
  return plan.labels[LABELS.specHash] ?? '';
}

function reservationOf(plan: LaunchPlan, starting: boolean): Reservation {
  return {
    name: plan.spec.name,
    specHash: hashOf(plan),
    owner: plan.spec.owner,
    memoryReservationMb: plan.spec.memoryReservationMb ?? 0,
    starting,
  };
}

function limitSubject(reservation: Reservation): LimitSubject {
  return {
    name: reservation.name,
    phase: reservation.starting ? 'creating' : 'ready',
    info: { owner: reservation.owner },
  };
}
