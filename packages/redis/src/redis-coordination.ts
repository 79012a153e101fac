import { randomUUID } from 'node:crypto';
import {
  type AdmissionState,
  abortError,
  type Coordination,
  type Enqueued,
  type LockOptions,
  type LockOutcome,
  type QueueTicket,
  type Reservation,
} from '@dde/core';
import type { Connection } from './connection.ts';

// Scripts read the server's clock: instances' clocks may disagree, Redis's is one.
const NOW =
  "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

// KEYS[1] reservations hash; ARGV: name, json, ttl.
const RESERVE = `${NOW}
redis.call('HSET', KEYS[1], ARGV[1], tostring(now + tonumber(ARGV[3])) .. ' ' .. ARGV[2])
return 1`;

// Reservations and queue tickets are hashes of field -> 'expiresAt json'. LIVE drops the expired
// entries of a hash and returns the live ones' fields and JSON; LIVE_QUEUE orders tickets by seq.
const LIVE = `
local function live(key, now)
  local all = redis.call('HGETALL', key)
  local fields, jsons = {}, {}
  for i = 1, #all, 2 do
    local value = all[i + 1]
    local space = string.find(value, ' ', 1, true)
    if tonumber(string.sub(value, 1, space - 1)) <= now then redis.call('HDEL', key, all[i])
    else
      fields[#fields + 1] = all[i]
      jsons[#jsons + 1] = string.sub(value, space + 1)
    end
  end
  return fields, jsons
end
local function live_queue(key, now)
  local seqs, jsons = live(key, now)
  local order = {}
  for i = 1, #seqs do order[i] = i end
  table.sort(order, function(x, y) return tonumber(seqs[x]) < tonumber(seqs[y]) end)
  local queue = {}
  for i, index in ipairs(order) do queue[i] = jsons[index] end
  return queue
end`;

// KEYS[1] reservations hash: the live reservations' JSON.
const RESERVATIONS = `${NOW}${LIVE}
local _, jsons = live(KEYS[1], now)
return jsons`;

// KEYS[1] reservations hash, KEYS[2] queue hash (seq from an INCR counter): both live lists.
const ADMISSION_STATE = `${NOW}${LIVE}
local _, reservations = live(KEYS[1], now)
return { reservations, live_queue(KEYS[2], now) }`;

// KEYS[1] queue hash, KEYS[2] seq counter; ARGV: name, instance, ttl. Returns the new ticket, then the queue.
// A Redis restarted without persistence starts the counter again while waiting instances put
// their tickets back with their numbers: a new ticket is numbered after every live one.
const ENQUEUE = `${NOW}${LIVE}
local queue = live_queue(KEYS[1], now)
local seq = redis.call('INCR', KEYS[2])
local last = 0
for _, json in ipairs(queue) do
  local live = tonumber(cjson.decode(json).seq)
  if live > last then last = live end
end
if seq <= last then
  seq = last + 1
  redis.call('SET', KEYS[2], seq)
end
local ticket = cjson.encode({ name = ARGV[1], instance = ARGV[2], seq = seq, arrivedAt = now })
redis.call('HSET', KEYS[1], tostring(seq), tostring(now + tonumber(ARGV[3])) .. ' ' .. ticket)
queue[#queue + 1] = ticket
return { ticket, queue }`;

// KEYS[1] queue hash; ARGV: ttl, then seq and JSON of each ticket to keep. Returns the queue.
const RENEW_QUEUE = `${NOW}${LIVE}
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], tostring(now + tonumber(ARGV[1])) .. ' ' .. ARGV[i + 1])
end
return live_queue(KEYS[1], now)`;

// KEYS[1] instances zset, KEYS[2] this instance's busy set; ARGV: id, ttl, busy-set prefix, names...
// Returns the names the other live instances serve.
const PUBLISH_BUSY = `${NOW}
redis.call('DEL', KEYS[2])
if #ARGV > 3 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local busy = {}
for _, other in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if other ~= ARGV[1] then
    for _, name in ipairs(redis.call('SMEMBERS', ARGV[3] .. other)) do busy[#busy + 1] = name end
  end
end
return busy`;

const POLL_MS = 25;

/**
 * `Coordination` (from `@dde/core`) in Redis: locks are keys set with `NX` and an expiry that the holder
 * renews while it works (a crashed holder frees the lock once the expiry passes); reservations
 * and busy marks carry expiry times read from the server's clock. Built by {@link RedisStore}.
 *
 * The scripts touch keys they compute (busy sets of other instances), so the store needs one
 * Redis server (or a primary with replicas), not a Redis Cluster.
 */
export class RedisCoordination implements Coordination {
  readonly #connection: Connection;
  readonly #prefix: string;
  readonly #id = randomUUID();
  readonly #held = new Map<string, string>();
  readonly #onStarted: () => Promise<void>;
  #busyElsewhere: ReadonlySet<string> = new Set();
  #closed = false;

  /** @internal Built by {@link RedisStore}. */
  constructor(connection: Connection, prefix: string, onStarted: () => Promise<void>) {
    this.#connection = connection;
    this.#prefix = prefix;
    this.#onStarted = onStarted;
  }

  /** This instance's id in Redis (its busy marks carry it). */
  get instanceId(): string {
    return this.#id;
  }

  /** Connects; rejects with `STATE_UNAVAILABLE` when Redis cannot be reached. */
  async start(): Promise<void> {
    await this.#connection.start();
    await this.#onStarted();
  }

  /** Runs `fn` holding the namespace-wide lock `lock` (renewed while `fn` runs). */
  async withLock<T>(lock: string, fn: () => Promise<T>, options: LockOptions): Promise<LockOutcome<T>> {
    const key = `${this.#prefix}lock:${lock}`;
    const token = `${this.#id}:${randomUUID()}`;
    const ttl = Math.max(1, Math.round(options.ttlMs));
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal, `Waiting for the ${lock} lock`);
      const taken = await this.#connection.run(`take the ${lock} lock`, (client) =>
        client.set(key, token, 'PX', ttl, 'NX'),
      );
      if (taken === 'OK') break;
      if (Date.now() >= deadline) return { ran: false };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    this.#held.set(key, token);
    // Renew well before expiry; a renewal Redis misses is retried on the next tick.
    const renewal = setInterval(
      () => void this.#connection.client.eval(RENEW, 1, key, token, ttl).catch(() => {}),
      Math.max(10, Math.floor(ttl / 3)),
    );
    renewal.unref();
    try {
      return { ran: true, value: await fn() };
    } finally {
      clearInterval(renewal);
      this.#held.delete(key);
      // If Redis is away the lock expires by itself.
      await this.#connection.client.eval(UNLOCK, 1, key, token).catch(() => {});
    }
  }

  /** Every reservation not expired, from every instance. */
  async reservations(): Promise<Reservation[]> {
    const live = (await this.#connection.run('read the launch reservations', (client) =>
      client.eval(RESERVATIONS, 1, `${this.#prefix}reservations`),
    )) as string[];
    return live.map((json) => JSON.parse(json) as Reservation);
  }

  /** The reservations and the start queue, read by one script. */
  async admissionState(): Promise<AdmissionState> {
    const [reservations, queue] = (await this.#connection.run('read the launch reservations', (client) =>
      client.eval(ADMISSION_STATE, 2, `${this.#prefix}reservations`, `${this.#prefix}queue`),
    )) as [string[], string[]];
    return {
      reservations: reservations.map((json) => JSON.parse(json) as Reservation),
      queue: queue.map(parseTicket),
    };
  }

  /** Gives a waiting launch a ticket numbered by an `INCR` counter, for `ttlMs`. */
  async enqueue(name: string, ttlMs: number): Promise<Enqueued> {
    const [ticket, queue] = (await this.#connection.run(`queue ${name} for a start slot`, (client) =>
      client.eval(
        ENQUEUE,
        2,
        `${this.#prefix}queue`,
        `${this.#prefix}queue-seq`,
        name,
        this.#id,
        Math.max(1, Math.round(ttlMs)),
      ),
    )) as [string, string[]];
    return { ticket: parseTicket(ticket), queue: queue.map(parseTicket) };
  }

  /** Renews this instance's `tickets` for `ttlMs` and reads the live queue. */
  async renewQueue(tickets: readonly QueueTicket[], ttlMs: number): Promise<QueueTicket[]> {
    const args = tickets.flatMap((ticket) => [String(ticket.seq), ticketJson(ticket)]);
    const queue = (await this.#connection.run('renew the start queue tickets', (client) =>
      client.eval(RENEW_QUEUE, 1, `${this.#prefix}queue`, Math.max(1, Math.round(ttlMs)), ...args),
    )) as string[];
    return queue.map(parseTicket);
  }

  /** Takes `ticket` out of the start queue. */
  async dequeue(ticket: QueueTicket): Promise<void> {
    await this.#connection.run(`take ${ticket.name} out of the start queue`, (client) =>
      client.hdel(`${this.#prefix}queue`, String(ticket.seq)),
    );
  }

  /** Adds or replaces the reservation of `reservation.name` for `ttlMs`. */
  async reserve(reservation: Reservation, ttlMs: number): Promise<void> {
    const { name, specHash, owner, memoryReservationMb, starting } = reservation;
    const json = JSON.stringify({ name, specHash, owner, memoryReservationMb, starting });
    await this.#connection.run(`reserve ${name}`, (client) =>
      client.eval(RESERVE, 1, `${this.#prefix}reservations`, name, json, Math.max(1, Math.round(ttlMs))),
    );
  }

  /** Forgets the reservation of `name`. */
  async release(name: string): Promise<void> {
    await this.#connection.run(`release the reservation of ${name}`, (client) =>
      client.hdel(`${this.#prefix}reservations`, name),
    );
  }

  /** Says which containers this instance serves, for `ttlMs`, and learns which others serve. */
  async publishBusy(names: readonly string[], ttlMs: number): Promise<void> {
    const busy = (await this.#connection.run('publish the containers in use', (client) =>
      client.eval(
        PUBLISH_BUSY,
        2,
        `${this.#prefix}instances`,
        `${this.#prefix}busy:${this.#id}`,
        this.#id,
        Math.max(1, Math.round(ttlMs)),
        `${this.#prefix}busy:`,
        ...names,
      ),
    )) as string[];
    this.#busyElsewhere = new Set(busy);
  }

  /** Whether another instance serves the container, as of the last publication. */
  busyElsewhere(name: string): boolean {
    return this.#busyElsewhere.has(name);
  }

  /** Releases this instance's locks and busy marks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#connection.client;
    const keys = [...this.#held.entries()];
    if (this.#connection.available)
      await Promise.all([
        ...keys.map(([key, token]) => client.eval(UNLOCK, 1, key, token).catch(() => {})),
        client.del(`${this.#prefix}busy:${this.#id}`).catch(() => {}),
        client.zrem(`${this.#prefix}instances`, this.#id).catch(() => {}),
      ]);
    await this.#connection.release();
  }
}

function ticketJson({ name, instance, seq, arrivedAt }: QueueTicket): string {
  return JSON.stringify({ name, instance, seq, arrivedAt });
}

function parseTicket(json: string): QueueTicket {
  const { name, instance, seq, arrivedAt } = JSON.parse(json) as QueueTicket;
  return { name, instance, seq: Number(seq), arrivedAt: Number(arrivedAt) };
}
