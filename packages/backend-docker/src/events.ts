import type { BackendEvent } from '@dde/core';
import { NdjsonDecoder } from './ndjson.ts';

/** One message of the engine's `GET /events` stream (the fields read here). */
export interface EngineEventMessage {
  readonly Type?: string;
  /** E.g. `create`, `start`, `die`, `destroy`, `health_status: healthy`. */
  readonly Action?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Readonly<Record<string, string>> };
  /** Seconds since the epoch. */
  readonly time?: number;
  /** Nanoseconds since the epoch (JSON numbers lose its last digits; only used as a key). */
  readonly timeNano?: number;
}

/**
 * The engine actions this backend reports: container lifecycle, pause and health, and network
 * (dis)connections, which move a container's address.
 */
export const WATCHED_ACTIONS: readonly string[] = [
  'create',
  'start',
  'die',
  'destroy',
  'pause',
  'unpause',
  'health_status',
  'connect',
  'disconnect',
];

/** The event types this backend follows. */
export const WATCHED_TYPES: readonly string[] = ['container', 'network'];

const HEALTH = new Set(['starting', 'healthy', 'unhealthy']);

/**
 * Maps an engine event onto a backend event; undefined for events dde does not report.
 * Container events must carry every `labels` entry (`key=value`) among their attributes (the
 * engine's label filter would also drop network events, whose attributes hold the network's
 * labels); network events name the container by id only and pass unfiltered.
 */
export function toBackendEvent(
  message: EngineEventMessage,
  labels: readonly string[] = [],
): BackendEvent | undefined {
  const attributes = message.Actor?.Attributes;
  if (message.Type === 'network') {
    const container = attributes?.container;
    if (!container || (message.Action !== 'connect' && message.Action !== 'disconnect')) return undefined;
    return {
      type: message.Action === 'connect' ? 'network-connected' : 'network-disconnected',
      id: container,
      network: attributes?.name ?? message.Actor?.ID ?? '',
      time: eventTime(message),
    };
  }
  if (message.Type !== undefined && message.Type !== 'container') return undefined;
  const id = message.Actor?.ID;
  const name = attributes?.name;
  const action = message.Action ?? '';
  if (!id || !name) return undefined;
  for (const label of labels) {
    const equals = label.indexOf('=');
    if (attributes?.[label.slice(0, equals)] !== label.slice(equals + 1)) return undefined;
  }
  const time = eventTime(message);
  switch (action) {
    case 'create':
      return { type: 'created', name, id, time };
    case 'start':
      return { type: 'started', name, id, time };
    case 'destroy':
      return { type: 'destroyed', name, id, time };
    case 'pause':
      return { type: 'paused', name, id, time };
    case 'unpause':
      return { type: 'unpaused', name, id, time };
    case 'die': {
      const code = Number(message.Actor?.Attributes?.exitCode);
      return { type: 'died', name, id, time, exitCode: Number.isInteger(code) ? code : undefined };
    }
    default: {
      const health = /^health_status: (\w+)$/.exec(action)?.[1];
      if (health !== undefined && HEALTH.has(health)) {
        return { type: 'health', name, id, time, health: health as 'starting' | 'healthy' | 'unhealthy' };
      }
      return undefined;
    }
  }
}

function eventTime(message: EngineEventMessage): Date {
  if (typeof message.timeNano === 'number') return new Date(Math.floor(message.timeNano / 1e6));
  if (typeof message.time === 'number') return new Date(message.time * 1000);
  return new Date();
}

/** Opens one events stream from `since` (unix seconds) or from now; resolves once connected. */
export type OpenEventStream = (
  since: number | undefined,
  signal: AbortSignal,
) => Promise<AsyncIterable<unknown>>;

/** Delays between reconnection attempts: doubling from `initialMs` up to `maxMs`. */
export interface Backoff {
  /** First delay. */
  readonly initialMs: number;
  /** Longest delay. */
  readonly maxMs: number;
}

/**
 * Default reconnection backoff. Capped at one second so that routes are right within about a
 * second of an engine's return, however long it was away; an attempt against an engine that is
 * down costs one refused connection.
 */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 1_000 };

/**
 * Follows engine events until `signal` aborts. When the stream ends or fails (the engine
 * restarted, a proxy cut it), reconnects with backoff, asking for events since the last one seen
 * so that nothing in between is lost, skips the ones it already yielded, and yields a `resync`
 * event so that consumers reconcile anything the engine could not replay. The first connection
 * failing throws (through `mapError`): a wrong configuration should not look like silence.
 */
export async function* followEvents(
  open: OpenEventStream,
  signal: AbortSignal,
  options: { backoff?: Backoff; mapError: (error: unknown) => Error; labels?: readonly string[] },
): AsyncGenerator<BackendEvent> {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  // Engine time (seconds) of the last event seen, and the keys of the events seen in that
  // second: a reconnection asks for events since then, which replays those.
  let lastSecond: number | undefined;
  let seenInLastSecond = new Set<string>();
  let delay = backoff.initialMs;
  const connectedAt = Math.floor(Date.now() / 1000);
  let stream: AsyncIterable<unknown>;
  try {
    stream = await open(undefined, signal);
  } catch (error) {
    if (signal.aborted) return;
    throw options.mapError(error);
  }
  for (;;) {
    let reason = 'the engine closed the event stream';
    try {
      const decoder = new NdjsonDecoder();
      for await (const chunk of stream) {
        for (const value of decoder.push(chunk as Uint8Array)) {
          const message = value as EngineEventMessage;
          const second = message.time;
          if (typeof second === 'number') {
            const key = `${message.Actor?.ID}|${message.Action}|${message.timeNano}`;
            if (lastSecond !== undefined && second <= lastSecond) {
              if (second < lastSecond || seenInLastSecond.has(key)) continue;
            } else {
              lastSecond = second;
              seenInLastSecond = new Set();
            }
            seenInLastSecond.add(key);
          }
          const event = toBackendEvent(message, options.labels);
          if (event) yield event;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      reason = `the event stream failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (signal.aborted) return;
    // Reconnect until the engine answers again.
    for (;;) {
      if (!(await sleep(delay, signal))) return;
      delay = Math.min(delay * 2, backoff.maxMs);
      try {
        stream = await open(lastSecond ?? connectedAt, signal);
        delay = backoff.initialMs;
        break;
      } catch {
        if (signal.aborted) return;
      }
    }
    yield { type: 'resync', time: new Date(), reason };
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
