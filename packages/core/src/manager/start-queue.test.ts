import { afterEach, describe, expect, it } from 'vitest';
import { DdeError } from '../errors.ts';
import { NO_START_SLOT, type StartAttempt, StartQueue, type StartQueueOptions } from './start-queue.ts';

/** Start slots as a counter: what the admission lock decides, minus the store. */
class Slots {
  free: number;
  readonly started: string[] = [];
  /** Attempts made, with whether they could start. */
  readonly attempts: string[] = [];

  constructor(free: number) {
    this.free = free;
  }

  attempt(key: string, refuse?: () => Error | undefined): StartAttempt<string> {
    return async (mayStart) => {
      this.attempts.push(`${key}:${mayStart}`);
      await Promise.resolve(); // admission is asynchronous (a lock, a store)
      const refusal = refuse?.();
      if (refusal !== undefined) throw refusal;
      if (!mayStart || this.free === 0) return NO_START_SLOT;
      this.free--;
      this.started.push(key);
      return key;
    };
  }

  release(queue: StartQueue): void {
    this.free++;
    queue.wake();
  }
}

const queues: StartQueue[] = [];
afterEach(() => {
  for (const queue of queues.splice(0)) queue.close(new Error('test over'));
});

function queue(options: Partial<StartQueueOptions> = {}): StartQueue {
  const made = new StartQueue({ maxLength: 1000, maxWaitMs: 60_000, retryMs: 60_000, limit: 1, ...options });
  queues.push(made);
  return made;
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

async function rejection(promise: Promise<unknown>): Promise<DdeError> {
  try {
    await promise;
  } catch (error) {
    return error as DdeError;
  }
  throw new Error('expected a rejection');
}

describe('StartQueue', () => {
  it('starts launches beyond the free slots in arrival order as slots free', async () => {
    const slots = new Slots(1);
    const starts = queue();
    const positions = new Map<string, number[]>();
    const queued: string[] = [];
    const done = ['a', 'b', 'c', 'd'].map((key) =>
      starts.admit(key, slots.attempt(key), {
        onQueued: () => queued.push(key),
        onPosition: (position) => positions.set(key, [...(positions.get(key) ?? []), position]),
      }),
    );
    expect(await done[0]).toBe('a');
    await settle();
    expect(queued).toEqual(['b', 'c', 'd']);
    expect(starts.length).toBe(3);
    expect(starts.position('c')).toBe(2);
    for (const key of ['b', 'c', 'd']) {
      slots.release(starts);
      expect(await done[['a', 'b', 'c', 'd'].indexOf(key)]).toBe(key);
    }
    expect(slots.started).toEqual(['a', 'b', 'c', 'd']);
    expect(positions.get('d')).toEqual([2, 1]);
    expect(starts.length).toBe(0);
  });

  it('lets no newcomer overtake a waiting launch, even when a slot is free', async () => {
    const slots = new Slots(1);
    const starts = queue();
    const a = starts.admit('a', slots.attempt('a'));
    const b = starts.admit('b', slots.attempt('b'));
    await a;
    await settle();
    slots.free = 1; // freed without a wake yet
    const c = starts.admit('c', slots.attempt('c'));
    await settle();
    expect(slots.started).toEqual(['a']);
    expect(slots.attempts).toContain('c:false');
    starts.wake();
    expect(await b).toBe('b');
    slots.release(starts);
    expect(await c).toBe('c');
    expect(slots.started).toEqual(['a', 'b', 'c']);
  });

  it('refuses a launch beyond maxLength with LIMIT_EXCEEDED naming limits.maxQueuedStarts', async () => {
    const slots = new Slots(1);
    const starts = queue({ maxLength: 1 });
    await starts.admit('a', slots.attempt('a'));
    const b = starts.admit('b', slots.attempt('b'));
    const error = await rejection(starts.admit('c', slots.attempt('c')));
    expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxQueuedStarts' });
    expect(error.message).toMatch(/1 more launches wait .*raise limits.maxQueuedStarts/);
    slots.release(starts);
    expect(await b).toBe('b');
  });

  it('with maxLength 0 refuses at once when no slot is free, and starts when one is', async () => {
    const slots = new Slots(1);
    const starts = queue({ maxLength: 0 });
    expect(await starts.admit('a', slots.attempt('a'))).toBe('a');
    const error = await rejection(starts.admit('b', slots.attempt('b')));
    expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxQueuedStarts' });
    expect(error.message).toMatch(/limits.maxQueuedStarts is 0/);
    slots.free = 1;
    expect(await starts.admit('c', slots.attempt('c'))).toBe('c');
  });

  it('refuses a launch that waited maxWaitMs with LIMIT_EXCEEDED naming limits.maxStartWaitMs', async () => {
    const slots = new Slots(1);
    const starts = queue({ maxWaitMs: 50 });
    await starts.admit('a', slots.attempt('a'));
    const began = Date.now();
    const error = await rejection(starts.admit('b', slots.attempt('b')));
    expect(Date.now() - began).toBeGreaterThanOrEqual(45);
    expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', field: 'limits.maxStartWaitMs' });
    expect(starts.length).toBe(0);
    slots.release(starts);
    expect(slots.started).toEqual(['a']);
  });

  it('takes a cancelled or aborted launch out of line; those behind move up', async () => {
    const slots = new Slots(1);
    const starts = queue();
    await starts.admit('a', slots.attempt('a'));
    const positions: number[] = [];
    const b = starts.admit('b', slots.attempt('b'));
    const controller = new AbortController();
    const c = starts.admit('c', slots.attempt('c'), { signal: controller.signal });
    const d = starts.admit('d', slots.attempt('d'), {
      onQueued: (position) => positions.push(position),
      onPosition: (position) => positions.push(position),
    });
    await settle();
    expect(starts.cancel('b', new DdeError('ABORTED', 'removed'))).toBe(true);
    expect(await rejection(b)).toMatchObject({ code: 'ABORTED', message: 'removed' });
    controller.abort();
    expect(await rejection(c)).toMatchObject({ code: 'ABORTED' });
    expect(starts.cancel('nobody', new Error('x'))).toBe(false);
    expect(positions).toEqual([3, 2, 1]);
    slots.release(starts);
    expect(await d).toBe('d');
    expect(slots.started).toEqual(['a', 'd']);
  });

  it('lets the next in line try at once when the first leaves', async () => {
    const slots = new Slots(1);
    const starts = queue();
    await starts.admit('a', slots.attempt('a'));
    const b = starts.admit('b', slots.attempt('b'));
    const c = starts.admit('c', slots.attempt('c'));
    await settle();
    slots.free = 1; // freed without a wake (retryMs is a minute)
    starts.cancel('b', new Error('removed'));
    await rejection(b);
    expect(await c).toBe('c');
  });

  it('gives back the slot of a launch cancelled while its attempt took one', async () => {
    const slots = new Slots(0);
    const starts = queue();
    const undone: string[] = [];
    const a = starts.admit('a', slots.attempt('a'), {
      undo: (key) => {
        undone.push(key);
        slots.free++;
      },
    });
    const b = starts.admit('b', slots.attempt('b'));
    await settle();
    slots.release(starts); // a's attempt starts now...
    starts.cancel('a', new Error('removed')); // ...and a is cancelled before it ends
    expect(await rejection(a)).toMatchObject({ message: 'removed' });
    expect(undone).toEqual(['a']);
    starts.wake();
    expect(await b).toBe('b');
    expect(slots.free).toBe(0);
  });

  it('lets a launch another limit refuses leave, and the next one start (no slot taken)', async () => {
    const slots = new Slots(1);
    const starts = queue();
    await starts.admit('a', slots.attempt('a'));
    let refuse = false;
    const refusal = new DdeError('CAPACITY_EXCEEDED', 'no room');
    const b = starts.admit(
      'b',
      slots.attempt('b', () => (refuse ? refusal : undefined)),
    );
    const c = starts.admit('c', slots.attempt('c'));
    await settle();
    refuse = true;
    slots.release(starts);
    expect(await rejection(b)).toBe(refusal);
    expect(await c).toBe('c');
    // Refused on arrival: never in line.
    const d = starts.admit(
      'd',
      slots.attempt('d', () => refusal),
    );
    expect(await rejection(d)).toBe(refusal);
    expect(starts.length).toBe(0);
  });

  it('keeps a waiting launch waiting through a passing error; refuses a new one with it', async () => {
    const slots = new Slots(1);
    const unreachable = new DdeError('STATE_UNAVAILABLE', 'Redis is away');
    const starts = queue({ retryMs: 20, passing: (error) => error === unreachable });
    await starts.admit('a', slots.attempt('a'));
    let away = false;
    const refuse = () => (away ? unreachable : undefined);
    const b = starts.admit('b', slots.attempt('b', refuse));
    await settle();
    away = true;
    slots.release(starts);
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 50)); // a few retries, all failing
    expect(await rejection(starts.admit('c', slots.attempt('c', refuse)))).toBe(unreachable);
    expect(starts.position('b')).toBe(1);
    away = false;
    expect(await b).toBe('b');
  });

  it('retries the head every retryMs, for slots freed where no wake comes from', async () => {
    const slots = new Slots(1);
    const starts = queue({ retryMs: 20 });
    await starts.admit('a', slots.attempt('a'));
    const b = starts.admit('b', slots.attempt('b'));
    await settle();
    slots.free = 1; // another instance's launch failed: nothing here wakes the queue
    expect(await b).toBe('b');
  });

  it('refuses every launch in line and every later one once closed', async () => {
    const slots = new Slots(1);
    const starts = queue();
    await starts.admit('a', slots.attempt('a'));
    const b = starts.admit('b', slots.attempt('b'));
    await settle();
    const closed = new DdeError('ABORTED', 'closed');
    starts.close(closed);
    expect(await rejection(b)).toBe(closed);
    expect(await rejection(starts.admit('c', slots.attempt('c')))).toBe(closed);
  });

  it('runs first attempts one at a time in arrival order, so places in a shared line follow arrivals', async () => {
    const slots = new Slots(1);
    const starts = queue();
    await starts.admit('a', slots.attempt('a'));
    let inside = 0;
    let most = 0;
    const order: string[] = [];
    const slow = (key: string): StartAttempt<string> => {
      const attempt = slots.attempt(key);
      return async (mayStart) => {
        inside++;
        most = Math.max(most, inside);
        // Arrivals finish out of order unless run one after another.
        await new Promise((resolve) => setTimeout(resolve, key === 'b' ? 30 : 5));
        order.push(key);
        inside--;
        return attempt(mayStart);
      };
    };
    const waiting = ['b', 'c', 'd'].map((key) => starts.admit(key, slow(key)));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(order).toEqual(['b', 'c', 'd']);
    expect(most).toBe(1);
    for (const key of ['b', 'c', 'd']) {
      slots.release(starts);
      expect(await waiting[['b', 'c', 'd'].indexOf(key)]).toBe(key);
    }
  });

  it('tells a launch it is out of line before those behind it move up', async () => {
    const slots = new Slots(0);
    const starts = queue();
    const events: string[] = [];
    const b = starts.admit('b', slots.attempt('b'), { onLeave: () => events.push('b left') });
    const c = starts.admit('c', slots.attempt('c'), {
      onLeave: () => events.push('c left'),
      onPosition: (position) => events.push(`c at ${position}`),
    });
    await settle();
    expect(starts.cancel('b', new Error('cancelled'))).toBe(true);
    await rejection(b);
    expect(events).toEqual(['b left', 'c at 1']);
    slots.release(starts);
    expect(await c).toBe('c');
    expect(events).toEqual(['b left', 'c at 1', 'c left']);
  });

  it('runs onTick on each retry, before the first in line tries again', async () => {
    const slots = new Slots(0);
    const ticks: number[] = [];
    const starts = queue({
      retryMs: 20,
      onTick: async () => {
        ticks.push(slots.attempts.length);
        if (ticks.length === 3) slots.free = 1;
      },
    });
    expect(await starts.admit('a', slots.attempt('a'))).toBe('a');
    expect(ticks.length).toBe(3);
    // Each tick came before the retry it led to.
    expect(ticks).toEqual([1, 2, 3]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ticks.length).toBe(3); // nobody waits: no more ticks
  });
});
