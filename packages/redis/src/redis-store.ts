import {
  DEFAULT_NAMESPACE,
  type FieldList,
  invalidOption,
  type Logger,
  refuseUnknownFields,
  silentLogger,
  validateNamespace,
} from '@dde/core';
import { Connection } from './connection.ts';
import { RedisCoordination } from './redis-coordination.ts';
import { RedisHistory } from './redis-history.ts';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` or `rediss://user:password@host:6380/0`. */
  url: string;
  /** The dde namespace the instances share (the backend's `namespace`). Default `dde`. */
  namespace?: string;
  /** Records kept per container, as in the file store. Default 1000. */
  maxRecordsPerContainer?: number;
  /** How often buffered activity is written and shared activity read, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** Records buffered at most while Redis is away; later ones are dropped (counted, logged). Default 10000. */
  maxPendingRecords?: number;
  /** How long one Redis command may take before it counts as failed, in ms. Default 2000. */
  commandTimeoutMs?: number;
  /** Where to log outages. Default: nowhere. */
  logger?: Logger;
}

const FIELDS: FieldList<RedisStoreOptions> = {
  url: true,
  namespace: true,
  maxRecordsPerContainer: true,
  flushIntervalMs: true,
  maxPendingRecords: true,
  commandTimeoutMs: true,
  logger: true,
};

/**
 * The state several application instances share through one Redis server: give each
 * instance's `ContainerManager` the store's {@link RedisStore.history} and
 * {@link RedisStore.coordination}; `manager.start()` connects (rejecting with
 * `STATE_UNAVAILABLE` when Redis cannot be reached) and `manager.close()` disconnects.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379', namespace: 'lab' });
 * const manager = new ContainerManager({
 *   backend: new DockerBackend({ namespace: 'lab' }),
 *   history: store.history,
 *   coordination: store.coordination,
 * });
 * await manager.start();
 * ```
 */
export class RedisStore {
  /** Activity shared by every instance. */
  readonly history: RedisHistory;
  /** Locks, launch reservations and busy marks shared by every instance. */
  readonly coordination: RedisCoordination;
  /** The key prefix of this namespace (`dde:<namespace>:`). */
  readonly prefix: string;
  readonly #connection: Connection;

  constructor(options: RedisStoreOptions) {
    refuseUnknownFields(options, FIELDS, 'RedisStore', invalidOption);
    if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw invalidOption('url', 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');
    }
    const namespace = options.namespace ?? DEFAULT_NAMESPACE;
    validateNamespace(namespace);
    const logger = options.logger ?? silentLogger;
    this.prefix = `dde:${namespace}:`;
    this.#connection = new Connection({
      url: options.url,
      logger,
      commandTimeoutMs: positiveInteger('commandTimeoutMs', options.commandTimeoutMs, 2000),
    });
    this.history = new RedisHistory(this.#connection, {
      prefix: this.prefix,
      maxRecordsPerContainer: positiveInteger('maxRecordsPerContainer', options.maxRecordsPerContainer, 1000),
      flushIntervalMs: positiveInteger('flushIntervalMs', options.flushIntervalMs, 1000),
      maxPendingRecords: positiveInteger('maxPendingRecords', options.maxPendingRecords, 10_000),
      logger,
    });
    // The manager starts the coordination: the history flushes from then on.
    this.coordination = new RedisCoordination(this.#connection, this.prefix, () =>
      this.history.startFlushing(),
    );
  }

  /** Connects (the manager's `start()` does it too). Rejects with `STATE_UNAVAILABLE`. */
  start(): Promise<void> {
    return this.coordination.start();
  }

  /** Whether Redis answers now. */
  get available(): boolean {
    return this.#connection.available;
  }

  /** Flushes the history, releases this instance's locks and marks, and disconnects. Idempotent. */
  async close(): Promise<void> {
    await this.history.close();
    await this.coordination.close();
    await this.#connection.close();
  }
}

function positiveInteger(field: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1) {
    throw invalidOption(field, `must be a whole number >= 1, got ${String(value)}`);
  }
  return resolved;
}
