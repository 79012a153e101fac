/**
 * The logger dde writes to: pino-compatible (`logger.info({ name }, 'launched')`), so a pino,
 * bunyan or console-like object plugs in. dde is silent unless given one.
 */
export interface Logger {
  /** Detail useful when debugging. */
  debug(fields: Record<string, unknown>, message: string): void;
  /** Notable lifecycle steps (launched, removed, culled). */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something went wrong but dde carried on. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** Something failed. */
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};

/** The default logger: writes nothing. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

/**
 * A warning that may recur many times a second (every record of a broken history, every refused
 * lookup of a flood): said at most once per `everyMs`, with how often it happened since.
 */
export class OccasionalWarning {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #everyMs: number;
  #saidAt = Number.NEGATIVE_INFINITY;
  #times = 0;

  constructor(logger: Logger, message: string, everyMs = 60_000) {
    this.#logger = logger;
    this.#message = message;
    this.#everyMs = everyMs;
  }

  /** It happened again: warns, with `times` added to `fields`, unless it did so recently. */
  note(fields: Record<string, unknown>): void {
    this.#times++;
    const now = Date.now();
    if (now - this.#saidAt < this.#everyMs) return;
    this.#saidAt = now;
    const times = this.#times;
    this.#times = 0;
    try {
      this.#logger.warn({ ...fields, times }, this.#message);
    } catch {
      // A logger that throws must not break what it reports on.
    }
  }
}
