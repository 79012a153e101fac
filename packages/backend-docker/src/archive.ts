import { posix } from 'node:path';
import type { PlannedFile } from '@dde/core';
import { pack } from 'tar-stream';

/** One entry of a tar archive put into a container. */
export interface ArchiveEntry {
  /** Path relative to the directory the archive is extracted into. */
  readonly name: string;
  /** A directory, or a file with its content. */
  readonly type: 'directory' | 'file';
  /** Permission bits. */
  readonly mode: number;
  /** File content. */
  readonly content?: Uint8Array;
}

/** Mode of the directories created above an input file. */
export const CREATED_DIRECTORY_MODE = 0o755;

/**
 * The entries that place `file` when the archive is extracted into `existingDirectory`, its
 * deepest ancestor that already exists: one entry per missing directory, parents first, then
 * the file. Existing directories get no entry because extracting one would reset their mode
 * and owner (a `/tmp` entry would turn 1777 into 0755).
 */
export function placementEntries(file: PlannedFile, existingDirectory: string): ArchiveEntry[] {
  const relative = posix.relative(existingDirectory, file.path);
  if (relative === '' || relative.startsWith('..')) {
    throw new Error(`${existingDirectory} is not an ancestor of ${file.path}`);
  }
  const parts = relative.split('/');
  const entries: ArchiveEntry[] = [];
  for (let depth = 1; depth < parts.length; depth++) {
    entries.push({ name: parts.slice(0, depth).join('/'), type: 'directory', mode: CREATED_DIRECTORY_MODE });
  }
  entries.push({ name: relative, type: 'file', mode: file.mode, content: file.content });
  return entries;
}

/** Packs entries into an uncompressed tar archive, owned by root, dated `mtime`. */
export async function packArchive(
  entries: readonly ArchiveEntry[],
  mtime: Date = new Date(),
): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    archive.on('data', (chunk) => chunks.push(chunk as Buffer));
    archive.on('end', resolve);
    archive.on('error', reject);
  });
  for (const entry of entries) {
    const header = { name: entry.name, mode: entry.mode, mtime, uid: 0, gid: 0 };
    if (entry.type === 'directory') {
      archive.entry({ ...header, type: 'directory' });
    } else {
      const content = Buffer.from(entry.content ?? new Uint8Array());
      archive.entry({ ...header, type: 'file', size: content.length }, content);
    }
  }
  archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Ancestors of an absolute path, nearest first, ending with `/`. */
export function ancestorsOf(path: string): string[] {
  const ancestors: string[] = [];
  let current = posix.dirname(path);
  for (;;) {
    ancestors.push(current);
    if (current === '/') return ancestors;
    current = posix.dirname(current);
  }
}
