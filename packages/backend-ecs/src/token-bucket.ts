import { abortError } from '@dde/core';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort?: () => void;
}

/**
 * A token bucket: `take()` resolves when a call may go out, so that bursts above `ratePerSecond`
 * (ECS allows about 20 RunTask calls per second per account and region) wait instead of being
 * throttled. Waiters are served first come, first served.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #refilledAt: number;
  readonly #waiters: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `ratePerSecond` tokens a second, at most `capacity` (default: one second's worth) at once. */
  constructor(ratePerSecond: number, capacity: number = ratePerSecond) {
    this.#rate = ratePerSecond;
    this.#capacity = Math.max(1, capacity);
    this.#tokens = this.#capacity;
    this.#refilledAt = Date.now();
  }

  /** Resolves when a token is available (and takes it); rejects when the signal aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal, 'Waiting for a RunTask slot'));
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(abortError(signal, 'Waiting for a RunTask slot'));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
    this.#refilledAt = now;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#waiters.length === 0) return;
    const wait = Math.max(0, Math.ceil(((1 - this.#tokens) / this.#rate) * 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#tokens >= 1 && this.#waiters.length > 0) {
        const waiter = this.#waiters.shift() as Waiter;
        this.#tokens -= 1;
        if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
        waiter.resolve();
      }
      this.#schedule();
    }, wait);
  }
}
