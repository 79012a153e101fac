import { type ActivityRecord, type History, type HistoryQuery, type Logger, selectRecords } from '@dde/core';
import type { Connection } from './connection.ts';

/** Settings of {@link RedisHistory}, from {@link RedisStoreOptions}. */
export interface RedisHistorySettings {
  readonly prefix: string;
  readonly maxRecordsPerContainer: number;
  readonly flushIntervalMs: number;
  readonly maxPendingRecords: number;
  readonly logger: Logger;
}

/** When an exchange ended: the activity it proves. */
function endOf(record: ActivityRecord): number {
  return record.type === 'http' ? record.time + record.durationMs : record.time;
}

/**
 * `History` (from `@dde/core`) in Redis, shared by every instance: records go to one list per container
 * (trimmed to `maxRecordsPerContainer`, like the file store), last activity to one sorted set
 * (`ZADD GT`: the latest wins, whoever wrote it).
 *
 * Off the hot path: {@link RedisHistory.record} only buffers; a timer flushes the buffer in
 * one pipeline about once a second (last-seen times coalesced per container) and reads back
 * every container's last activity, which {@link RedisHistory.lastActivity} answers from. While
 * Redis is away the buffer keeps the latest `maxPendingRecords` records and every last-seen time.
 */
export class RedisHistory implements History {
  readonly #connection: Connection;
  readonly #settings: RedisHistorySettings;
  #pending = new Map<string, ActivityRecord[]>();
  #pendingCount = 0;
  #dropped = 0;
  /** Activity recorded here and not yet flushed: end time per container. */
  #localLast = new Map<string, number>();
  /** Every container's last activity as Redis had it at the last flush. */
  #shared = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #closing = false;

  /** @internal Built by {@link RedisStore}. */
  constructor(connection: Connection, settings: RedisHistorySettings) {
    this.#connection = connection;
    this.#settings = settings;
  }

  /**
   * @internal Reads the shared last activity once (so that a manager deciding right after
   * `start()`, like the CLI's purge, weighs every instance's activity), then flushes
   * periodically. The store calls it once connected.
   */
  async startFlushing(): Promise<void> {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => void this.flush().catch(() => {}), this.#settings.flushIntervalMs);
    this.#timer.unref();
    await this.flush();
  }

  /** Buffers one activity record (never throws, never waits for Redis). */
  record(containerName: string, record: ActivityRecord): void {
    const end = endOf(record);
    const last = this.#localLast.get(containerName);
    if (last === undefined || end > last) this.#localLast.set(containerName, end);
    if (this.#pendingCount >= this.#settings.maxPendingRecords) {
      this.#dropped++;
      return;
    }
    let list = this.#pending.get(containerName);
    if (list === undefined) {
      list = [];
      this.#pending.set(containerName, list);
    }
    list.push(record);
    this.#pendingCount++;
  }

  /**
   * Writes the buffered records and last-seen times, and reads back every container's last
   * activity. Concurrent calls share one flush. Rejects with `STATE_UNAVAILABLE` when Redis
   * is away (the buffer is kept for the next one).
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const pending = this.#pending;
    const localLast = this.#localLast;
    this.#pending = new Map();
    this.#pendingCount = 0;
    this.#localLast = new Map();
    const { prefix, maxRecordsPerContainer } = this.#settings;
    try {
      const shared = await this.#connection.run('write activity', async (client) => {
        const pipeline = client.multi();
        for (const [name, records] of pending) {
          const key = `${prefix}records:${name}`;
          pipeline.rpush(key, ...records.map((record) => JSON.stringify(record)));
          pipeline.ltrim(key, -maxRecordsPerContainer, -1);
        }
        for (const [name, end] of localLast) pipeline.zadd(`${prefix}last`, 'GT', end, name);
        pipeline.zrange(`${prefix}last`, 0, -1, 'WITHSCORES');
        const results = await pipeline.exec();
        const last = results?.[results.length - 1];
        if (last === undefined || last[0] !== null) throw last?.[0] ?? new Error('no answer');
        return last[1] as string[];
      });
      const map = new Map<string, number>();
      for (let index = 0; index < shared.length; index += 2) {
        map.set(shared[index] as string, Number(shared[index + 1]));
      }
      this.#shared = map;
      if (this.#dropped > 0) {
        this.#settings.logger.warn(
          { dropped: this.#dropped },
          'activity records were dropped while Redis was away (last-seen times were kept)',
        );
        this.#dropped = 0;
      }
    } catch (error) {
      // Put back what was not written, in front of what arrived meanwhile.
      for (const [name, records] of pending) {
        if (this.#removedDuringFlush.has(name)) continue;
        const newer = this.#pending.get(name) ?? [];
        const kept = [...records, ...newer].slice(-this.#settings.maxPendingRecords);
        this.#pendingCount += kept.length - newer.length;
        this.#pending.set(name, kept);
      }
      for (const [name, end] of localLast) {
        if (this.#removedDuringFlush.has(name)) continue;
        const newer = this.#localLast.get(name);
        if (newer === undefined || end > newer) this.#localLast.set(name, end);
      }
      throw error;
    } finally {
      this.#removedDuringFlush.clear();
    }
  }

  readonly #removedDuringFlush = new Set<string>();

  /** The container's records, from every instance, in chronological order. */
  async query(containerName: string, options: HistoryQuery = {}): Promise<ActivityRecord[]> {
    const raw = await this.#connection.run(`read the activity of ${containerName}`, (client) =>
      client.lrange(`${this.#settings.prefix}records:${containerName}`, 0, -1),
    );
    // Instances append in the order they flush: sort by time (stable for equal times).
    const records = raw.map((json) => JSON.parse(json) as ActivityRecord).sort((x, y) => x.time - y.time);
    return selectRecords(records, options);
  }

  /** When the container last saw activity on any instance (as of the last flush) or here. */
  lastActivity(containerName: string): Date | undefined {
    const local = this.#localLast.get(containerName);
    const shared = this.#shared.get(containerName);
    if (local === undefined && shared === undefined) return undefined;
    return new Date(Math.max(local ?? 0, shared ?? 0));
  }

  /** Forgets everything about the container, on every instance. */
  async remove(containerName: string): Promise<void> {
    const records = this.#pending.get(containerName);
    if (records !== undefined) {
      this.#pendingCount -= records.length;
      this.#pending.delete(containerName);
    }
    this.#localLast.delete(containerName);
    this.#shared.delete(containerName);
    if (this.#flushing !== undefined) this.#removedDuringFlush.add(containerName);
    const { prefix } = this.#settings;
    await this.#connection.run(`forget the activity of ${containerName}`, (client) =>
      client.multi().del(`${prefix}records:${containerName}`).zrem(`${prefix}last`, containerName).exec(),
    );
  }

  /** Writes what is buffered and lets go of the connection. */
  async close(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#connection.started)
      await this.flush().catch((error: unknown) => {
        this.#settings.logger.warn({ error }, 'could not write the last activity records to Redis');
      });
    this.#closed = true;
    await this.#connection.release();
  }
}
