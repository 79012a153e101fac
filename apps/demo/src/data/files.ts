/**
 * The data files people can open in a tool: the samples that ship with the demo, and files
 * people upload (kept on disk, each visible to its owner only).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FormError } from '../web/form-error.ts';

/** One data file. */
export interface DataFile {
  /** Stable id: `s-<name>` for samples, `u-<hex>` for uploads. */
  readonly id: string;
  /** File name shown to people (and to tools). */
  readonly name: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** Who uploaded it; undefined for samples (visible to everyone). */
  readonly owner: string | undefined;
  /** Where it is on disk. */
  readonly path: string;
}

/** Options of {@link DataFiles.open}. */
export interface DataFilesOptions {
  /** Directory with the sample CSV files. */
  readonly samplesDir: string;
  /** Directory uploads are stored in (created when missing). */
  readonly uploadDir: string;
  /** Largest upload accepted, in bytes. */
  readonly maxUploadBytes: number;
  /** Uploads kept per owner; a new one beyond it removes that owner's oldest. Default 20. */
  readonly maxUploadsPerOwner?: number;
}

/**
 * Names as people's files have them (`data (1).csv`, `données.csv`): the name is only shown
 * and handed to tools (uploads are stored under a generated id), so any printable text goes,
 * except control and bidirectional-override characters, a leading dot, and the characters
 * Windows forbids in file names (which no ordinary file name has).
 */
const NAME = /^[^\p{Cc}\p{Cf}.<>:"/\\|?*][^\p{Cc}\p{Cf}<>:"/\\|?*]{0,99}$/u;
const EXTENSIONS = /\.(csv|tsv|txt)$/i;

/** Checks an uploaded file's name; returns it (NFC) without any directory part. */
export function checkFileName(name: string): string {
  const base = basename(name.replaceAll('\\', '/')).normalize('NFC').trim();
  if (base === '') throw new FormError('upload', 'Choose a file to upload.');
  if (!EXTENSIONS.test(base)) {
    throw new FormError(
      'upload',
      `"${base.slice(0, 120)}" is not a CSV file: upload a file ending in .csv, .tsv or .txt (save a spreadsheet as CSV first).`,
      415,
    );
  }
  if (!NAME.test(base)) {
    throw new FormError(
      'upload',
      `"${base.slice(0, 120)}" is not an accepted file name: at most 100 characters, not starting with a dot, without control characters or any of < > : " | ? *.`,
    );
  }
  return base;
}

/** Samples and uploads, by id. */
export class DataFiles {
  readonly #files = new Map<string, DataFile>();
  /** Order of the uploads, kept on disk with each (timestamps tie). */
  #sequence = 0;
  readonly #options: DataFilesOptions;

  private constructor(options: DataFilesOptions) {
    this.#options = options;
  }

  /** Reads the samples and the uploads already on disk. */
  static async open(options: DataFilesOptions): Promise<DataFiles> {
    const files = new DataFiles(options);
    await mkdir(options.uploadDir, { recursive: true });
    for (const entry of (await readdir(options.samplesDir)).sort()) {
      if (!EXTENSIONS.test(entry)) continue;
      const path = join(options.samplesDir, entry);
      const id = `s-${entry
        .replace(/\.[^.]+$/, '')
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')}`;
      files.#files.set(id, { id, name: entry, bytes: (await stat(path)).size, owner: undefined, path });
    }
    const uploads: Array<{ file: DataFile; sequence: number }> = [];
    const entries = await readdir(options.uploadDir);
    const described = new Set(
      entries.filter((entry) => entry.endsWith('.json')).map((entry) => entry.slice(0, -5)),
    );
    for (const entry of entries) {
      // What a crash left mid-save (an upload still streaming, or saved without its description)
      // is nobody's file any more: without this it would stay on disk for ever.
      const orphan =
        entry.endsWith('.partial') || (entry.endsWith('.data') && !described.has(entry.slice(0, -5)));
      if (orphan) await rm(join(options.uploadDir, entry), { force: true });
    }
    for (const entry of entries) {
      if (!entry.endsWith('.json')) continue;
      try {
        const { sequence, ...meta } = JSON.parse(
          await readFile(join(options.uploadDir, entry), 'utf8'),
        ) as DataFile & { sequence?: number };
        const path = join(options.uploadDir, `${meta.id}.data`);
        const file = { ...meta, path, bytes: (await stat(path)).size };
        uploads.push({ file, sequence: sequence ?? 0 });
        files.#sequence = Math.max(files.#sequence, sequence ?? 0);
      } catch {
        // A half-written upload from a crash: ignore it.
      }
    }
    // Oldest first, as they were saved (the per-owner cap removes the oldest).
    for (const { file } of uploads.sort((a, b) => a.sequence - b.sequence)) files.#files.set(file.id, file);
    return files;
  }

  /** The largest upload accepted, in bytes. */
  get maxUploadBytes(): number {
    return this.#options.maxUploadBytes;
  }

  /** The samples, then `owner`'s uploads, newest first. */
  list(owner: string): DataFile[] {
    const all = [...this.#files.values()];
    return [
      ...all.filter((file) => file.owner === undefined),
      ...all.filter((file) => file.owner === owner).reverse(),
    ];
  }

  /** The file, when `owner` may use it (samples are everyone's). */
  get(id: string, owner: string): DataFile | undefined {
    const file = this.#files.get(id);
    return file && (file.owner === undefined || file.owner === owner) ? file : undefined;
  }

  /** The file whatever its owner (for serving it to a container that was given its link). */
  find(id: string): DataFile | undefined {
    return this.#files.get(id);
  }

  /**
   * Stores an upload for `owner` under a generated id (the original name is kept for display).
   * Refuses names that are not CSV-like, files over the size
   * limit, empty files and binary content (NUL bytes); nothing is kept then.
   */
  async save(owner: string, name: string, content: Readable): Promise<DataFile> {
    let fileName: string;
    try {
      fileName = checkFileName(name);
    } catch (error) {
      content.resume(); // drain the refused upload, or the request never ends and never gets its answer
      throw error;
    }
    const id = `u-${randomBytes(6).toString('hex')}`;
    const path = join(this.#options.uploadDir, `${id}.data`);
    const partial = `${path}.partial`;
    const limit = this.#options.maxUploadBytes;
    let bytes = 0;
    const check = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > limit) {
          callback(
            new FormError(
              'upload',
              `${fileName} is larger than the ${formatBytes(limit)} upload limit.`,
              413,
            ),
          );
        } else if (chunk.includes(0)) {
          callback(new FormError('upload', `${fileName} is not a text file: CSV files only.`, 415));
        } else callback(null, chunk);
      },
    });
    try {
      await pipeline(content, check, createWriteStream(partial, { mode: 0o600 }));
      if (bytes === 0) throw new FormError('upload', `${fileName} is empty.`);
      await rename(partial, path);
    } catch (error) {
      content.resume(); // drain what is left so that the request can finish
      await rm(partial, { force: true });
      throw error;
    }
    const file: DataFile = { id, name: fileName, bytes, owner, path };
    this.#sequence += 1;
    await writeFile(
      join(this.#options.uploadDir, `${id}.json`),
      JSON.stringify({ ...file, sequence: this.#sequence }),
      { mode: 0o600 },
    );
    this.#files.set(id, file);
    // Every launch form may carry an upload: without a cap, one person could fill the disk.
    const mine = [...this.#files.values()].filter((other) => other.owner === owner);
    for (const old of mine.slice(0, Math.max(0, mine.length - (this.#options.maxUploadsPerOwner ?? 20)))) {
      this.#files.delete(old.id);
      await rm(old.path, { force: true });
      await rm(join(this.#options.uploadDir, `${old.id}.json`), { force: true });
    }
    return file;
  }
}

/** `512 B`, `3.4 KB`, `5.0 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
