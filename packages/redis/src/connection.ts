import { DdeError, type Logger } from '@dde/core';
import { Redis } from 'ioredis';

/** Options of the Redis connection. */
export interface ConnectionOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly commandTimeoutMs: number;
}

/** The URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}

/**
 * One ioredis client with dde's failure behaviour: commands fail at once while Redis is away
 * (no offline queue: a decision waits for nobody), the client reconnects by itself, and the
 * outage is logged once when it starts and once when it ends.
 */
export class Connection {
  readonly client: Redis;
  readonly #url: string;
  readonly #logger: Logger;
  #lost = false;
  #started: Promise<void> | undefined;
  #closed = false;

  constructor(options: ConnectionOptions) {
    this.#url = redactedUrl(options.url);
    this.#logger = options.logger;
    this.client = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.commandTimeoutMs,
      // Keep trying, at most every 2 s: everything resumes when Redis returns.
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    });
    // Without a listener an unreachable Redis would crash the process; outages are logged below.
    this.client.on('error', () => {});
    this.client.on('close', () => {
      if (this.#closed || this.#started === undefined || this.#lost) return;
      this.#lost = true;
      this.#logger.warn(
        { url: this.#url },
        'lost the connection to Redis: launches are refused and culling pauses until it returns',
      );
    });
    this.client.on('ready', () => {
      if (!this.#lost) return;
      this.#lost = false;
      this.#logger.info({ url: this.#url }, 'Redis is reachable again: launches and culling resume');
    });
  }

  /** Whether {@link Connection.start} succeeded (the connection may be down now). */
  get started(): boolean {
    return this.#started !== undefined && !this.#closed;
  }

  /** Whether commands can be sent now. */
  get available(): boolean {
    return this.client.status === 'ready';
  }

  /** Connects once; rejects with `STATE_UNAVAILABLE` naming the URL when Redis cannot be reached. */
  start(): Promise<void> {
    this.#started ??= this.client.connect().catch((cause: unknown) => {
      this.client.disconnect();
      this.#started = undefined;
      throw new DdeError(
        'STATE_UNAVAILABLE',
        `Cannot reach Redis at ${this.#url}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
          'Start Redis or fix the url option.',
        { field: 'url', cause },
      );
    });
    return this.#started;
  }

  /** Runs a command, turning every failure into `STATE_UNAVAILABLE`. */
  async run<T>(what: string, command: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#started === undefined || this.#closed) {
      throw new DdeError('STATE_UNAVAILABLE', `Cannot ${what}: the Redis store is not started (or closed)`);
    }
    try {
      return await command(this.client);
    } catch (cause) {
      throw new DdeError(
        'STATE_UNAVAILABLE',
        `Cannot ${what}: Redis at ${this.#url} did not answer (${cause instanceof Error ? cause.message : String(cause)})`,
        { cause },
      );
    }
  }

  #users = 2;

  /** One of the store's two users (history, coordination) is done; the last one closes the client. */
  async release(): Promise<void> {
    this.#users--;
    if (this.#users <= 0) await this.close();
  }

  /** Closes the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }
}
