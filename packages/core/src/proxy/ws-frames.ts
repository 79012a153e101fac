import { randomFillSync } from 'node:crypto';

/**
 * Follows the frame boundaries of one direction of a WebSocket relayed as raw bytes (RFC 6455
 * §5.2): reads each frame's 2–14-byte header and skips its payload, without unmasking or copying
 * anything, so that a frame of the proxy's own (a close) can be slipped in between two frames.
 * Control frames may come between the fragments of a message (§5.4), so any boundary will do.
 */
export class FrameBoundaries {
  /** Payload bytes of the current frame not seen yet. */
  #payloadLeft = 0;
  /** A header split across chunks, gathered here (allocated the first time that happens). */
  #header: Buffer | undefined = undefined;
  #headerBytes = 0;
  /** A close frame's header went by: this direction's sender has started closing. */
  closeSeen = false;

  /** Whether everything seen so far ends exactly at the end of a frame. */
  get atBoundary(): boolean {
    return this.#payloadLeft === 0 && this.#headerBytes === 0;
  }

  /** Follows a chunk relayed in this direction (a bound `data` listener). */
  readonly feed = (chunk: Buffer): void => {
    this.#scan(chunk, false);
  };

  /**
   * Follows `chunk` only up to the end of the current frame, and returns how many bytes that is
   * (0 when already at a boundary, `chunk.length` when the frame goes on past the chunk).
   */
  untilBoundary(chunk: Buffer): number {
    return this.#scan(chunk, true);
  }

  #scan(chunk: Buffer, stopAtBoundary: boolean): number {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.#payloadLeft > 0) {
        const skipped = Math.min(this.#payloadLeft, end - at);
        this.#payloadLeft -= skipped;
        at += skipped;
        continue;
      }
      if (stopAtBoundary && this.#headerBytes === 0) return at;
      // The common case: a whole header within the chunk, read in place.
      if (this.#headerBytes === 0 && end - at >= 2) {
        const size = headerSize(chunk[at + 1] as number);
        if (end - at >= size) {
          this.#startFrame(chunk, at);
          at += size;
          continue;
        }
      }
      // A header split across chunks: gather it byte by byte (rare, and at most 14 bytes).
      this.#header ??= Buffer.allocUnsafe(14);
      this.#header[this.#headerBytes++] = chunk[at++] as number;
      if (this.#headerBytes >= 2 && this.#headerBytes === headerSize(this.#header[1] as number)) {
        this.#headerBytes = 0;
        this.#startFrame(this.#header, 0);
      }
    }
    return at;
  }

  /** Reads the header at `at` (complete in `bytes`): the payload length to skip, and the opcode. */
  #startFrame(bytes: Buffer, at: number): void {
    if (((bytes[at] as number) & 0x0f) === 0x8) this.closeSeen = true;
    const length = (bytes[at + 1] as number) & 0x7f;
    if (length < 126) this.#payloadLeft = length;
    else if (length === 126) this.#payloadLeft = bytes.readUInt16BE(at + 2);
    else this.#payloadLeft = bytes.readUInt32BE(at + 2) * 2 ** 32 + bytes.readUInt32BE(at + 6);
  }
}

/** A frame header's size from its second byte: 2, plus the extended length, plus the mask. */
function headerSize(second: number): number {
  const length = second & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
}

/** Close code 1001 (RFC 6455 §7.4.1): the endpoint is going away, e.g. a server shutting down. */
export const GOING_AWAY = 1001;

const REASON = Buffer.from('proxy shutting down');

/**
 * A close frame with code {@link GOING_AWAY}: unmasked for the client (the proxy speaks as the
 * server there), masked with a fresh key for the container (the proxy speaks as the client).
 */
export function goingAwayFrame(masked: boolean): Buffer {
  const length = 2 + REASON.length;
  const frame = Buffer.allocUnsafe(2 + (masked ? 4 : 0) + length);
  frame[0] = 0x88; // FIN, opcode close
  frame[1] = (masked ? 0x80 : 0) | length;
  const payloadAt = masked ? 6 : 2;
  frame.writeUInt16BE(GOING_AWAY, payloadAt);
  REASON.copy(frame, payloadAt + 2);
  if (masked) {
    const key = randomFillSync(frame, 2, 4);
    for (let index = 0; index < length; index++) {
      frame[payloadAt + index] = (frame[payloadAt + index] as number) ^ (key[2 + (index % 4)] as number);
    }
  }
  return frame;
}
