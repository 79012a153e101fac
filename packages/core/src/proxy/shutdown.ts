import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidOption } from '../errors.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import type { UpgradedPair } from './forward-upgrade.ts';
import { cutResponse, writeSocketResponse } from './pages.ts';

/** Options of a graceful close: the proxy's, an adapter's, or {@link closeServer}'s. */
export interface CloseOptions {
  /**
   * How long in-flight work may take to finish, in ms, before whatever is left is cut. 0 cuts at
   * once. Default {@link DEFAULT_DRAIN_MS}: under the 30 s a container orchestrator (ECS's
   * `stopTimeout`, Kubernetes' grace period) waits between SIGTERM and SIGKILL.
   */
  drainMs?: number;
}

/** The drain time when {@link CloseOptions.drainMs} is not given: 10 s. */
export const DEFAULT_DRAIN_MS = 10_000;

const CLOSE_FIELDS: FieldList<CloseOptions> = { drainMs: true };

/**
 * The drain time of `options`, checked: a `DdeError` `INVALID_OPTION` naming `drainMs` (or an
 * unknown field) otherwise. `owner` names what is being closed, for the message.
 */
export function drainTime(options: CloseOptions | undefined, owner: string): number {
  refuseUnknownFields(options, CLOSE_FIELDS, owner, invalidOption);
  const drainMs = options?.drainMs ?? DEFAULT_DRAIN_MS;
  if (typeof drainMs !== 'number' || !Number.isFinite(drainMs) || drainMs < 0) {
    throw invalidOption(
      'drainMs',
      `of ${owner} must be a non-negative number of ms (0 cuts at once), got ${String(drainMs)}`,
    );
  }
  return drainMs;
}

/** The message of the 503 that requests and upgrades get while the proxy drains. */
export const SHUTTING_DOWN = 'The proxy is shutting down: retry, another instance may serve you.';

/**
 * What one proxy has in flight, and how it closes gracefully: new work is refused (by the proxy,
 * which reads {@link Drain.draining}), in-flight HTTP exchanges finish, waiting upgrades get a
 * 503, WebSocket sessions are closed with code 1001, and whatever is left when the drain time
 * runs out is cut.
 */
export class Drain {
  /** Open WebSocket sessions (and handshakes under way). */
  readonly sessions: Set<UpgradedPair> = new Set();
  /** Upgrades waiting for authorization or a lookup. */
  readonly pendingUpgrades: Set<Duplex> = new Set();
  /** Forwarded HTTP exchanges whose response has not ended. */
  readonly exchanges: Set<ServerResponse> = new Set();
  /** The proxy is closing: new requests and upgrades get a 503. */
  draining = false;
  /** The `Retry-After` header of a 503 during the drain (an upgrade's answer closes anyway). */
  readonly retryAfter: readonly string[];
  #settled: (() => void) | undefined = undefined;
  #closed: Promise<void> | undefined = undefined;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(retryAfterSeconds: number) {
    this.retryAfter = ['retry-after', String(retryAfterSeconds)];
  }

  /** The headers of a 503 during the drain: retry elsewhere, and do not reuse this connection. */
  get refusalHeaders(): readonly string[] {
    return [...this.retryAfter, 'connection', 'close'];
  }

  /** Something tracked ended: resolves the close once nothing is left. */
  readonly ended = (): void => {
    if (this.#settled !== undefined && this.#idle()) {
      this.#settled();
      this.#settled = undefined;
      for (const timer of this.#timers.splice(0)) clearTimeout(timer);
    }
  };

  /**
   * Drains (see the class), resolving once every session, waiting upgrade and exchange has
   * closed and its history record is written. A second call joins the first; the shorter drain
   * time wins.
   */
  close(options: CloseOptions | undefined): Promise<void> {
    const drainMs = drainTime(options, 'the proxy close()');
    if (this.#closed === undefined) {
      this.draining = true;
      this.#closed = new Promise((resolve) => {
        this.#settled = resolve;
      });
      for (const socket of this.pendingUpgrades) {
        socket.once('close', this.ended);
        writeSocketResponse(socket, 503, SHUTTING_DOWN, this.retryAfter);
      }
      for (const pair of this.sessions) pair.goAway();
      this.ended();
    }
    if (this.#settled !== undefined) {
      if (drainMs === 0) this.#cut();
      else this.#timers.push(setTimeout(() => this.#cut(), drainMs));
    }
    return this.#closed;
  }

  #idle(): boolean {
    return this.sessions.size === 0 && this.pendingUpgrades.size === 0 && this.exchanges.size === 0;
  }

  /** The drain time is over: cuts what is left (each, once closed, calls {@link Drain.ended}). */
  #cut(): void {
    for (const socket of this.pendingUpgrades) socket.destroy();
    for (const pair of this.sessions) {
      pair.upstream.destroy();
      pair.client.destroy();
    }
    for (const res of this.exchanges) cutResponse(res);
  }
}
