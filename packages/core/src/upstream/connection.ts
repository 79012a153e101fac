import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { DdeError } from '../errors.ts';
import { equalsIgnoreCase } from './characters.ts';
import type { Exchange, ExchangeCarrier, ResponseHandler } from './exchange.ts';
import {
  type ResponseEvents,
  type ResponseHead,
  ResponseParseError,
  ResponseParser,
} from './response-parser.ts';
import { BULK_READ_BYTES, sharedReadBuffer } from './shared-read-buffer.ts';

/** What a connection needs from the pool that owns it. */
export interface ConnectionOwner {
  readonly host: string;
  readonly port: number;
  /** `host:port`, the `Host` of requests that bring none. */
  readonly authority: string;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderBytes: number;
  /** The connection finished an exchange cleanly and can carry another. */
  release(connection: UpstreamConnection): void;
  /** The connection closed. */
  removed(connection: UpstreamConnection): void;
  /** Sends an exchange again, on a fresh connection. */
  retry(exchange: Exchange): void;
  /** A connection must close after this many idle ms, sooner than the pool's own setting. */
  shortenedKeepAlive(ms: number): void;
}

/**
 * The size of that buffer: held only while such a body streams. Twice the shared buffer's,
 * which took ~15% off a download's CPU per MB against 64 KiB (fewer reads, writes and pauses;
 * bench README, `Suite: bodies`).
 */
const OWN_READ_BUFFER_BYTES = 128 * 1024;

/**
 * A read buffer of one exchange's own, for a large body streaming to a handler that takes views
 * of it ({@link ResponseHandler.onResponseView}): copying each piece into fresh memory was ~40%
 * of a download's CPU (bench README, `Suite: bodies`). Counts the views handed out and not yet
 * released; the connection reads into it again only once none is held. Dropped when the
 * exchange ends (a write may still hold it then): idle connections hold none.
 */
class OwnReadBuffer {
  readonly bytes: Buffer = Buffer.allocUnsafe(OWN_READ_BUFFER_BYTES);
  /** Views handed out and not yet released. */
  held = 0;
  /** Called when the last held view is released; cleared once the exchange ended. */
  onFree: (() => void) | undefined;

  constructor(onFree: () => void) {
    this.onFree = onFree;
  }

  readonly release = (): void => {
    if (--this.held === 0) this.onFree?.();
  };
}

/** Idle time before TCP keep-alive probes start on an upstream socket. */
export const TCP_KEEPALIVE_DELAY_MS = 30_000;

/**
 * One keep-alive connection to an upstream, carrying one exchange at a time: writes the request
 * (streaming its body, chunked when asked), parses the response strictly and hands it to the
 * exchange's handler, then goes back to its pool when both directions ended cleanly. Anything
 * doubtful (a parse error, bytes after the response, a request body cut short, an aborted
 * exchange) closes it instead.
 */
export class UpstreamConnection implements ResponseEvents, ExchangeCarrier {
  readonly #owner: ConnectionOwner;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  #exchange: Exchange | undefined = undefined;
  #head: ResponseHead | undefined = undefined;
  /** Since when the server has not taken the request body's bytes (0 while it does): its time. */
  #uploadStalledSince = 0;
  /**
   * When the request (body included) was all written, and the head timeout starts: dispatch
   * time for a request written at once (time spent queued counts), the end of a streamed body;
   * 0 until then.
   */
  #sentAt = 0;
  /** Reading stopped because the handler asked for it, or holds views of the own buffer. */
  #paused = false;
  /** The buffer the current body streams into, handed out as views (a large body to a handler taking them). */
  #own: OwnReadBuffer | undefined = undefined;
  /** Reading stopped until the handler releases every view of {@link #own}. */
  #holding = false;
  #connected = false;
  #closed = false;
  #socketError: Error | undefined = undefined;
  #detachBody: (() => void) | undefined = undefined;
  /** When it was opened (ms since the epoch). */
  readonly createdAt: number = Date.now();
  /** Exchanges it completed. */
  served = 0;
  /** When it last became idle (ms since the epoch). */
  idleSince = 0;
  /** When the current response last delivered bytes, while a body timeout applies. */
  lastReadAt = 0;
  /** How long it may stay idle: the pool's setting, shortened by the server's `Keep-Alive` hint. */
  keepAliveMs: number;

  constructor(owner: ConnectionOwner) {
    this.#owner = owner;
    this.keepAliveMs = owner.keepAliveTimeoutMs;
    this.#parser = new ResponseParser(this, owner.maxHeaderBytes);
    this.#socket = connect({
      host: owner.host,
      port: owner.port,
      noDelay: true,
      // A peer that vanished without a FIN (a host gone, a network cut) is found even while idle.
      keepAlive: true,
      keepAliveInitialDelay: TCP_KEEPALIVE_DELAY_MS,
      onread: {
        // Asked for after every read: the own buffer while a body streams into it.
        buffer: () => this.#own?.bytes ?? sharedReadBuffer(),
        callback: (bytes, buffer) => this.#onRead(bytes, buffer as Buffer),
      },
    });
    this.#socket.once('connect', () => {
      this.#connected = true;
    });
    this.#socket.on('error', (error) => {
      this.#socketError ??= error;
    });
    this.#socket.once('close', () => this.#onClose());
  }

  /** Still connecting. */
  get connecting(): boolean {
    return !this.#connected && !this.#closed;
  }

  /** Sends the exchange's request and reads its response. */
  start(exchange: Exchange): void {
    this.#exchange = exchange;
    exchange.carrier = this;
    this.#head = undefined;
    this.#paused = false;
    this.#sentAt = 0;
    this.#uploadStalledSince = 0;
    const request = exchange.request;
    this.#parser.reset(request.method === 'HEAD');
    if (exchange.bodyTimeoutMs > 0) this.lastReadAt = exchange.startedAt;

    const body = request.body;
    let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
    let hasHost = false;
    let hasLength = false;
    let hasConnection = false;
    const headers = request.headers;
    for (let index = 0; index < headers.length; index += 2) {
      const name = headers[index] as string;
      const size = name.length;
      if (size === 4) hasHost ||= equalsIgnoreCase(name, 'host');
      else if (size === 14) hasLength ||= equalsIgnoreCase(name, 'content-length');
      else if (size === 10) hasConnection ||= equalsIgnoreCase(name, 'connection');
      head += `${name}: ${headers[index + 1]}\r\n`;
    }
    if (!hasHost) head += `host: ${this.#owner.authority}\r\n`;
    // Implied by HTTP/1.1; said anyway for servers that speak 1.0 but can keep connections.
    if (!hasConnection) head += 'connection: keep-alive\r\n';
    const socket = this.#socket;
    if (body === undefined) {
      // Header values are latin1 strings as Node parsed them: written back byte for byte.
      socket.write(`${head}\r\n`, 'latin1');
      this.#sentAt = exchange.startedAt; // sent at once: no clock read on the hot path
    } else if (body instanceof Uint8Array) {
      if (!hasLength) head += `content-length: ${body.length}\r\n`;
      socket.cork();
      socket.write(`${head}\r\n`, 'latin1');
      socket.write(body);
      socket.uncork();
      exchange.bytesSent = body.length;
      this.#sentAt = exchange.startedAt;
    } else {
      // Without a length, chunked: an unframed body would be read as the next request.
      const chunked = !hasLength;
      const codings = request.transferCodings === undefined ? '' : `${request.transferCodings}, `;
      socket.write(chunked ? `${head}transfer-encoding: ${codings}chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
      this.#pumpBody(exchange, body, chunked);
    }
  }

  /** Streams a request body upstream with backpressure; a body that ends early closes the connection. */
  #pumpBody(exchange: Exchange, body: Readable, chunked: boolean): void {
    const socket = this.#socket;
    let ended = false;
    let waitingForDrain = false;
    const onData = (chunk: Buffer): void => {
      if (chunk.length === 0) return;
      exchange.bytesSent += chunk.length;
      let flowing: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        flowing = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else {
        flowing = socket.write(chunk);
      }
      if (!flowing) {
        waitingForDrain = true;
        this.#uploadStalledSince = Date.now();
        body.pause();
      }
    };
    const onDrain = (): void => {
      if (!waitingForDrain) return;
      waitingForDrain = false;
      this.#uploadStalledSince = 0;
      body.resume();
    };
    const onEnd = (): void => {
      ended = true;
      detach();
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      this.#sentAt = Date.now();
    };
    const onClose = (): void => {
      if (ended || this.#exchange !== exchange) return;
      this.#fail(new DdeError('UPSTREAM_UNAVAILABLE', 'The request body ended before it was complete.'));
    };
    const detach = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      body.off('error', ignore);
      socket.off('drain', onDrain);
      this.#detachBody = undefined;
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('close', onClose);
    body.on('error', ignore); // 'close' follows, and says what matters
    socket.on('drain', onDrain);
    this.#detachBody = () => {
      detach();
      // Let the rest of the client's body drain away so its connection can serve again.
      if (!ended && !body.destroyed) body.resume();
    };
  }

  /** Gives up the exchange (its client left): the connection closes, the response is unread. */
  abandon(exchange: Exchange): void {
    if (this.#exchange !== exchange) return;
    this.#exchange = undefined;
    this.#dropOwn();
    this.#parser.abandon();
    this.#detachBody?.();
    this.#socket.destroy();
  }

  /** Gives up the exchange and tells its handler why. */
  #fail(error: DdeError): void {
    const exchange = this.#exchange;
    if (exchange === undefined) return;
    this.abandon(exchange);
    exchange.fail(error);
  }

  /** Reads again after the handler paused. */
  resume(): void {
    // Views of the own buffer still held: reading again would overwrite them.
    if (!this.#paused || this.#holding) return;
    this.#paused = false;
    if (this.#exchange?.bodyTimeoutMs) this.lastReadAt = Date.now();
    this.#socket.resume();
  }

  /** Closes the connection; an exchange it carries fails. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Fails the exchange if it waited too long; called by the pool's sweep. */
  checkTimeouts(now: number, connectTimeoutMs: number): void {
    if (this.connecting && now - this.createdAt >= connectTimeoutMs) {
      this.#timeOut(`connecting to ${this.#owner.authority} took longer than ${connectTimeoutMs} ms`);
      return;
    }
    const exchange = this.#exchange;
    if (exchange === undefined) return;
    const { headersTimeoutMs } = exchange.request;
    const { bodyTimeoutMs } = exchange;
    if (this.#head === undefined) {
      // A slow upload is the client's time, not the server's (Node's requestTimeout bounds it);
      // a server that stops reading the body is the server's.
      const stalled = this.#uploadStalledSince;
      if (this.#sentAt === 0 && stalled !== 0 && now - stalled >= headersTimeoutMs) {
        this.#timeOut(`${this.#owner.authority} stopped reading the request body for ${headersTimeoutMs} ms`);
      } else if (this.#sentAt !== 0 && now - this.#sentAt >= headersTimeoutMs) {
        this.#timeOut(`${this.#owner.authority} sent no response within ${headersTimeoutMs} ms`);
      }
    } else if (bodyTimeoutMs > 0 && !this.#paused && now - this.lastReadAt >= bodyTimeoutMs) {
      this.#timeOut(
        `${this.#owner.authority} sent nothing for ${bodyTimeoutMs} ms in the middle of a response`,
      );
    }
  }

  #timeOut(message: string): void {
    if (this.#exchange === undefined) this.#socket.destroy();
    else this.#fail(new DdeError('UPSTREAM_TIMEOUT', `Upstream timeout: ${message}.`));
  }

  onHead(head: ResponseHead): void {
    const exchange = this.#exchange as Exchange;
    this.#head = head;
    const hint = head.keepAliveTimeoutMs;
    if (hint !== undefined) {
      // Leave the server a margin, so it never closes a connection just handed out.
      const keepAliveMs = Math.min(this.#owner.keepAliveTimeoutMs, Math.max(hint - 1000, hint / 2));
      if (keepAliveMs !== this.keepAliveMs) {
        this.keepAliveMs = keepAliveMs;
        if (keepAliveMs < this.#owner.keepAliveTimeoutMs) this.#owner.shortenedKeepAlive(keepAliveMs);
      }
    }
    if (exchange.bodyTimeoutMs > 0) this.lastReadAt = Date.now();
    exchange.handler.onResponseStart(head);
  }

  onBody(data: Buffer, start: number, end: number): void {
    const handler = (this.#exchange as Exchange).handler;
    const own = this.#own;
    if (own !== undefined && data === own.bytes) {
      // A view, valid until the handler releases it: no read lands in the buffer before.
      own.held++;
      if (
        !(handler as Required<ResponseHandler>).onResponseView(
          data.subarray(start, end),
          this.#parser.done,
          own.release,
        )
      ) {
        // Released already (a handler calling back at once) or not: reading waits for the last one.
        if (own.held > 0) this.#holding = true;
        this.#paused = this.#holding;
      }
      return;
    }
    // The bytes sit in the shared read buffer: the handler gets its own copy.
    const chunk = Buffer.allocUnsafe(end - start);
    data.copy(chunk, 0, start, end);
    if (!handler.onResponseData(chunk, this.#parser.done)) this.#paused = true;
  }

  /** The handler released every view of the own buffer: reading goes on. */
  readonly #released = (): void => {
    if (!this.#holding) return;
    this.#holding = false;
    this.resume();
  };

  /** The exchange is over: later reads go to the shared buffer, and late releases change nothing. */
  #dropOwn(): void {
    const own = this.#own;
    if (own === undefined) return;
    own.onFree = undefined;
    this.#own = undefined;
    this.#holding = false;
  }

  #onRead(bytes: number, buffer: Buffer): boolean {
    const exchange = this.#exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for (while idle): the server is out of step.
      this.#socket.destroy();
      return false;
    }
    if (exchange.bodyTimeoutMs > 0) this.lastReadAt = Date.now();
    let used: number;
    try {
      used = this.#parser.execute(buffer, bytes);
    } catch (error) {
      this.#fail(
        error instanceof ResponseParseError
          ? new DdeError(
              'UPSTREAM_UNAVAILABLE',
              `Invalid response from ${this.#owner.authority}: ${error.message}.`,
            )
          : new DdeError('UPSTREAM_UNAVAILABLE', 'The response could not be forwarded.', { cause: error }),
      );
      return false;
    }
    if (this.#exchange !== exchange) return false; // failed or abandoned from a handler callback
    if (this.#parser.done) this.#complete(used < bytes);
    else if (
      this.#own === undefined &&
      bytes >= BULK_READ_BYTES &&
      this.#head !== undefined &&
      exchange.handler.takesViews === true
    ) {
      // The body streams: the rest of it is read into a buffer of its own, from the next read.
      this.#own = new OwnReadBuffer(this.#released);
    }
    return !this.#paused;
  }

  #complete(extraBytes: boolean): void {
    const exchange = this.#exchange as Exchange;
    const head = this.#head as ResponseHead;
    this.#exchange = undefined;
    this.#paused = false; // a paused socket must not go back to the pool
    // The next reads land in the shared buffer: a write may still hold a view of the own one.
    this.#dropOwn();
    this.served++;
    const requestSent = this.#sentAt !== 0;
    if (!requestSent) this.#detachBody?.();
    // Reusable only when both messages ended exactly where their framing says.
    if (head.keepAlive && requestSent && !extraBytes && !this.#closed) this.#owner.release(this);
    else this.#socket.destroy();
    exchange.end();
  }

  #onClose(): void {
    this.#closed = true;
    this.#owner.removed(this);
    const exchange = this.#exchange;
    if (exchange === undefined) return;
    // Only a clean close ends a body delimited by the close: a reset cuts it short.
    if (this.#socketError === undefined && this.#parser.finish()) {
      this.#complete(false); // a body delimited by the close
      return;
    }
    const started = this.#parser.started;
    if (!started && this.served > 0 && exchange.replayable) {
      // A reused connection the server had closed before it saw the request: send it again.
      this.#exchange = undefined;
      exchange.retried = true;
      exchange.carrier = undefined;
      this.#owner.retry(exchange);
      return;
    }
    const authority = this.#owner.authority;
    const reason = this.#socketError;
    this.#fail(
      new DdeError(
        'UPSTREAM_UNAVAILABLE',
        !this.#connected
          ? `Cannot connect to ${authority}${reason ? `: ${reason.message}` : ''}.`
          : started
            ? `${authority} closed the connection in the middle of the response.`
            : `${authority} closed the connection without answering.`,
        reason === undefined ? {} : { cause: reason },
      ),
    );
  }
}

function ignore(): void {}
