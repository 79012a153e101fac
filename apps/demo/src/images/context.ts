/**
 * A Docker build context as a tar stream, written while the engine reads it, counting the bytes
 * that went out so that the upload can be shown as progress.
 */
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import tar from 'tar-stream';
import type { StatedFile } from './recipe.ts';

const TAR_BLOCK = 512;

/** Bytes a tar archive of these entries takes: a header block per entry, contents padded to blocks, two end blocks. */
export function tarSize(sizes: readonly number[]): number {
  const content = sizes.reduce(
    (total, size) => total + TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK,
    0,
  );
  return content + 2 * TAR_BLOCK;
}

/** A build context: the stream to hand to the engine and its size. */
export interface BuildContext {
  /** The tar stream. */
  readonly stream: NodeJS.ReadableStream;
  /** Its size in bytes (headers included). */
  readonly totalBytes: number;
}

/**
 * Packs the Dockerfile and `files` into a tar stream. `onBytes` is called with the running total
 * of bytes the engine has read. Entries are owned by root and dated at the epoch, so the same
 * inputs give the same archive.
 */
export function buildContext(
  dockerfile: string,
  files: readonly StatedFile[],
  onBytes: (sent: number) => void,
): BuildContext {
  const pack = tar.pack();
  const header = { uid: 0, gid: 0, mtime: new Date(0) };
  const dockerfileBytes = Buffer.from(dockerfile);
  void (async () => {
    try {
      pack.entry({ ...header, name: 'Dockerfile', mode: 0o644 }, dockerfileBytes);
      for (const file of files) {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry(
            { ...header, name: file.name, size: file.size, mode: file.mode },
            (error) => (error ? reject(error) : resolve()),
          );
          if (typeof file.source === 'string') createReadStream(file.source).on('error', reject).pipe(entry);
          else entry.end(Buffer.from(file.source));
        });
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      onBytes(sent);
      callback(null, chunk);
    },
  });
  pack.on('error', (error) => counter.destroy(error));
  return {
    stream: pack.pipe(counter),
    totalBytes: tarSize([dockerfileBytes.length, ...files.map((file) => file.size)]),
  };
}
