import type { Coordination, QueueTicket } from '../coordination/coordination.ts';
import { isDdeError } from '../errors.ts';
import type { Logger } from '../lifecycle/logger.ts';

/**
 * How long a ticket outlives an instance that stops renewing it (it died), in ms. Renewed on the
 * start queue's retry tick (about once a second), so a few missed renewals do not lose a place.
 */
export const TICKET_TTL_MS = 5000;

/** The ticket of one waiting launch of this instance, and where its route shows it in line. */
export class QueueSpot {
  readonly #tickets: QueueTickets;
  readonly name: string;
  /** Its ticket once it had to wait, until it leaves. */
  ticket: QueueTicket | undefined;
  /** Its place in the shared line (1 is next), as of the last read. */
  position: number | undefined;
  /** Told when {@link QueueSpot.position} changes. */
  onPosition: (position: number) => void = () => {};
  left = false;

  constructor(tickets: QueueTickets, name: string) {
    this.#tickets = tickets;
    this.name = name;
  }

  /**
   * Whether the launch may take a slot, given the shared line `queue`: no earlier ticket waits
   * (without a ticket of its own, nobody waits at all).
   */
  first(queue: readonly QueueTicket[]): boolean {
    const seq = this.ticket?.seq ?? Number.POSITIVE_INFINITY;
    return !queue.some((ticket) => ticket.seq < seq);
  }

  /** The launch has to wait: takes a ticket (once), under the admission lock. */
  async take(): Promise<void> {
    if (this.ticket !== undefined || this.left) return;
    await this.#tickets.take(this);
  }

  /**
   * The launch leaves the line (started, refused or cancelled): its ticket goes. Idempotent;
   * resolves once the store dropped it (or could not: the ticket then expires).
   */
  leave(): Promise<void> {
    this.left = true;
    return this.#tickets.leave(this);
  }
}

/**
 * The start queue shared by every instance of a namespace (see {@link Coordination.enqueue}):
 * this instance's tickets, renewed on each {@link QueueTickets.renew}, and the places in line of
 * its waiting launches. A launch that never waits has no ticket and costs no store round trip
 * beyond admission's own read.
 */
export class QueueTickets {
  readonly #coordination: Coordination;
  readonly #logger: Logger;
  readonly #spots = new Set<QueueSpot>();
  /** The shared line as last read, in `seq` order. */
  #line: readonly QueueTicket[] = [];
  /** Dequeues under way: close() waits for them before the store goes. */
  readonly #leaving = new Set<Promise<void>>();
  #renewing = false;
  #closed = false;

  constructor(coordination: Coordination, logger: Logger) {
    this.#coordination = coordination;
    this.#logger = logger;
  }

  /** A spot for a launch of `name` about to ask for admission (no ticket yet). */
  spot(name: string): QueueSpot {
    return new QueueSpot(this, name);
  }

  /** The shared line was read (under the admission lock): places in line follow it. */
  seen(line: readonly QueueTicket[]): void {
    this.#line = line;
    this.#place();
  }

  /** @internal See {@link QueueSpot.take}. */
  async take(spot: QueueSpot): Promise<void> {
    const { ticket, queue } = await this.#coordination.enqueue(spot.name, TICKET_TTL_MS);
    spot.ticket = ticket;
    this.#spots.add(spot);
    // It left (or the manager closed) while the ticket was being issued.
    if (spot.left || this.#closed) await this.leave(spot);
    else this.seen(queue);
  }

  /** @internal See {@link QueueSpot.leave}. */
  leave(spot: QueueSpot): Promise<void> {
    const ticket = spot.ticket;
    if (ticket === undefined || !this.#spots.delete(spot)) return Promise.resolve();
    this.#line = this.#line.filter((other) => other.seq !== ticket.seq);
    this.#place();
    return this.#dequeue(ticket);
  }

  /**
   * Renews this instance's tickets and reads the line (the start queue's retry tick, about once
   * a second while launches wait). An unreachable store is no error: tickets expire and come
   * back with their place at the next renewal that gets through.
   */
  async renew(): Promise<void> {
    if (this.#spots.size === 0 || this.#renewing || this.#closed) return;
    this.#renewing = true;
    try {
      const mine = [...this.#spots].flatMap((spot) => (spot.ticket === undefined ? [] : [spot.ticket]));
      const line = await this.#coordination.renewQueue(mine, TICKET_TTL_MS);
      // Tickets that left meanwhile stay out of the line.
      const gone = new Set(mine.filter((ticket) => !this.#has(ticket)).map((ticket) => ticket.seq));
      this.seen(gone.size === 0 ? line : line.filter((ticket) => !gone.has(ticket.seq)));
    } catch (error) {
      if (!isDdeError(error) || error.code !== 'STATE_UNAVAILABLE')
        this.#logger.warn({ error }, 'cannot renew the start queue tickets');
    } finally {
      this.#renewing = false;
    }
  }

  /** Takes every ticket of this instance out of the line (the manager closes). */
  async close(): Promise<void> {
    this.#closed = true;
    const tickets = [...this.#spots].flatMap((spot) => (spot.ticket === undefined ? [] : [spot.ticket]));
    this.#spots.clear();
    for (const ticket of tickets) this.#dequeue(ticket);
    await Promise.all([...this.#leaving]);
  }

  #has(ticket: QueueTicket): boolean {
    for (const spot of this.#spots) if (spot.ticket?.seq === ticket.seq) return true;
    return false;
  }

  /** Tells each waiting launch its place in the line as last read. */
  #place(): void {
    for (const spot of this.#spots) {
      const seq = spot.ticket?.seq;
      const index = this.#line.findIndex((ticket) => ticket.seq === seq);
      // A ticket missing from the line (expired in an outage, renewal under way) keeps its place.
      if (index === -1 || spot.position === index + 1) continue;
      spot.position = index + 1;
      spot.onPosition(index + 1);
    }
  }

  #dequeue(ticket: QueueTicket): Promise<void> {
    // A ticket that stays (store unreachable) expires after TICKET_TTL_MS.
    const leaving: Promise<void> = this.#coordination.dequeue(ticket).then(
      () => {
        this.#leaving.delete(leaving);
      },
      (error: unknown) => {
        this.#leaving.delete(leaving);
        if (!isDdeError(error) || error.code !== 'STATE_UNAVAILABLE')
          this.#logger.warn({ name: ticket.name, error }, 'cannot take a ticket out of the start queue');
      },
    );
    this.#leaving.add(leaving);
    return leaving;
  }
}
