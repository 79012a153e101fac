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
