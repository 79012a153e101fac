import { randomUUID } from 'node:crypto';
import { abortError } from '../errors.ts';
import type {
  AdmissionState,
  Coordination,
  Enqueued,
  LockOptions,
  LockOutcome,
  QueueTicket,
  Reservation,
} from './coordination.ts';

/** What peers of one {@link MemoryCoordination} share. */
class SharedMemory {
  readonly locks = new Map<string, { holder: string; expiresAt: number }>();
  readonly waiters = new Set<() => void>();
  readonly reservations = new Map<string, { reservation: Reservation; expiresAt: number }>();
  /** Per instance: the names it serves and until when it said so. */
  readonly busy = new Map<string, { names: ReadonlySet<string>; expiresAt: number }>();
  /** The start queue by ticket `seq`. */
  readonly tickets = new Map<number, { ticket: QueueTicket; expiresAt: number }>();
  lastSeq = 0;

  /** The live tickets in `seq` order, forgetting expired ones. */
  queue(): QueueTicket[] {
    const now = Date.now();
    const live: QueueTicket[] = [];
    for (const [seq, { ticket, expiresAt }] of this.tickets) {
      if (expiresAt <= now) this.tickets.delete(seq);
      else live.push(ticket);
    }
    return live.sort((a, b) => a.seq - b.seq);
  }

  wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** Options of {@link MemoryCoordination}. */
export interface MemoryCoordinationOptions {
  /**
   * Share the state of another instance: two managers in one process then coordinate as two
   * replicas would (for tests and the conformance suite).
   */
  peerOf?: MemoryCoordination;
}

/**
 * {@link Coordination} within one process: the default of a {@link ContainerManager}, where one
 * instance owns the namespace. Never unavailable.
 */
export class MemoryCoordination implements Coordination {
  readonly #shared: SharedMemory;
  /** This instance: holder of its locks, owner of its busy marks and queue tickets. */
  readonly #id = randomUUID();
  #busyElsewhere: ReadonlySet<string> = new Set();

  constructor(options: MemoryCoordinationOptions = {}) {
    this.#shared = options.peerOf === undefined ? new SharedMemory() : options.peerOf.#shared;
  }

  /** {@inheritDoc Coordination.start} */
  async start(): Promise<void> {}

  /** {@inheritDoc Coordination.withLock} */
  async withLock<T>(lock: string, fn: () => Promise<T>, options: LockOptions): Promise<LockOutcome<T>> {
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal, `Waiting for the ${lock} lock`);
      const now = Date.now();
      const held = this.#shared.locks.get(lock);
      if (held === undefined || held.expiresAt <= now) break;
      if (now >= deadline) return { ran: false };
      await this.#nextRelease(Math.min(deadline, held.expiresAt) - now, options.signal);
    }
    this.#shared.locks.set(lock, { holder: this.#id, expiresAt: Number.POSITIVE_INFINITY });
    try {
      return { ran: true, value: await fn() };
    } finally {
      if (this.#shared.locks.get(lock)?.holder === this.#id) this.#shared.locks.delete(lock);
      this.#shared.wake();
    }
  }

  /** Resolves when some lock is released, after `ms`, or when `signal` aborts. */
  #nextRelease(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#shared.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#shared.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** {@inheritDoc Coordination.reservations} */
  async reservations(): Promise<Reservation[]> {
    const now = Date.now();
    const live: Reservation[] = [];
    for (const [name, { reservation, expiresAt }] of this.#shared.reservations) {
      if (expiresAt <= now) this.#shared.reservations.delete(name);
      else live.push(reservation);
    }
    return live;
  }

  /** {@inheritDoc Coordination.admissionState} */
  async admissionState(): Promise<AdmissionState> {
    return { reservations: await this.reservations(), queue: this.#shared.queue() };
  }

  /** {@inheritDoc Coordination.enqueue} */
  async enqueue(name: string, ttlMs: number): Promise<Enqueued> {
    const seq = ++this.#shared.lastSeq;
    const now = Date.now();
    const ticket: QueueTicket = { name, instance: this.#id, seq, arrivedAt: now };
    this.#shared.tickets.set(seq, { ticket, expiresAt: now + ttlMs });
    return { ticket: { ...ticket }, queue: this.#shared.queue() };
  }

  /** {@inheritDoc Coordination.renewQueue} */
  async renewQueue(tickets: readonly QueueTicket[], ttlMs: number): Promise<QueueTicket[]> {
    const expiresAt = Date.now() + ttlMs;
    for (const ticket of tickets) this.#shared.tickets.set(ticket.seq, { ticket: { ...ticket }, expiresAt });
    return this.#shared.queue();
  }

  /** {@inheritDoc Coordination.dequeue} */
  async dequeue(ticket: QueueTicket): Promise<void> {
    this.#shared.tickets.delete(ticket.seq);
  }

  /** {@inheritDoc Coordination.reserve} */
  async reserve(reservation: Reservation, ttlMs: number): Promise<void> {
    this.#shared.reservations.set(reservation.name, {
      reservation: { ...reservation },
      expiresAt: Date.now() + ttlMs,
    });
  }

  /** {@inheritDoc Coordination.release} */
  async release(name: string): Promise<void> {
    this.#shared.reservations.delete(name);
  }

  /** {@inheritDoc Coordination.publishBusy} */
  async publishBusy(names: readonly string[], ttlMs: number): Promise<void> {
    const now = Date.now();
    this.#shared.busy.set(this.#id, { names: new Set(names), expiresAt: now + ttlMs });
    const elsewhere = new Set<string>();
    for (const [id, { names: busy, expiresAt }] of this.#shared.busy) {
      if (expiresAt <= now) this.#shared.busy.delete(id);
      else if (id !== this.#id) for (const name of busy) elsewhere.add(name);
    }
    this.#busyElsewhere = elsewhere;
  }

  /** {@inheritDoc Coordination.busyElsewhere} */
  busyElsewhere(name: string): boolean {
    return this.#busyElsewhere.has(name);
  }

  /** {@inheritDoc Coordination.close} */
  async close(): Promise<void> {
    this.#shared.busy.delete(this.#id);
    for (const [lock, held] of this.#shared.locks)
      if (held.holder === this.#id) this.#shared.locks.delete(lock);
    this.#shared.wake();
  }
}
