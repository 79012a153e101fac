import type { DdeErrorCode } from '@dde/core';
import { abortError, DdeError, isDdeError } from '@dde/core';

/** What an AWS call was doing, so that a mapped error can say so. */
export interface AwsCallContext {
  /** The operation, e.g. `RunTask for alice-viewer`. */
  readonly what: string;
  /** The cluster the call was about. */
  readonly cluster: string;
  /** The operation's signal: an abort turns into `ABORTED` or `TIMEOUT`. */
  readonly signal?: AbortSignal | undefined;
}

/** The fields of an AWS SDK v3 service exception that the mapping reads. */
interface AwsErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

// Error names ECS and CloudWatch Logs answer with throttling (the SDK already retried them).
const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'InvalidSignatureException',
]);
// Socket errors that mean "no endpoint answers there".
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** The AWS error name (`ThrottlingException`), if `error` is an AWS service error. */
export function awsErrorName(error: unknown): string | undefined {
  const name = (error as AwsErrorShape | null)?.name;
  return typeof name === 'string' && name !== 'Error' ? name : undefined;
}

/** Whether an AWS call failed because the object is unknown (task, task definition). */
export function isAwsNotFound(error: unknown): boolean {
  const name = awsErrorName(error);
  return name === 'ResourceNotFoundException' || name === 'TaskDefinitionNotFoundException';
}

function messageOf(error: unknown): string {
  const message = (error as AwsErrorShape | null)?.message;
  return typeof message === 'string' && message !== '' ? message : String(error);
}

/**
 * Maps anything an AWS call threw onto a `DdeError`, naming the fix where there is one:
 * an abort of the signal → `ABORTED`/`TIMEOUT`; access denied or bad credentials →
 * `ENGINE_UNAVAILABLE` naming the IAM action; a missing cluster → `ENGINE_UNAVAILABLE` naming the
 * `cluster` option; throttling (after the SDK's own retries) → `LIMIT_EXCEEDED` with a retry
 * hint; invalid parameters → `ENGINE_ERROR` with ECS's words; an unreachable endpoint →
 * `ENGINE_UNAVAILABLE`. A `DdeError` passes through unchanged.
 */
export function toDdeError(error: unknown, context: AwsCallContext): DdeError {
  if (isDdeError(error)) return error;
  if (context.signal?.aborted) return abortError(context.signal, context.what);
  const name = awsErrorName(error);
  const message = messageOf(error);
  const what = capitalize(context.what);
  const make = (code: DdeErrorCode, text: string, field?: string) =>
    new DdeError(code, text, field === undefined ? { cause: error } : { cause: error, field });
  if (name === 'AbortError') return make('ABORTED', `${what} was aborted`);
  if (name !== undefined && DENIED.has(name)) {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: AWS refused the credentials or the permission (${name}: ${message}). ` +
        'Check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and that their IAM policy allows this call ' +
        '(see the IAM policy in the @dde/backend-ecs README)',
      'credentials',
    );
  }
  if (name === 'ClusterNotFoundException') {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: ECS has no cluster "${context.cluster}" in this account and region (${message}). ` +
        'Create it, or set the cluster option (and the region) to an existing one',
      'cluster',
    );
  }
  if (name !== undefined && THROTTLED.has(name)) {
    return make(
      'LIMIT_EXCEEDED',
      `${what} failed: AWS is throttling this account's calls (${name}: ${message}). Retry in a few seconds; ` +
        'if it persists, lower the launch rate (runTaskRate) or ask AWS for a higher quota',
    );
  }
  if (name === 'PlatformUnknownException' || name === 'PlatformTaskDefinitionIncompatibilityException') {
    return make(
      'ENGINE_ERROR',
      `${what} failed: ${message}. Check the platformVersion option`,
      'platformVersion',
    );
  }
  if (name === 'ServerException' || name === 'ServiceUnavailableException' || name === 'InternalFailure') {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: ECS had a server error after retries (${message}). Retry later`,
    );
  }
  const socketCode = (error as AwsErrorShape | null)?.code;
  if (typeof socketCode === 'string' && UNREACHABLE.has(socketCode)) {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: cannot reach the AWS endpoint (${socketCode}): check the network, the region and the endpoint option`,
    );
  }
  if ((error as AwsErrorShape | null)?.$metadata?.httpStatusCode === 404 && name === undefined) {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: the endpoint does not speak the ECS API (404): check the endpoint option`,
      'endpoint',
    );
  }
  if (name === 'CredentialsProviderError') {
    return make(
      'ENGINE_UNAVAILABLE',
      `${what} failed: no AWS credentials found (${message}). Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass the credentials option`,
      'credentials',
    );
  }
  return make('ENGINE_ERROR', `${what} failed: ${name === undefined ? '' : `${name}: `}${message}`);
}

/** A `LAUNCH_FAILED` error: the task was started but did not come up. */
export function launchFailed(message: string, cause?: unknown): DdeError {
  return new DdeError('LAUNCH_FAILED', message, cause === undefined ? {} : { cause });
}

/** Upper-cases the first letter, for messages built from an operation's description. */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
