import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FrameBoundaries, goingAwayFrame } from './ws-frames.ts';

/**
 * Handles the container's reads after the `101` (see `forward-upgrade.ts`'s `UpstreamReader`):
 * `shared` chunks live in a buffer reused by the next read and must be copied to be kept;
 * returns false to pause reading.
 */
export type UpstreamRelay = (chunk: Buffer, shared: boolean) => boolean;

/**
 * Lets the proxy end a relayed WebSocket session the way a server going away should: a close
 * frame with code 1001 to the client and one (masked) to the container, each slipped in at a
 * frame boundary of its direction, then no more frames that way and the sockets ended. While the
 * session runs it only follows frame headers (no copies): the client's direction with a `data`
 * listener beside its pipe, the container's from the relay, which calls {@link toClient}'s
 * `feed` with every chunk.
 */
export class GoingAway {
  readonly #client: Duplex;
  readonly #upstream: Socket;
  readonly #setRelay: (relay: UpstreamRelay) => void;
  /** Frames from the container to the client: the relay feeds every chunk it passes on. */
  readonly toClient: FrameBoundaries = new FrameBoundaries();
  readonly #toUpstream = new FrameBoundaries();
  #started = false;

  /** `setRelay` replaces the handler of the container's reads (the relay) from then on. */
  constructor(client: Duplex, upstream: Socket, setRelay: (relay: UpstreamRelay) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#setRelay = setRelay;
  }

  /**
   * Starts following both directions: `toClient` and `toUpstream` are the bytes already relayed
   * outside the relay and the pipe (what followed the `101`, what the client sent early). Call
   * before piping the client to the container.
   */
  follow(toClient: Buffer, toUpstream: Buffer): void {
    this.toClient.feed(toClient);
    this.#toUpstream.feed(toUpstream);
    this.#client.on('data', this.#toUpstream.feed);
  }

  /** Closes the session with 1001 both ways at the next frame boundaries (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#closeToClient();
    this.#closeToUpstream();
  }

  /** The container's direction: the relay passes on the frame under way, then the close frame. */
  #closeToClient(): void {
    const frames = this.toClient;
    const to = this.#client;
    if (frames.closeSeen || to.destroyed || to.writableEnded) return;
    let done = false;
    const finish = (): void => {
      done = true;
      to.end(goingAwayFrame(false));
    };
    this.#setRelay((chunk) => {
      if (done) return true; // the rest (the container's answer to our close) goes nowhere
      const through = frames.untilBoundary(chunk);
      // A cold path: copy, whichever buffer the bytes are in.
      const flowing = through === 0 || to.write(Buffer.from(chunk.subarray(0, through)));
      if (frames.atBoundary) finish();
      else if (!flowing) {
        to.once('drain', () => this.#upstream.resume());
        return false;
      }
      return true;
    });
    // A container that leaves in the middle of a frame: the relay's end handling ends the client.
    if (frames.atBoundary) finish();
  }

  /** The client's direction: unpiped, then passed on by hand up to the boundary. */
  #closeToUpstream(): void {
    const from = this.#client;
    const to = this.#upstream;
    const frames = this.#toUpstream;
    if (frames.closeSeen || to.destroyed || to.writableEnded) return;
    from.unpipe(to);
    from.off('data', frames.feed);
    let done = false;
    const finish = (): void => {
      done = true;
      to.end(goingAwayFrame(true));
    };
    const onData = (chunk: Buffer): void => {
      if (done) return; // the rest (the peer's answer to our close) goes nowhere
      const through = frames.untilBoundary(chunk);
      const flowing =
        through === 0 || to.write(through === chunk.length ? chunk : chunk.subarray(0, through));
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
}
