import { invalidOption } from '../errors.ts';
import { type ActivityRecord, type History, type HistoryQuery, selectRecords } from './history.ts';

/** Options of {@link MemoryHistory}. */
export interface MemoryHistoryOptions {
  /** Records kept per container; older ones are dropped. Default 1000. */
  maxRecordsPerContainer?: number;
}

/**
 * A fixed-size ring of the latest records of one container, by time. Records arrive in the
 * order they finish while `time` is when they began, so they come nearly sorted: each one is
 * moved back past the few later ones, without allocating.
 */
class Ring {
  readonly items: ActivityRecord[] = [];
  /** Slot of the oldest record once the ring is full (0 until then). */
  start = 0;
  last = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  push(record: ActivityRecord): void {
    // An HTTP record's time is its start; a WebSocket record's time is when the event happened.
    const end = record.type === 'http' ? record.time + record.durationMs : record.time;
    if (end > this.last) this.last = end;
    const items = this.items;
    let position: number;
    if (items.length < this.capacity) {
      items.push(record);
      position = items.length - 1;
      // In order, the usual case: nothing to move.
      if (position === 0 || (items[position - 1] as ActivityRecord).time <= record.time) return;
    } else {
      // Older than everything kept: the ring keeps the latest records.
      const slot = this.start;
      if (record.time < (items[slot] as ActivityRecord).time) return;
      items[slot] = record;
      this.start = slot + 1 === this.capacity ? 0 : slot + 1;
      position = this.capacity - 1;
      const latest = items[slot === 0 ? this.capacity - 1 : slot - 1] as ActivityRecord;
      if (position === 0 || latest.time <= record.time) return;
    }
    const size = items.length;
    for (; position > 0; position--) {
      const here = (this.start + position) % size;
      const before = (here + size - 1) % size;
      const previous = items[before] as ActivityRecord;
      if (previous.time <= record.time) break;
      items[here] = previous;
      items[before] = record;
    }
  }
  ordered(): ActivityRecord[] {
    return this.start === 0
      ? this.items.slice()
      : [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
}

/** Checks the `maxRecordsPerContainer` option. */
export function checkMaxRecords(value: number | undefined): number {
  const max = value ?? 1000;
  if (!Number.isInteger(max) || max < 1) {
    throw invalidOption('maxRecordsPerContainer', `must be a positive integer, got ${String(value)}`);
  }
  return max;
}

/**
 * Activity kept in memory: the most recent records of each container (lost on restart). The
 * default history of a {@link ContainerManager}.
 */
export class MemoryHistory implements History {
  readonly #rings = new Map<string, Ring>();
  readonly #max: number;
  #size = 0;

  constructor(options: MemoryHistoryOptions = {}) {
    this.#max = checkMaxRecords(options.maxRecordsPerContainer);
  }

  /** {@inheritDoc History.record} */
  record(containerName: string, record: ActivityRecord): void {
    let ring = this.#rings.get(containerName);
    if (ring === undefined) {
      ring = new Ring(this.#max);
      this.#rings.set(containerName, ring);
    }
    const before = ring.items.length;
    ring.push(record);
    this.#size += ring.items.length - before;
  }

  /** {@inheritDoc History.query} */
  async query(containerName: string, options: HistoryQuery = {}): Promise<ActivityRecord[]> {
    return this.querySync(containerName, options);
  }

  /** Like {@link MemoryHistory.query}, synchronously. */
  querySync(containerName: string, options: HistoryQuery = {}): ActivityRecord[] {
    const ring = this.#rings.get(containerName);
    if (ring === undefined) return [];
    return selectRecords(ring.ordered(), options);
  }

  /** {@inheritDoc History.lastActivity} */
  lastActivity(containerName: string): Date | undefined {
    const ring = this.#rings.get(containerName);
    return ring === undefined ? undefined : new Date(ring.last);
  }

  /** Records kept, across containers. */
  get size(): number {
    return this.#size;
  }

  /** Names of the containers with records. */
  containers(): string[] {
    return [...this.#rings.keys()];
  }

  /** {@inheritDoc History.remove} */
  async remove(containerName: string): Promise<void> {
    this.forget(containerName);
  }

  /** Like {@link MemoryHistory.remove}, synchronously. */
  forget(containerName: string): void {
    const ring = this.#rings.get(containerName);
    if (ring === undefined) return;
    this.#size -= ring.items.length;
    this.#rings.delete(containerName);
  }

  /** {@inheritDoc History.close} */
  async close(): Promise<void> {}
}
