/**
 * An image described by its Dockerfile and the files of its build context, and the content hash
 * that names it: the same recipe always gets the same tag, so a built image is reused across runs
 * and a changed tool gets a new one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

/** One file of a build context. */
export interface ContextFile {
  /** Path inside the build context, e.g. `rootfs/node`. */
  readonly name: string;
  /** A file on this machine (streamed, symlinks followed) or the content itself. */
  readonly source: string | Uint8Array;
  /** Permission bits. Default: the source file's, or `0o644` for content. */
  readonly mode?: number;
}

/** What to build. */
export interface ImageRecipe {
  /** Repository part of the tag, e.g. `dde-demo-viewer`. */
  readonly repository: string;
  /** The Dockerfile. */
  readonly dockerfile: string;
  /** The rest of the build context. */
  readonly files: readonly ContextFile[];
  /** Labels put on the image (e.g. so that a clean-up can find it). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A context file with its size and mode known. */
export interface StatedFile extends ContextFile {
  /** Size in bytes. */
  readonly size: number;
  /** Permission bits. */
  readonly mode: number;
}

/** Reads each file's size and mode. */
export async function statFiles(files: readonly ContextFile[]): Promise<StatedFile[]> {
  return Promise.all(
    files.map(async (file): Promise<StatedFile> => {
      if (typeof file.source !== 'string') {
        return { ...file, size: file.source.byteLength, mode: file.mode ?? 0o644 };
      }
      const info = await stat(file.source);
      return { ...file, size: info.size, mode: file.mode ?? info.mode & 0o777 };
    }),
  );
}

// Hashing the 100+ MB node binary takes a moment: remember file hashes by path, size and mtime.
const fileHashes = new Map<string, string>();

async function hashSource(source: string | Uint8Array): Promise<string> {
  if (typeof source !== 'string') return createHash('sha256').update(source).digest('hex');
  const info = await stat(source);
  const key = `${source}\0${info.size}\0${info.mtimeMs}`;
  const known = fileHashes.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(source)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  fileHashes.set(key, digest);
  return digest;
}

/** A hash over everything that goes into the image: Dockerfile, labels, file names, modes and contents. */
export async function recipeHash(recipe: ImageRecipe): Promise<string> {
  const files = await statFiles(recipe.files);
  const hash = createHash('sha256');
  hash.update(recipe.dockerfile).update('\0');
  for (const [key, value] of Object.entries(recipe.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`${key}=${value}\0`);
  }
  for (const file of [...files].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    hash.update(`${file.name}\0${file.mode.toString(8)}\0${await hashSource(file.source)}\0`);
  }
  return hash.digest('hex');
}

/** The tag a recipe builds: its repository and the first 16 hex digits of its hash. */
export async function recipeTag(recipe: ImageRecipe): Promise<string> {
  return `${recipe.repository}:${(await recipeHash(recipe)).slice(0, 16)}`;
}
