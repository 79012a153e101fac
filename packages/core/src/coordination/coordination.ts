/**
 * A launch admitted by some instance: it counts against the budget and the limits of every
 * instance until their route tables show the container itself.
 */
export interface Reservation {
  /** Container name. */
  readonly name: string;
  /** Hash of the spec being launched: the same spec joins the launch, another one is a `CONFLICT`. */
  readonly specHash: string;
  /** The spec's owner, for the per-owner limit. */
  readonly owner: string | undefined;
  /** Memory the container reserves, in MB. */
  readonly memoryReservationMb: number;
  /**
   * True while the container is starting (counts against `maxConcurrentStarts`): from its
   * admission until every instance's route table shows it (then its phase there counts).
   */
  readonly starting: boolean;
}

/**
 * A launch waiting for a start slot (`limits.maxConcurrentStarts`), as every instance sees it:
 * the shared start queue is the live tickets in `seq` order, first come, first served.
 */
export interface QueueTicket {
  /** Container name of the waiting launch. */
  readonly name: string;
  /** Id of the instance whose launch waits (tickets of one name may come from several instances). */
  readonly instance: string;
  /**
   * Place in arrival order, given by the store (a counter it increments atomically, never an
   * instance's clock): unique, and larger for a later ticket. Identifies the ticket.
   */
  readonly seq: number;
  /** When the store issued it, by the store's clock, in ms since the epoch (for diagnostics). */
  readonly arrivedAt: number;
}

/** What {@link Coordination.admissionState} reads in one step. */
export interface AdmissionState {
  /** Every reservation not expired, as {@link Coordination.reservations} answers. */
  readonly reservations: Reservation[];
  /** Every queue ticket not expired, in `seq` order, as {@link Coordination.renewQueue} answers. */
  readonly queue: QueueTicket[];
}

/** What {@link Coordination.enqueue} answers. */
export interface Enqueued {
  /** The new ticket. */
  readonly ticket: QueueTicket;
  /** Every live ticket in `seq` order, the new one included. */
  readonly queue: QueueTicket[];
}

/** Options of {@link Coordination.withLock}. */
export interface LockOptions {
  /**
   * How long the lock outlives a holder that stops renewing it (a crashed instance), in ms.
   * A live holder keeps renewing it while its function runs.
   */
  readonly ttlMs: number;
  /** How long to wait for the lock when another holder has it, in ms; 0 gives up at once. */
  readonly waitMs: number;
  /** Cancels the wait. */
  readonly signal?: AbortSignal;
}

/** {@link Coordination.withLock} ran the function: here is what it returned. */
export interface LockRan<T> {
  /** Discriminant. */
  readonly ran: true;
  /** What the function resolved with. */
  readonly value: T;
}

/** {@link Coordination.withLock} found the lock taken for `waitMs` and did not run the function. */
export interface LockTaken {
  /** Discriminant. */
  readonly ran: false;
}

/** What {@link Coordination.withLock} did: ran the function, or found the lock taken. */
export type LockOutcome<T> = LockRan<T> | LockTaken;

/**
 * What the instances sharing one namespace decide together: exclusive sections (admission,
 * culling), launches admitted but not yet visible everywhere, the start queue (launches waiting
 * for a start slot, on any instance), and which containers some
 * instance is serving right now (open WebSockets, exchanges in flight).
 *
 * {@link MemoryCoordination} is the default (one instance); a shared store (e.g. `@dde/redis`)
 * lets several instances share a namespace. Every method but {@link Coordination.busyElsewhere}
 * may reject with `STATE_UNAVAILABLE` when the store cannot be reached: callers fail closed.
 */
export interface Coordination {
  /** Connects; rejects with `STATE_UNAVAILABLE` when the store cannot be reached. Idempotent. */
  start(): Promise<void>;
  /**
   * Runs `fn` holding the namespace-wide lock `lock`: no other instance runs a function under
   * the same lock meanwhile. Resolves `{ ran: false }` when the lock stayed taken for `waitMs`.
   */
  withLock<T>(lock: string, fn: () => Promise<T>, options: LockOptions): Promise<LockOutcome<T>>;
  /** Every reservation not expired, from every instance. */
  reservations(): Promise<Reservation[]>;
  /**
   * The reservations and the start queue together, in one round trip to the store: what
   * admission reads under its lock for every launch.
   */
  admissionState(): Promise<AdmissionState>;
  /**
   * Gives a launch of `name` that has to wait a ticket in the shared start queue, with the next
   * `seq`, forgotten after `ttlMs` unless renewed. Resolves with the ticket and the live queue.
   */
  enqueue(name: string, ttlMs: number): Promise<Enqueued>;
  /**
   * Keeps this instance's `tickets` for another `ttlMs` (putting back, with their place, any that
   * expired meanwhile, e.g. during an outage), drops every expired ticket and resolves with the
   * live queue in `seq` order. An instance that dies stops renewing: its tickets expire.
   */
  renewQueue(tickets: readonly QueueTicket[], ttlMs: number): Promise<QueueTicket[]>;
  /** Takes `ticket` out of the queue (its launch started, was refused or cancelled). */
  dequeue(ticket: QueueTicket): Promise<void>;
  /** Adds or replaces the reservation of `reservation.name`, forgotten after `ttlMs`. */
  reserve(reservation: Reservation, ttlMs: number): Promise<void>;
  /** Forgets the reservation of `name` (the launch failed, or the container is gone). */
  release(name: string): Promise<void>;
  /**
   * Says which containers this instance serves right now (replacing what it said before), for
   * `ttlMs`: an instance that dies stops pinning them once that passes. Also refreshes what
   * {@link Coordination.busyElsewhere} answers.
   */
  publishBusy(names: readonly string[], ttlMs: number): Promise<void>;
  /**
   * Whether another instance serves the container, as of the last {@link Coordination.publishBusy}.
   * Synchronous and cheap; never throws.
   */
  busyElsewhere(name: string): boolean;
  /** Releases resources; locks held by this instance are released. */
  close(): Promise<void>;
}
