import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ReadHandler } from './session-reads.ts';
import { FrameBoundaries, goingAwayFrame } from './ws-frames.ts';

/**
 * Lets the proxy end a relayed WebSocket session the way a server going away should: a close
 * frame with code 1001 to the client and one (masked) to the container, each slipped in at a
 * frame boundary of its direction, then no more frames that way and the sockets ended. While the
 * session runs it only follows frame headers (no copies): each direction's relay calls `feed`
 * of {@link toClient} or {@link toUpstream} with every chunk it passes on (a client whose
 * socket is piped instead gets a `data` listener beside its pipe).
 */
export class GoingAway {
  readonly #client: Duplex;
  readonly #upstream: Socket;
  readonly #setRelay: (relay: ReadHandler) => void;
  /** Replaces the relay of the client's reads; undefined while the client is piped. */
  #setClientRelay: ((relay: ReadHandler) => void) | undefined = undefined;
  /** Frames from the container to the client: the relay feeds every chunk it passes on. */
  readonly toClient: FrameBoundaries = new FrameBoundaries();
  /** Frames from the client to the container: fed by the client's relay or a `data` listener. */
  readonly toUpstream: FrameBoundaries = new FrameBoundaries();
  #started = false;

  /** `setRelay` replaces the handler of the container's reads (the relay) from then on. */
  constructor(client: Duplex, upstream: Socket, setRelay: (relay: ReadHandler) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#setRelay = setRelay;
  }

  /**
   * Starts following both directions: `toClient` and `toUpstream` are the bytes already relayed
   * outside the relays (what followed the `101`, what the client sent early). `setClientRelay`
   * replaces the relay of the client's reads, which feeds {@link toUpstream}; without it the
   * client is about to be piped to the container, and a `data` listener follows its frames.
   */
  follow(
    toClient: Buffer,
    toUpstream: Buffer,
    setClientRelay: ((relay: ReadHandler) => void) | undefined,
  ): void {
    this.toClient.feed(toClient);
    this.toUpstream.feed(toUpstream);
    this.#setClientRelay = setClientRelay;
    if (setClientRelay === undefined) this.#client.on('data', this.toUpstream.feed);
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
    closeThrough(this.toClient, this.#upstream, this.#client, this.#setRelay, false);
  }

  /** The client's direction: as the container's, or unpiped and passed on by hand up to the boundary. */
  #closeToUpstream(): void {
    const from = this.#client;
    const to = this.#upstream;
    const frames = this.toUpstream;
    if (this.#setClientRelay !== undefined) {
      closeThrough(frames, from, to, this.#setClientRelay, true);
      return;
    }
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

/**
 * Ends one direction relayed by a {@link ReadHandler}: the relay is replaced by one that passes
 * on the frame under way (a cold path: copies, whichever buffer the bytes are in), then the
 * close frame (`masked` towards the container, where the proxy speaks as the client), and
 * drops what comes after it (the peer's answer to the close).
 */
function closeThrough(
  frames: FrameBoundaries,
  from: Duplex,
  to: Duplex,
  setRelay: (relay: ReadHandler) => void,
  masked: boolean,
): void {
  if (frames.closeSeen || to.destroyed || to.writableEnded) return;
  let done = false;
  const finish = (): void => {
    done = true;
    to.end(goingAwayFrame(masked));
  };
  setRelay((chunk) => {
    if (done) return true;
    const through = frames.untilBoundary(chunk);
    const flowing = through === 0 || to.write(Buffer.from(chunk.subarray(0, through)));
    if (frames.atBoundary) finish();
    else if (!flowing) {
      to.once('drain', () => from.resume());
      return false;
    }
    return true;
  });
  // A sender that leaves in the middle of a frame: its relay's end handling ends the other side.
  if (frames.atBoundary) finish();
}
