import { appendFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
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

/** Compaction writes the file in pieces of about this many characters. */
const WRITE_CHUNK = 1 << 20;

/**
 * Activity kept in one JSON-lines file that survives restarts. Queries are answered from
 * memory (the most recent records per container); `record` only queues, and queued records are
 * appended in batches. `remove` appends a tombstone. The file is read line by line when opened,
 * and compacted (rewritten with only what is kept) when opened and whenever it grows to hold
 * much more than it keeps. A new file is readable by its owner only (mode 600); compaction
 * keeps an existing file's mode. One instance (one process) per file: compaction rewrites the
 * file from this instance's memory, so records another writer appended would be lost.
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
  /** The writes under way, one after another: appends and compactions never overlap. */
  #writing: Promise<void> = Promise.resolve();
  /** A write is queued that has not started: it will take whatever is pending then. */
  #queued = false;
  #closed = false;
  /** Lines in the file (records, tombstones and unreadable ones). */
  #lines = 0;

  private constructor(path: string, memory: MemoryHistory, options: FileHistoryOptions) {
    this.path = path;
    this.#memory = memory;
    this.#flushIntervalMs = positive('flushIntervalMs', options.flushIntervalMs ?? 1000);
    this.#flushBatchSize = positive('flushBatchSize', options.flushBatchSize ?? 512);
    this.#onError =
      options.onError ?? ((error) => console.warn('dde: cannot write activity history:', error));
  }

  /**
   * Opens (or creates) the file, loads its records line by line and compacts it when it holds
   * much more than it keeps. Lines that cannot be parsed (a crash mid-write) are skipped; a
   * torn last line is ended, so that the next record starts on a line of its own.
   */
  static async open(path: string, options: FileHistoryOptions = {}): Promise<FileHistory> {
    if (typeof path !== 'string' || path.length === 0) throw invalidOption('path', 'must be a file path');
    const memory = new MemoryHistory({
      maxRecordsPerContainer: checkMaxRecords(options.maxRecordsPerContainer),
    });
    const history = new FileHistory(path, memory, options);
    await mkdir(dirname(path), { recursive: true });
    const { lines, torn } = await load(path, memory);
    history.#lines = lines;
    if (history.#oversized()) await history.#compact(true);
    else if (torn) await appendFile(path, '\n');
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

  /** Appends every queued record now (compacting the file if it has grown too large). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length > 0 && !this.#queued) {
      this.#queued = true;
      this.#writing = this.#writing.then(() => this.#writeOut());
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

  /** Appends what is pending now; queued behind the previous write. Never rejects. */
  async #writeOut(): Promise<void> {
    this.#queued = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let text = '';
    for (const line of batch) text += `${JSON.stringify(line)}\n`;
    try {
      await appendFile(this.path, text, { mode: NEW_FILE_MODE });
    } catch (error) {
      this.#pending = batch.concat(this.#pending);
      this.#report(error);
      return;
    }
    this.#lines += batch.length;
    if (this.#oversized()) await this.#compact(false);
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A throwing onError must not stop the write queue.
    }
  }

  /** Whether the file holds much more than is kept (2x, and 1000 lines of slack). */
  #oversized(): boolean {
    return this.#lines > 2 * this.#memory.size + 1000;
  }

  /**
   * Replaces the file with what memory keeps. Memory holds every record so far, those still
   * pending included: they are written with the snapshot, and records arriving meanwhile are
   * appended to the new file afterwards. Runs inside the write queue (or before any write, at
   * open), so no append lands in the old file once the snapshot is taken. Rejects only at open.
   */
  async #compact(opening: boolean): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    const snapshot = this.#memory.containers().map((name) => [name, this.#memory.querySync(name)] as const);
    const temporary = `${this.path}.${process.pid}.tmp`;
    try {
      const mode = await modeOf(this.path);
      const handle = await open(temporary, 'w', mode);
      let lines = 0;
      try {
        // The mode given to open is narrowed by the umask: set it as it was.
        await handle.chmod(mode);
        let text = '';
        for (const [name, records] of snapshot) {
          for (const record of records) {
            text += `${JSON.stringify({ c: name, r: record })}\n`;
            lines++;
            if (text.length >= WRITE_CHUNK) {
              await handle.write(text);
              text = '';
            }
          }
        }
        if (text !== '') await handle.write(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
      this.#lines = lines;
    } catch (error) {
      this.#pending = batch.concat(this.#pending);
      await rm(temporary, { force: true }).catch(() => {});
      if (opening) throw error;
      this.#report(error);
    }
  }
}

/** Loads the file's records into memory, line by line. */
async function load(path: string, memory: MemoryHistory): Promise<{ lines: number; torn: boolean }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, torn: false };
    throw error;
  }
  let torn = false;
  let lines = 0;
  try {
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      torn = last[0] !== 0x0a;
    }
    const reader = createInterface({
      input: handle.createReadStream({ encoding: 'utf8', start: 0, autoClose: false }),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const raw of reader) {
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
  } finally {
    await handle.close();
  }
  return { lines, torn };
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
