import { abortError, DdeError } from '../errors.ts';

/** What {@link StartQueue.admit}'s attempt answers when no start slot is free yet. */
export const NO_START_SLOT: unique symbol = Symbol('no start slot');

/**
 * One try at taking a start slot. `mayStart` is false while earlier launches wait (first come,
 * first served): the attempt then only checks what would refuse the launch outright, and
 * answers {@link NO_START_SLOT}. Resolves with what the launch needs once it holds a slot.
 */
export type StartAttempt<T> = (mayStart: boolean) => Promise<T | typeof NO_START_SLOT>;

/** Bounds of a {@link StartQueue}. */
export interface StartQueueOptions {
  /** Most launches waiting at once; 0 refuses at once, as without a queue. */
  readonly maxLength: number;
  /** Longest a launch waits for a slot, in ms. */
  readonly maxWaitMs: number;
  /**
   * How often the first waiter tries again by itself, in ms: slots that free where this
   * process cannot see it (another instance's launch that failed, a reservation that expired).
   */
  readonly retryMs: number;
  /** The limit being queued for, for messages (`limits.maxConcurrentStarts`). */
  readonly limit: number;
  /**
   * Whether an attempt's error is passing (the shared state is unreachable): a launch already
   * waiting keeps waiting and tries again; one that arrives meanwhile is refused with it.
   */
  readonly passing?: (error: unknown) => boolean;
  /**
   * Runs on each retry tick (every `retryMs` while launches wait) before the first in line tries
   * again: the manager renews its tickets in the shared start queue there.
   */
  readonly onTick?: () => Promise<void>;
}

/** Options of one {@link StartQueue.admit}. */
export interface QueuedLaunch<T> {
  /** Cancels the wait (the launch's own signal). */
  readonly signal?: AbortSignal | undefined;
  /** The launch waits (its route can say so now), at `position` in line (1 is next). */
  readonly onQueued?: (position: number) => void;
  /** Its place in line changed. */
  readonly onPosition?: (position: number) => void;
  /** It is out of line (it starts, or leaves without starting); called before the others move up. */
  readonly onLeave?: () => void;
  /**
   * The launch was cancelled while its attempt was taking a slot: give the slot back. Called
   * with what that attempt resolved with.
   */
  readonly undo?: (value: T) => void;
}

interface Waiter {
  readonly key: string;
  readonly attempt: StartAttempt<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly launch: QueuedLaunch<unknown>;
  /** Found no slot: it waits (its route says so). */
  queued: boolean;
  /** Its attempt under way. */
  trying: Promise<unknown> | undefined;
  /** Its first attempt, scheduled after the earlier arrivals' (see `StartQueue.#arrivals`). */
  arrival: Promise<unknown> | undefined;
  /** Set when it left (cancelled, timed out, refused); an attempt under way gives its slot back. */
  gone: boolean;
  cleanup: () => void;
}

/**
 * Launches waiting for a start slot (`limits.maxConcurrentStarts`), first come, first served,
 * like a semaphore with a bounded queue: launches try in arrival order, one at a time; the first
 * one that finds no slot waits at the head, and those behind it are only checked for what would
 * refuse them outright (other limits, the budget). The head tries again whenever a slot may have
 * freed ({@link StartQueue.wake}) and every `retryMs`; the next one tries as soon as it got one.
 * A launch waits at most `maxWaitMs`, and no more than `maxLength` wait: beyond them it is
 * refused with `LIMIT_EXCEEDED` naming the option to change.
 */
export class StartQueue {
  readonly #options: StartQueueOptions;
  readonly #waiters: Waiter[] = [];
  #pumping = false;
  /** A wake arrived while the head tried: it tries once more. */
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  /**
   * First attempts run one after another, in arrival order: a launch that has to wait takes its
   * place in the shared line (a ticket) during its first attempt, so places follow arrivals.
   */
  #arrivals: Promise<unknown> = Promise.resolve();
  #closed: unknown;

  constructor(options: StartQueueOptions) {
    this.#options = options;
  }

  /** Launches in line now (waiting, or about to try). */
  get length(): number {
    return this.#waiters.length;
  }

  /** Where the launch `key` is in line (1 is next), or undefined when it is not. */
  position(key: string): number | undefined {
    const index = this.#waiters.findIndex((waiter) => waiter.key === key);
    return index === -1 ? undefined : index + 1;
  }

  /**
   * Runs `attempt` in turn: at once when nobody is in line; when it finds no slot, the launch
   * waits until an attempt takes one. Rejects with what an attempt throws (another limit refuses
   * it), `LIMIT_EXCEEDED` when too many wait or the wait is too long, or the signal's error.
   */
  admit<T>(key: string, attempt: StartAttempt<T>, launch: QueuedLaunch<T> = {}): Promise<T> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (launch.signal?.aborted) return Promise.reject(abortError(launch.signal, `Launching ${key}`));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        attempt: attempt as StartAttempt<unknown>,
        resolve: resolve as (value: unknown) => void,
        reject,
        launch: launch as QueuedLaunch<unknown>,
        queued: false,
        trying: undefined,
        arrival: undefined,
        gone: false,
        cleanup: () => {},
      };
      const timer = setTimeout(() => this.#leave(waiter, this.#tooLong()), this.#options.maxWaitMs);
      const onAbort = (): void => {
        this.#leave(waiter, abortError(launch.signal as AbortSignal, `Waiting to launch ${key}`));
      };
      launch.signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => {
        clearTimeout(timer);
        launch.signal?.removeEventListener('abort', onAbort);
      };
      this.#waiters.push(waiter);
      if (this.#pumping) return; // the pump reaches it in turn
      if (this.#waiters.length === 1) void this.#pump();
      // The head waits for a slot: this one is checked for what would refuse it now.
      else void this.#check(waiter);
    });
  }

  /** A start slot may have freed: the first in line tries again. */
  wake(): void {
    if (this.#waiters.length === 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  /** Takes the launch `key` out of line (it will not start); false when it was not in line. */
  cancel(key: string, error: unknown): boolean {
    const waiter = this.#waiters.find((candidate) => candidate.key === key);
    if (waiter === undefined) return false;
    this.#leave(waiter, error);
    return true;
  }

  /** Refuses every launch in line with `error`, and every later one (the manager closes). */
  close(error: unknown): void {
    this.#closed = error;
    for (const waiter of [...this.#waiters]) this.#leave(waiter, error);
    this.#stopRetrying();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        for (;;) {
          const head = this.#waiters[0];
          if (head === undefined) break;
          if (head.trying !== undefined || (head.arrival !== undefined && !head.queued)) {
            // Its first attempt is under way or scheduled (it runs as first in line if it is by
            // then): one attempt at a time per launch, and first attempts in arrival order.
            await (head.trying ?? head.arrival)?.catch(() => {});
            continue;
          }
          if ((await this.#try(head, true)) !== 'no-slot') continue;
          // Those behind it that were not checked yet (they came while the pump ran) are now.
          for (const waiter of this.#waiters.slice(1)) await this.#check(waiter);
          break;
        }
      } while (this.#again && this.#waiters.length > 0);
    } finally {
      this.#pumping = false;
    }
  }

  /** One attempt of `waiter`: it starts, waits (no slot) or leaves (refused, or gone meanwhile). */
  async #try(waiter: Waiter, mayStart: boolean): Promise<'started' | 'no-slot' | 'left'> {
    let outcome: unknown = NO_START_SLOT;
    let refused: { error: unknown } | undefined;
    const trying = waiter.attempt(mayStart);
    waiter.trying = trying;
    try {
      outcome = await trying;
    } catch (error) {
      refused = { error };
    } finally {
      waiter.trying = undefined;
    }
    if (waiter.gone) {
      this.#remove(waiter);
      // Cancelled meanwhile: a slot it took goes back.
      if (refused === undefined && outcome !== NO_START_SLOT) waiter.launch.undo?.(outcome);
      return 'left';
    }
    if (refused !== undefined && !(waiter.queued && this.#options.passing?.(refused.error) === true)) {
      this.#leave(waiter, refused.error);
      return 'left';
    }
    if (refused === undefined && outcome !== NO_START_SLOT) {
      this.#remove(waiter);
      waiter.cleanup();
      waiter.resolve(outcome);
      return 'started';
    }
    if (!waiter.queued) {
      let queued = 0;
      for (const other of this.#waiters) if (other.queued) queued++;
      if (queued >= this.#options.maxLength) {
        this.#leave(waiter, this.#full());
        return 'left';
      }
      waiter.queued = true;
      waiter.launch.onQueued?.(this.#waiters.indexOf(waiter) + 1);
      this.#retryLater();
    }
    return 'no-slot';
  }

  /**
   * Schedules the first attempt of `waiter` after the earlier arrivals' (it may start if it is
   * first in line by then; else it is checked for what would refuse it now).
   */
  #check(waiter: Waiter): Promise<unknown> {
    if (waiter.arrival !== undefined || waiter.queued) return waiter.arrival ?? Promise.resolve();
    const arrival = this.#arrivals
      .then(() =>
        // Gone, or tried meanwhile (the pump tried it when it was first in line before this was scheduled).
        waiter.gone || waiter.queued || waiter.trying !== undefined || !this.#waiters.includes(waiter)
          ? undefined
          : this.#try(waiter, this.#waiters[0] === waiter),
      )
      .catch(() => {});
    waiter.arrival = arrival;
    this.#arrivals = arrival;
    return arrival;
  }

  /** The waiter leaves with `error`; with an attempt under way, #try removes it after. */
  #leave(waiter: Waiter, error: unknown): void {
    if (waiter.gone) return;
    waiter.gone = true;
    waiter.cleanup();
    waiter.reject(error);
    if (waiter.trying === undefined) this.#remove(waiter);
  }

  #remove(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    this.#waiters.splice(index, 1);
    waiter.launch.onLeave?.();
    for (let i = index; i < this.#waiters.length; i++) {
      const behind = this.#waiters[i];
      if (behind?.queued) behind.launch.onPosition?.(i + 1);
    }
    if (this.#waiters.length === 0) this.#stopRetrying();
    // A new first in line tries at once (the pump, when running, gets to it by itself).
    else if (index === 0 && !this.#pumping) this.wake();
  }
  #retryLater(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#tick(), this.#options.retryMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#options.onTick?.().catch(() => {});
    } finally {
      this.#ticking = false;
    }
    this.wake();
  }

  #stopRetrying(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #full(): DdeError {
    const { limit, maxLength } = this.#options;
    return new DdeError(
      'LIMIT_EXCEEDED',
      maxLength === 0
        ? `Limit reached: ${limit} containers are starting, the most allowed at once (limits.maxConcurrentStarts), and limits.maxQueuedStarts is 0. Try again shortly, or set limits.maxQueuedStarts to let launches wait.`
        : `Limit reached: ${limit} containers are starting and ${maxLength} more launches wait for a start slot (limits.maxQueuedStarts). Try again shortly, or raise limits.maxQueuedStarts or limits.maxConcurrentStarts.`,
      { field: 'limits.maxQueuedStarts' },
    );
  }

  #tooLong(): DdeError {
    const { limit, maxWaitMs } = this.#options;
    return new DdeError(
      'LIMIT_EXCEEDED',
      `Limit reached: waited ${Math.round(maxWaitMs / 1000)} s for one of ${limit} start slots (limits.maxStartWaitMs). Try again shortly, or raise limits.maxStartWaitMs or limits.maxConcurrentStarts.`,
      { field: 'limits.maxStartWaitMs' },
    );
  }
}
