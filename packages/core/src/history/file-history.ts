import { appendFile, chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { invalidOption } from '../errors.ts';
import type { ActivityRecord, History, HistoryQuery } from './history.ts';
import { checkMaxRecords, MemoryHistory } from './memory-history.ts';

/** Options of {@link FileHistory.open}. */
export interface FileHistoryOptions {
  /** Records kept per container (in memory and after compaction). Default 1000. */
  maxRecordsPerContainer?: number;
  /** How long records wait in memory before being appended, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** Append at once when this many records wait. Default 512. */
  flushBatchSize?: number;
  /** Called when writing fails (the records stay queued). Default: `console.warn`. */
  onError?: (error: unknown) => void;
}

/** Activity may tell who did what: a new file is its owner's only. */
const NEW_FILE_MODE = 0o600;

// One line of the file: a record with its container, or a tombstone forgetting a container.
type Line =
  | { readonly c: string; readonly r: ActivityRecord }
  | { readonly c: string; readonly removed: true };

/**
 * Activity kept in one JSON-lines file that survives restarts. Queries are answered from
 * memory (the most recent records per container); `record` only queues, and queued records are
 * appended in batches. `remove` appends a tombstone; the file is compacted when opened. A new
 * file is readable by its owner only (mode 600); compaction keeps an existing file's mode.
 *
 * @example
 * ```ts
 * const history = await FileHistory.open('/var/lib/dde/history.jsonl');
 * const manager = new ContainerManager({ backend, history });
 * ```
 */
export class FileHistory implements History {
  /** The file's path. */
  readonly path: string;
  readonly #memory: MemoryHistory;
  readonly #flushIntervalMs: number;
  readonly #flushBatchSize: number;
  readonly #onError: (error: unknown) => void;
  #pending: Line[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, memory: MemoryHistory, options: FileHistoryOptions) {
    this.path = path;
    this.#memory = memory;
    this.#flushIntervalMs = positive('flushIntervalMs', options.flushIntervalMs ?? 1000);
    this.#flushBatchSize = positive('flushBatchSize', options.flushBatchSize ?? 512);
    this.#onError =
      options.onError ?? ((error) => console.warn('dde: cannot write activity history:', error));
  }

  /**
   * Opens (or creates) the file, loads its records and compacts it when it holds much more
   * than it keeps. Lines that cannot be parsed (a crash mid-write) are skipped; a torn last line
   * is ended, so that the next record starts on a line of its own.
   */
  static async open(path: string, options: FileHistoryOptions = {}): Promise<FileHistory> {
    if (typeof path !== 'string' || path.length === 0) throw invalidOption('path', 'must be a file path');
    const memory = new MemoryHistory({
      maxRecordsPerContainer: checkMaxRecords(options.maxRecordsPerContainer),
    });
    const history = new FileHistory(path, memory, options);
    await mkdir(dirname(path), { recursive: true });
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let lines = 0;
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      lines++;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      if (typeof line?.c !== 'string') continue;
      if ('removed' in line) memory.forget(line.c);
      else if (typeof line.r === 'object' && line.r !== null) memory.record(line.c, line.r);
    }
    const kept = memory.containers().reduce((sum, name) => sum + memory.querySync(name).length, 0);
    if (lines > 2 * kept + 1000) await history.#compact();
    // A torn last line: end it, so that the next record starts on a line of its own.
    else if (text !== '' && !text.endsWith('\n')) await appendFile(path, '\n');
    return history;
  }

  /** {@inheritDoc History.record} */
  record(containerName: string, record: ActivityRecord): void {
    this.#memory.record(containerName, record);
    this.#enqueue({ c: containerName, r: record });
  }

  /** {@inheritDoc History.query} */
  async query(containerName: string, options?: HistoryQuery): Promise<ActivityRecord[]> {
    return this.#memory.querySync(containerName, options);
  }

  /** {@inheritDoc History.lastActivity} */
  lastActivity(containerName: string): Date | undefined {
    return this.#memory.lastActivity(containerName);
  }

  /** {@inheritDoc History.remove} */
  async remove(containerName: string): Promise<void> {
    this.#memory.forget(containerName);
    this.#enqueue({ c: containerName, removed: true });
    await this.flush();
  }

  /** Appends every queued record now. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      let text = '';
      for (const line of batch) text += `${JSON.stringify(line)}\n`;
      this.#writing = this.#writing.then(() =>
        appendFile(this.path, text, { mode: NEW_FILE_MODE }).catch((error: unknown) => {
          this.#pending = batch.concat(this.#pending);
          this.#onError(error);
        }),
      );
    }
    await this.#writing;
  }

  /**
   * Writes out everything queued, including records that arrive while it does (a WebSocket's
   * close record during shutdown). Records arriving later are still appended, at once.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    let tail: Promise<void>;
    do {
      tail = this.#writing;
      await tail;
    } while (tail !== this.#writing);
  }

  #enqueue(line: Line): void {
    this.#pending.push(line);
    // Once closed there is no timer: write at once, or the record would wait forever.
    if (this.#closed || this.#pending.length >= this.#flushBatchSize) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushIntervalMs);
      this.#timer.unref();
    }
  }

  async #compact(): Promise<void> {
    let text = '';
    for (const name of this.#memory.containers()) {
      for (const record of this.#memory.querySync(name))
        text += `${JSON.stringify({ c: name, r: record })}\n`;
    }
    const temporary = `${this.path}.${process.pid}.tmp`;
    const mode = await modeOf(this.path);
    await writeFile(temporary, text, { mode });
    // The mode given to writeFile is narrowed by the umask: set it as it was.
    await chmod(temporary, mode);
    await rename(temporary, this.path);
  }
}

/** The mode of the file, or the one a new file gets. */
async function modeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NEW_FILE_MODE;
    throw error;
  }
}

function positive(field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw invalidOption(field, `must be a positive number, got ${value}`);
  return value;
}
