/**
 * Every failure dde reports. The union is closed: code that switches on it is exhaustive.
 *
 * - `INVALID_SPEC`: a {@link ContainerSpec} field is wrong; `field` names it.
 * - `INVALID_OPTION`: an option given to a dde constructor or function is wrong; `field` names it.
 * - `INPUT_TOO_LARGE`: the input JSON does not fit the chosen delivery.
 * - `UNSUPPORTED`: the backend lacks a capability the request needs.
 * - `NOT_FOUND`: no managed container (or image) of that name.
 * - `CONFLICT`: the name is already taken.
 * - `IMAGE_PULL_FAILED`: the image is neither present nor pullable.
 * - `ENGINE_UNAVAILABLE`: the container engine cannot be reached.
 * - `ENGINE_ERROR`: the engine answered with an error dde has no better code for.
 * - `LAUNCH_FAILED`: the container was created but could not be started or prepared.
 * - `CAPACITY_EXCEEDED`: the memory budget cannot hold the container.
 * - `LIMIT_EXCEEDED`: a count limit (per owner, total, concurrent starts) is reached.
 * - `FORBIDDEN`: the authorization hook denied the request.
 * - `UPSTREAM_UNAVAILABLE`: the container refused or reset the proxied connection.
 * - `UPSTREAM_TIMEOUT`: the container did not answer in time.
 * - `UPSTREAM_BUSY`: the container's connections are all in use and its queue is full
 *   (`pool.connections`, `pool.maxQueuedRequests`); retry shortly.
 * - `TIMEOUT`: an operation's deadline passed.
 * - `ABORTED`: the caller aborted the operation.
 * - `STATE_UNAVAILABLE`: the state shared by several instances (e.g. Redis) cannot be reached, so a
 *   decision that needs it (admitting a launch) is refused rather than taken locally.
 */
export type DdeErrorCode =
  | 'INVALID_SPEC'
  | 'INVALID_OPTION'
  | 'INPUT_TOO_LARGE'
  | 'UNSUPPORTED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'IMAGE_PULL_FAILED'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_ERROR'
  | 'LAUNCH_FAILED'
  | 'CAPACITY_EXCEEDED'
  | 'LIMIT_EXCEEDED'
  | 'FORBIDDEN'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_BUSY'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'STATE_UNAVAILABLE';

/** The HTTP status that answers a request failing with each code: the one place this mapping lives. */
const HTTP_STATUS: Readonly<Record<DdeErrorCode, number>> = {
  INVALID_SPEC: 400,
  INVALID_OPTION: 500,
  INPUT_TOO_LARGE: 413,
  UNSUPPORTED: 501,
  NOT_FOUND: 404,
  CONFLICT: 409,
  IMAGE_PULL_FAILED: 502,
  ENGINE_UNAVAILABLE: 503,
  ENGINE_ERROR: 502,
  LAUNCH_FAILED: 502,
  CAPACITY_EXCEEDED: 503,
  LIMIT_EXCEEDED: 429,
  FORBIDDEN: 403,
  UPSTREAM_UNAVAILABLE: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_BUSY: 503,
  TIMEOUT: 504,
  ABORTED: 499,
  STATE_UNAVAILABLE: 503,
};

/** Options of {@link DdeError}. */
export interface DdeErrorOptions {
  /** The field of the spec or options that is at fault, as a dotted path (`readiness.path`). */
  field?: string;
  /** The underlying error (an engine response, a socket error). */
  cause?: unknown;
}

// A registered symbol brands dde errors so that `isDdeError` recognises them even when two
// copies of @dde/core are installed (instanceof would not).
const BRAND = Symbol.for('dde.error');

/**
 * The one error class of dde. Switch on {@link DdeError.code}; read {@link DdeError.field} for
 * validation errors. Use {@link isDdeError} rather than `instanceof` across package boundaries.
 */
export class DdeError extends Error {
  /** What went wrong, from a closed set. */
  readonly code: DdeErrorCode;
  /** The offending field, for validation errors. */
  readonly field: string | undefined;
  constructor(code: DdeErrorCode, message: string, options: DdeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DdeError';
    this.code = code;
    this.field = options.field;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** The HTTP status that a proxy answers with when a request fails with this error. */
  get httpStatus(): number {
    return httpStatusOf(this.code);
  }
}

/** Whether `value` is a {@link DdeError}, from this copy of @dde/core or any other. */
export function isDdeError(value: unknown): value is DdeError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The HTTP status for an error code (e.g. `NOT_FOUND` → 404, `LIMIT_EXCEEDED` → 429). */
export function httpStatusOf(code: DdeErrorCode): number {
  return HTTP_STATUS[code];
}

/** Shorthand for an `INVALID_SPEC` error naming `field`. */
export function invalidSpec(field: string, message: string): DdeError {
  return new DdeError('INVALID_SPEC', `Invalid container spec: ${field} ${message}`, { field });
}

/** Shorthand for an `INVALID_OPTION` error naming `field`. */
export function invalidOption(field: string, message: string): DdeError {
  return new DdeError('INVALID_OPTION', `Invalid option: ${field} ${message}`, { field });
}

/**
 * Turns an aborted signal's reason into a dde error: `TIMEOUT` for `AbortSignal.timeout`, else
 * `ABORTED`. Pass-through when the reason already is a dde error.
 */
export function abortError(signal: AbortSignal, what: string): DdeError {
  const reason: unknown = signal.reason;
  if (isDdeError(reason)) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new DdeError('TIMEOUT', `${what} timed out`, { cause: reason });
  }
  return new DdeError('ABORTED', `${what} was aborted`, { cause: reason });
}

/** Throws the dde form of the signal's reason if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}
