/** The path an activity record keeps of an upstream path: the query string may carry secrets. */
export function recordedPath(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** One proxied HTTP request. */
export interface HttpActivity {
  /** Discriminant. */
  readonly type: 'http';
  /** When the request arrived, in ms since the epoch. */
  readonly time: number;
  /** Request method. */
  readonly method: string;
  /** Upstream path, without the query string (it may carry secrets). */
  readonly path: string;
  /** Status sent to the client (502/504 when the container failed to answer, 499 when the client left first). */
  readonly status: number;
  /** Request body bytes forwarded to the container. */
  readonly bytesIn: number;
  /** Response body bytes forwarded to the client. */
  readonly bytesOut: number;
  /** Time from arrival to the end of the response, in ms. */
  readonly durationMs: number;
  /** The user, when the proxy's `userOf` option knows it. */
  readonly user?: string;
}

/** A WebSocket (or other upgraded) session opening or closing. */
export interface WebSocketActivity {
  /** Discriminant. */
  readonly type: 'websocket';
  /** `open` when the container accepted the upgrade, `close` when the session ended. */
  readonly event: 'open' | 'close';
  /** When it happened, in ms since the epoch. */
  readonly time: number;
  /** Upstream path, without the query string. */
  readonly path: string;
  /** Status of the container's answer to the upgrade (101 when accepted; 502/504 when unreachable). */
  readonly status: number;
  /** On `close`: bytes sent by the client to the container after the handshake. */
  readonly bytesIn?: number;
  /** On `close`: bytes sent by the container to the client after the handshake. */
  readonly bytesOut?: number;
  /** On `close`: how long the session lasted, in ms. */
  readonly durationMs?: number;
  /** The user, when the proxy's `userOf` option knows it. */
  readonly user?: string;
}

/** What the proxy records for each container. */
export type ActivityRecord = HttpActivity | WebSocketActivity;

/** Options of {@link History.query}. */
export interface HistoryQuery {
  /** Only records at or after this time. */
  since?: Date | number;
  /** At most this many records: the most recent ones. */
  limit?: number;
}

/**
 * The records of chronologically ordered `records` that {@link HistoryQuery} `options` ask for:
 * the one place `since` and `limit` are applied, for every {@link History} implementation.
 */
export function selectRecords(records: ActivityRecord[], options: HistoryQuery): ActivityRecord[] {
  let selected = records;
  if (options.since !== undefined) {
    const since = typeof options.since === 'number' ? options.since : options.since.getTime();
    selected = selected.filter((record) => record.time >= since);
  }
  if (options.limit !== undefined && selected.length > options.limit) {
    selected = selected.slice(selected.length - Math.max(0, options.limit));
  }
  return selected;
}

/**
 * Where activity is recorded, per container. `record` sits on the proxy's hot path: it must be
 * synchronous and cheap (implementations buffer and write in batches).
 */
export interface History {
  /** Records one activity of a container. Never throws and never blocks. */
  record(containerName: string, record: ActivityRecord): void;
  /** The container's records in chronological order. */
  query(containerName: string, options?: HistoryQuery): Promise<ActivityRecord[]>;
  /** When the container last saw activity, or undefined when never (or forgotten). */
  lastActivity(containerName: string): Date | undefined;
  /** Forgets everything about the container. */
  remove(containerName: string): Promise<void>;
  /** Writes out buffered records and releases resources. */
  close(): Promise<void>;
}
