/**
 * The one read buffer every socket dde reads with `onread` shares while it is not streaming (the
 * upstream connections, both sides of WebSocket sessions): reads are handled one at a time, and
 * whatever a handler keeps past its read is copied out first. Node's own reads would allocate a
 * fresh 64 KiB buffer each, for the collector to find.
 */
const SHARED_READ_BYTES = 64 * 1024;
let shared: Buffer | undefined;

/** The shared read buffer (allocated on first use). */
export function sharedReadBuffer(): Buffer {
  shared ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
  return shared;
}

/**
 * A read at least this large says bytes are streaming: the reader takes a buffer of its own,
 * whose views are written on without a copy (bench README, `Suite: bodies` and `Suite: ws`).
 */
export const BULK_READ_BYTES: number = 16 * 1024;
