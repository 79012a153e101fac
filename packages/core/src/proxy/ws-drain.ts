import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FrameBoundaries, goingAwayFrame } from './ws-frames.ts';

/**
 * Lets the proxy end a relayed WebSocket session the way a server going away should: a close
 * frame with code 1001 to the client and one (masked) to the container, each slipped in at a
 * frame boundary of its direction, then no more frames that way and the sockets ended. While the
 * session runs it only follows frame headers (one `data` listener per direction, no copies).
 */
export class GoingAway {
  readonly #client: Duplex;
  readonly #upstream: Socket;
  readonly #toClient = new FrameBoundaries();
  readonly #toUpstream = new FrameBoundaries();
  #started = false;

  constructor(client: Duplex, upstream: Socket) {
    this.#client = client;
    this.#upstream = upstream;
  }

  /**
   * Starts following both directions: `toClient` and `toUpstream` are the bytes already relayed
   * outside the pipes (what followed the `101`, what the client sent early). Call before piping.
   */
  follow(toClient: Buffer, toUpstream: Buffer): void {
    this.#toClient.feed(toClient);
    this.#toUpstream.feed(toUpstream);
    this.#upstream.on('data', this.#toClient.feed);
    this.#client.on('data', this.#toUpstream.feed);
  }

  /** Closes the session with 1001 both ways at the next frame boundaries (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    closeDirection(this.#upstream, this.#client, this.#toClient, false);
    closeDirection(this.#client, this.#upstream, this.#toUpstream, true);
  }
}

/**
 * Stops relaying `from` → `to` once the frame under way is through, sends `to` the close frame
 * and ends it. A sender that already sent its own close is left alone: its peer answers it, and
 * a second close frame would break the protocol.
 */
function closeDirection(from: Duplex, to: Duplex, frames: FrameBoundaries, masked: boolean): void {
  if (frames.closeSeen || to.destroyed || to.writableEnded) return;
  from.unpipe(to);
  from.off('data', frames.feed);
  let done = false;
  const finish = (): void => {
    done = true;
    to.end(goingAwayFrame(masked));
  };
  const onData = (chunk: Buffer): void => {
    if (done) return; // the rest (the peer's answer to our close) goes nowhere
    const through = frames.untilBoundary(chunk);
    const flowing = through === 0 || to.write(through === chunk.length ? chunk : chunk.subarray(0, through));
    if (frames.atBoundary) finish();
    else if (!flowing) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };
  from.on('data', onData);
  // The sender left in the middle of a frame: no close frame can follow it, only the end.
  from.once('end', () => {
    if (!done) {
      done = true;
      to.end();
    }
  });
  if (frames.atBoundary) finish();
  from.resume();
}
