import type { ContainerInfo } from '../backend.ts';
import { LABELS } from '../labels.ts';
import type { LaunchPlan } from '../plan.ts';
import { type ContainerPhase, RouteEntry, type RouteTable } from './route-table.ts';

/**
 * The route of one launch while it is admitted: `queued` while it waits for a start slot (so the
 * please-wait page and `manager.get()` say so), `creating` once admitted, gone when it leaves
 * the queue without starting.
 */
export class QueuedRoute {
  readonly #table: RouteTable;
  readonly #plan: LaunchPlan;
  readonly #namespace: string;
  readonly #phase: (entry: RouteEntry, phase?: ContainerPhase) => void;
  /** The `queued` route this launch added, while it may still be its own. */
  #entry: RouteEntry | undefined;

  /**
   * @param phase Announces a new route (no `phase`) or moves a route to `phase`.
   */
  constructor(
    table: RouteTable,
    plan: LaunchPlan,
    namespace: string,
    phase: (entry: RouteEntry, phase?: ContainerPhase) => void,
  ) {
    this.#table = table;
    this.#plan = plan;
    this.#namespace = namespace;
    this.#phase = phase;
  }

  /** The launch waits, at `position`: its route says `queued`, unless the name has a route already. */
  queued(position: number): RouteEntry {
    const existing = this.#table.get(this.#plan.spec.name);
    if (existing !== undefined) return existing;
    const entry = this.#table.add(new RouteEntry(provisionalInfo(this.#plan, this.#namespace), 'queued'));
    entry.launching = true;
    entry.queuePosition = position;
    this.#entry = entry;
    this.#phase(entry);
    return entry;
  }

  /** Its place in the queue changed. */
  moved(position: number): void {
    if (this.#entry !== undefined) this.#entry.queuePosition = position;
  }

  /** Admitted: the launch's route, `creating` (added now when it never waited). */
  admitted(): RouteEntry {
    let entry = this.#table.get(this.#plan.spec.name);
    if (entry === undefined) {
      entry = this.#table.add(new RouteEntry(provisionalInfo(this.#plan, this.#namespace), 'creating'));
      this.#phase(entry);
    } else if (entry === this.#entry && entry.phase === 'queued') {
      entry.queuePosition = undefined;
      this.#phase(entry, 'creating');
    }
    this.#entry = undefined;
    entry.launching = true;
    return entry;
  }

  /** The launch left the queue without starting: the `queued` route to drop, if still there. */
  left(): RouteEntry | undefined {
    const entry = this.#entry;
    this.#entry = undefined;
    if (entry === undefined || this.#table.get(entry.name) !== entry || entry.phase !== 'queued')
      return undefined;
    entry.launching = false;
    entry.queuePosition = undefined;
    return entry;
  }
}

/** What the route shows while a launch has not reported the container yet. */
export function provisionalInfo(plan: LaunchPlan, namespace: string): ContainerInfo {
  const spec = plan.spec;
  return {
    name: spec.name,
    id: '',
    image: spec.image,
    namespace,
    state: 'created',
    exitCode: undefined,
    createdAt: new Date(),
    startedAt: undefined,
    finishedAt: undefined,
    port: spec.port,
    upstream: undefined,
    readiness: { ...spec.readiness },
    owner: spec.owner,
    memoryReservationMb: spec.memoryReservationMb,
    memoryLimitMb: spec.memoryLimitMb,
    cpus: spec.cpus,
    specHash: plan.labels[LABELS.specHash] ?? '',
    labels: { ...spec.labels },
  };
}
