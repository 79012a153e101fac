import type { DdeErrorCode } from '@dde/core';
import { abortError, DdeError, isDdeError } from '@dde/core';
import { SSH_FAILED } from './ssh.ts';

/** What an engine call was doing, so that a mapped error can say so. */
export interface EngineCallContext {
  /** The operation, e.g. `inspect of container alice-viewer`. */
  readonly what: string;
  /** The engine's address, e.g. `unix:///var/run/docker.sock`. */
  readonly engine: string;
  /** The operation's signal: an abort turns into `ABORTED` or `TIMEOUT`. */
  readonly signal?: AbortSignal | undefined;
  /** The spec field an error is about (e.g. `name` for a conflict). */
  readonly field?: string | undefined;
}

// Socket errors that mean "no engine answers there": start it, or point DOCKER_HOST elsewhere.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);

// TLS failures: the engine's certificate is not trusted, or it refused ours.
const TLS_FAILURES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

function isTlsFailure(code: string): boolean {
  return TLS_FAILURES.has(code) || code.startsWith('ERR_SSL_');
}

/** The HTTP status of an engine error response, if it is one. */
export function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The engine's own message for an error response (`{"message": ...}`), else the error's message. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: unknown } | null)?.json;
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message;
  }
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString('utf8').trim();
  return error instanceof Error ? error.message : String(error);
}

/** Whether the engine answered 404 (no such container, image or volume). */
export function isNotFound(error: unknown): boolean {
  return engineStatus(error) === 404;
}

/** Whether the engine answered 304: the object already was in the requested state. */
export function isNotModified(error: unknown): boolean {
  return engineStatus(error) === 304;
}

/** Whether the engine answered 409 (name in use, removal already in progress, volume in use). */
export function isConflict(error: unknown): boolean {
  return engineStatus(error) === 409;
}

/**
 * Maps anything an engine call threw onto a `DdeError`: an abort of the operation's signal →
 * `ABORTED`/`TIMEOUT`; 404 → `NOT_FOUND`; 409 → `CONFLICT`; an unreachable socket or host →
 * `ENGINE_UNAVAILABLE`, and so does a failed TLS handshake (untrusted certificate, refused client
 * certificate); anything else → `ENGINE_ERROR`, with the original as `cause`.
 * A `DdeError` passes through unchanged.
 */
export function toDdeError(error: unknown, context: EngineCallContext): DdeError {
  if (isDdeError(error)) return error;
  if (context.signal?.aborted) return abortError(context.signal, context.what);
  const options = { cause: error, ...(context.field === undefined ? {} : { field: context.field }) };
  const status = engineStatus(error);
  if (status !== undefined) {
    const code: DdeErrorCode = status === 404 ? 'NOT_FOUND' : status === 409 ? 'CONFLICT' : 'ENGINE_ERROR';
    return new DdeError(
      code,
      `${capitalize(context.what)} failed: the Docker Engine answered ${status}: ${engineMessage(error)}`,
      options,
    );
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new DdeError('ABORTED', `${capitalize(context.what)} was aborted`, options);
  }
  const socketCode = (error as { code?: unknown } | null)?.code;
  if (typeof socketCode === 'string' && isTlsFailure(socketCode)) {
    return new DdeError(
      'ENGINE_UNAVAILABLE',
      `${capitalize(context.what)} failed: the TLS connection to the Docker Engine at ${context.engine} failed (${socketCode}: ${error instanceof Error ? error.message : String(error)}): check ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (or the docker context's TLS files) and DOCKER_TLS_VERIFY`,
      options,
    );
  }
  if (socketCode === SSH_FAILED) {
    return new DdeError(
      'ENGINE_UNAVAILABLE',
      `${capitalize(context.what)} failed: cannot reach the Docker Engine at ${context.engine} over SSH (${error instanceof Error ? error.message : String(error)}): check that the host key is in known_hosts (ssh-keyscan), that ssh finds the key (ssh-agent, ~/.ssh/config or the sshArgs option), and that the remote user can run "docker system dial-stdio"`,
      options,
    );
  }
  if (typeof socketCode === 'string' && UNREACHABLE.has(socketCode)) {
    const hint =
      socketCode === 'EACCES' || socketCode === 'EPERM'
        ? 'give this process access to the socket (e.g. the docker group)'
        : 'start the engine, or point DOCKER_HOST or DOCKER_CONTEXT at a running one';
    return new DdeError(
      'ENGINE_UNAVAILABLE',
      `${capitalize(context.what)} failed: cannot reach the Docker Engine at ${context.engine} (${socketCode}): ${hint}`,
      options,
    );
  }
  return new DdeError(
    'ENGINE_ERROR',
    `${capitalize(context.what)} failed: ${error instanceof Error ? error.message : String(error)}`,
    options,
  );
}

/** A `LAUNCH_FAILED` error: the container exists but could not be prepared or started. */
export function launchFailed(message: string, cause?: unknown): DdeError {
  return new DdeError('LAUNCH_FAILED', message, cause === undefined ? {} : { cause });
}

/**
 * Maps a failure after the container was created (input placement, start): what the engine
 * refused becomes `LAUNCH_FAILED` with the engine's reason; aborts, timeouts and an unreachable
 * engine keep their own codes.
 */
export function asLaunchFailure(error: unknown, context: EngineCallContext): DdeError {
  const mapped = toDdeError(error, context);
  if (mapped.code === 'ENGINE_ERROR' || mapped.code === 'NOT_FOUND' || mapped.code === 'CONFLICT') {
    return launchFailed(`${capitalize(context.what)} failed: ${engineMessage(error)}`, error);
  }
  return mapped;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
