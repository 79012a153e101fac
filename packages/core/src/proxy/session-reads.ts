import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BULK_READ_BYTES, sharedReadBuffer } from '../upstream/shared-read-buffer.ts';

/**
 * Handles one read of a relayed session: `shared` chunks live in a buffer reused by the next
 * read (of any session) and must be copied to be kept; returns false to pause reading.
 */
export type ReadHandler = (chunk: Buffer, shared: boolean) => boolean;

/**
 * Size of a streaming session's own read buffer, per direction. Four times Node's read size:
 * a 16 MiB frame takes a quarter of the reads, writes and callbacks (bench README, `Suite: ws`).
 */
export const OWN_READ_BYTES: number = 256 * 1024;
/** This many smaller reads in a row say the streaming is over: the own buffer is let go. */
const SMALL_READS_TO_RELEASE = 8;

/**
 * Reads one side of a session into reused buffers (the `onread` contract of `net.Socket`),
 * instead of Node allocating a fresh 64 KiB `ArrayBuffer` for every read and collecting it:
 * that allocation (and the fresh pages each one faults in) was most of the relay's own CPU.
 * Small reads land in the shared buffer and are copied; once reads are large, the session reads
 * into a buffer of its own, whose views the handler writes on, pausing while a write still holds
 * one. A session back to small messages lets its buffer go (a write may still hold a view of it:
 * it is never read into again), so idle sessions hold no buffer.
 */
export class SessionReader {
  #own: Buffer | undefined = undefined;
  /** Reads below {@link BULK_READ_BYTES} in a row into the own buffer. */
  #smallReads = 0;
  /** Handles each read; returns false to pause reading. */
  onRead: ReadHandler = () => true;

  /** The buffer for the next read (Node asks right after each read). */
  readonly buffer = (): Buffer => {
    return this.#own ?? sharedReadBuffer();
  };

  readonly callback = (bytes: number, buffer: Uint8Array): boolean => {
    const shared = buffer !== this.#own;
    if (bytes >= BULK_READ_BYTES) {
      this.#smallReads = 0;
      if (shared) this.#own = Buffer.allocUnsafe(OWN_READ_BYTES);
    } else if (!shared && ++this.#smallReads >= SMALL_READS_TO_RELEASE) {
      this.#own = undefined;
      this.#smallReads = 0;
    }
    return this.onRead((buffer as Buffer).subarray(0, bytes), shared);
  };
}

/** The slots `net.Socket` keeps its `onread` option in, and the handle method it calls. */
interface UserBufferSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/**
 * Makes a socket Node accepted (a server's, as every client of the proxy is) read through
 * `reader` as a socket connected with `onread` does: Node offers that option only to sockets it
 * creates for the caller, so this sets what `net.Socket`'s constructor would have set (its
 * `kBuffer`, `kBufferCb` and `kBufferGen` slots, found on `model`, a socket connected with
 * `onread`) and hands the handle its first buffer (`useUserBuffer`), as Node does when it
 * initialises such a handle. Bytes the socket buffered already are passed to `reader` first.
 *
 * Returns false, changing nothing, where that machinery is missing (a TLS socket, a `Duplex`
 * that is no `net.Socket`, a Node without it): the caller then relays with `data` events.
 * Call while the socket is paused, before anything else consumes it; resumes it unless the
 * handler asked to pause.
 */
export function readThrough(socket: Duplex, reader: SessionReader, model: Socket): boolean {
  const slots = userBufferSlots(model);
  const handle = (socket as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (slots === undefined || typeof handle?.useUserBuffer !== 'function') return false;
  // A TLS socket's handle reads ciphertext: its plaintext only comes through `data` events.
  if ((socket as Partial<{ encrypted: boolean }>).encrypted === true) return false;
  const slotsOf = socket as unknown as Record<symbol, unknown>;
  const first = reader.buffer();
  slotsOf[slots.buffer] = first;
  slotsOf[slots.callback] = reader.callback;
  slotsOf[slots.generator] = reader.buffer;
  (handle.useUserBuffer as (buffer: Uint8Array) => void).call(handle, first);
  // What Node read before the switch sits in the stream's buffer: relayed first, as copies
  // (new reads only come on a later turn of the event loop).
  let flowing = true;
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    flowing = reader.onRead(chunk, true) && flowing;
  }
  // Paused, the handler resumes the socket once its write is done; with the slots set,
  // pause and resume stop and start the handle's reads.
  if (flowing) socket.resume();
  else socket.pause();
  return true;
}

let slotsFound: UserBufferSlots | null | undefined;

/** `net.Socket`'s `onread` slots, read once off a socket created with `onread`. */
function userBufferSlots(model: Socket): UserBufferSlots | undefined {
  if (slotsFound === undefined) {
    const symbols = Object.getOwnPropertySymbols(model);
    const named = (name: string) => symbols.find((symbol) => symbol.description === name);
    const buffer = named('kBuffer');
    const callback = named('kBufferCb');
    const generator = named('kBufferGen');
    slotsFound =
      buffer &&
      callback &&
      generator &&
      typeof (model as unknown as Record<symbol, unknown>)[callback] === 'function'
        ? { buffer, callback, generator }
        : null;
  }
  return slotsFound ?? undefined;
}
