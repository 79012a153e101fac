import type { ContainerBackend, ContainerInfo, LaunchOptions, LaunchProgress } from '../backend.ts';
import { isDdeError, throwIfAborted } from '../errors.ts';
import { LABELS } from '../labels.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { DdeMetrics } from '../lifecycle/metrics.ts';
import type { LaunchPlan } from '../plan.ts';
import { planLaunch } from '../plan.ts';
import type { ContainerSpec } from '../spec.ts';
import type { Admission } from './admission.ts';
import { launchFailure } from './manager-support.ts';
import type { QueueTickets } from './queue-tickets.ts';
import { QueuedRoute } from './queued-route.ts';
import { sleep } from './readiness.ts';
import type { ContainerPhase, RouteEntry, RouteTable } from './route-table.ts';
import type { RouteTracker } from './route-tracker.ts';
import type { StartQueue } from './start-queue.ts';

// The launch half of ContainerManager: from an admitted plan to a running container, with the
// route showing each step. The manager checks single-flight and conflicts before it gets here.

/** A launch under way: later launches of the same spec join it. */
export interface PendingLaunch {
  readonly specHash: string;
  /** Settles once the launch has a route: admitted, or queued for a start slot. */
  readonly routed: Promise<RouteEntry>;
  /** Settles when the container runs (or the launch failed). */
  readonly done: Promise<ContainerInfo>;
}

const PROGRESS_PHASE: Record<LaunchProgress['phase'], ContainerPhase> = {
  pulling: 'pulling',
  creating: 'creating',
  'placing-input': 'creating',
  starting: 'starting',
};
// A launch that lost the engine's name race looks for the winner this many more times.
const SAME_SPEC_ATTEMPTS = 5;

/** What a {@link Launcher} needs of its manager. */
export interface LauncherOptions {
  readonly backend: ContainerBackend;
  readonly table: RouteTable;
  readonly routes: RouteTracker;
  readonly admission: Admission;
  readonly starts: StartQueue;
  readonly tickets: QueueTickets;
  readonly logger: Logger;
  readonly metrics: DdeMetrics | undefined;
  /** Aborts when the manager closes. */
  readonly closing: AbortSignal;
}

/**
 * Runs launches: admission (limits, budget and LRU eviction, or a place in the start queue),
 * the backend's launch with its progress on the route, and what a failure leaves. Keeps the
 * launches under way, so that later launches of a name join the one running.
 */
export class Launcher {
  readonly #options: LauncherOptions;
  readonly #launches = new Map<string, PendingLaunch>();

  constructor(options: LauncherOptions) {
    this.#options = options;
  }

  /** The launch of that name under way, if any. */
  pending(name: string): PendingLaunch | undefined {
    return this.#launches.get(name);
  }

  /** Registers the launch (so that others join it), then admits and runs it. */
  begin(plan: LaunchPlan, spec: ContainerSpec, options: LaunchOptions, onDemand = false): PendingLaunch {
    const name = plan.spec.name;
    let onRoute: (entry: RouteEntry) => void = () => {};
    const routedFirst = new Promise<RouteEntry>((resolve) => {
      onRoute = resolve;
    });
    const admitted = this.#admit(plan, options.signal, onRoute);
    // The route as soon as it exists (queued), or the refusal.
    const routed = Promise.race([routedFirst, admitted]);
    routed.catch(() => {});
    const done = admitted.then(
      (entry) =>
        this.#run(plan, spec, options, entry, onDemand).then(
          (info) => {
            this.#options.admission.settled(plan, true);
            return info;
          },
          (error: unknown) => {
            this.#options.admission.settled(plan, false);
            this.#options.starts.wake();
            throw error;
          },
        ),
      (error: unknown) => {
        this.#options.metrics?.launchFailed(isDdeError(error) ? error.code : 'ENGINE_ERROR');
        throw error;
      },
    );
    const pending: PendingLaunch = { specHash: plan.labels[LABELS.specHash] ?? '', routed, done };
    this.#launches.set(name, pending);
    const forget = (): void => {
      if (this.#launches.get(name) === pending) this.#launches.delete(name);
    };
    done.then(forget, forget);
    return pending;
  }

  /** Starts a container for a request to a declared but absent name; resolves with its route. */
  startOnDemand(name: string, spec: ContainerSpec): Promise<RouteEntry> {
    const pending = this.#launches.get(name);
    if (pending) return pending.routed;
    const plan = planLaunch({ ...spec, name }, this.#options.backend);
    this.#options.logger.info({ name }, 'starting container on demand');
    const started = this.begin(plan, { ...spec, name }, {}, true);
    started.done.catch(() => {}); // the route shows the failure
    return started.routed;
  }

  /**
   * Checks the limits and the memory budget (evicting LRU containers when needed), then adds
   * the provisional route. One admission at a time, across every instance sharing the namespace.
   * Without a free start slot the launch waits in the start queue with a `queued` route.
   */
  #admit(
    plan: LaunchPlan,
    signal: AbortSignal | undefined,
    onRoute: (entry: RouteEntry) => void,
  ): Promise<RouteEntry> {
    const name = plan.spec.name;
    const queue = new QueuedRoute(
      this.#options.table,
      plan,
      this.#options.backend.namespace,
      (entry, phase) =>
        phase === undefined
          ? this.#options.routes.emitPhase(entry)
          : this.#options.routes.setPhase(entry, phase),
    );
    const addRoute = (): RouteEntry => {
      throwIfAborted(this.#options.closing, `Launching ${name}`);
      this.#options.routes.forgetMissing(name);
      return queue.admitted();
    };
    // Its ticket in the start queue shared by the instances, once it has to wait.
    const spot = this.#options.tickets.spot(name);
    spot.onPosition = (position) => queue.moved(position);
    const admitted = this.#options.starts.admit(
      name,
      (mayStart) => this.#options.admission.admit(plan, addRoute, spot, mayStart),
      {
        // The launch's own signal only: close() empties the queue itself (one listener per waiter on
        // the manager's signal would warn past 10).
        signal,
        // Places in the shared line (this instance's line when it has no ticket yet).
        onQueued: (position) => onRoute(queue.queued(spot.position ?? position)),
        onPosition: (position) => queue.moved(spot.position ?? position),
        onLeave: () => void spot.leave(),
        undo: (entry) => {
          this.#options.admission.settled(plan, false);
          entry.launching = false;
          if (entry.info.id === '') this.#options.routes.removeEntry(entry);
        },
      },
    );
    return admitted.then(
      (entry) => {
        onRoute(entry);
        return entry;
      },
      (error: unknown) => {
        const left = queue.left();
        if (left !== undefined) this.#options.routes.removeEntry(left);
        throw error;
      },
    );
  }

  async #run(
    plan: LaunchPlan,
    spec: ContainerSpec,
    options: LaunchOptions,
    launching: RouteEntry,
    onDemand: boolean,
  ): Promise<ContainerInfo> {
    const name = plan.spec.name;
    const onProgress = (progress: LaunchProgress): void => {
      const phase = PROGRESS_PHASE[progress.phase];
      if (
        this.#options.table.get(name) === launching &&
        (launching.phase === 'pulling' || launching.phase === 'creating' || launching.phase === 'starting')
      ) {
        this.#options.routes.setPhase(launching, phase);
      }
      options.onProgress?.(progress);
    };
    try {
      let info: ContainerInfo;
      try {
        info = await this.#options.backend.launch(spec, { ...options, onProgress });
      } catch (error) {
        // Another manager of this namespace launched the same spec first: join it.
        const joined =
          isDdeError(error) && error.code === 'CONFLICT' ? await this.#sameSpec(name, plan) : undefined;
        if (joined === undefined) throw error;
        info = joined;
      }
      launching.launching = false;
      this.#options.logger.info({ name, image: info.image }, 'launched container');
      this.#options.metrics?.launchSucceeded();
      this.#options.routes.apply(info);
      return info;
    } catch (error) {
      launching.launching = false;
      this.#options.metrics?.launchFailed(isDdeError(error) ? error.code : 'ENGINE_ERROR');
      if (this.#options.table.get(name) === launching) {
        // A request started it: keep the route so its users see why, instead of starting again.
        if (onDemand) this.#options.routes.fail(launching, launchFailure(error));
        else if (launching.info.id === '' || this.#options.routes.destroyed(launching.info.id))
          this.#options.routes.removeEntry(launching);
        // The engine created the container before refusing to start it (a missing network): its
        // events came while the launch held the route; the route now follows what the engine says.
        else this.#options.routes.refresh(name);
      }
      this.#options.logger.warn({ name, error }, 'launch failed');
      throw error;
    }
  }

  /**
   * The running container of that name when it was launched from the same spec. Asks a few
   * times: another instance's launch may be creating it right now.
   */
  async #sameSpec(name: string, plan: LaunchPlan): Promise<ContainerInfo | undefined> {
    for (let attempt = 0; ; attempt++) {
      const info = await this.#options.backend
        .inspect(name, { signal: this.#options.closing })
        .catch(() => undefined);
      if (info !== undefined) return info.specHash === plan.labels[LABELS.specHash] ? info : undefined;
      if (attempt === SAME_SPEC_ATTEMPTS || this.#options.closing.aborted) return undefined;
      await sleep(200, this.#options.closing);
    }
  }
}
