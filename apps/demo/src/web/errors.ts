/** Turns any error into what a page may show: a status, a title and a sentence, never a stack trace. */

import type { DdeErrorCode } from '@dde/core';
import { isDdeError } from '@dde/core';
import { isFormError } from './form-error.ts';

/** An error as a page shows it. */
export interface ShownError {
  /** HTTP status. */
  readonly status: number;
  /** Short title. */
  readonly title: string;
  /** What happened and what to do. */
  readonly message: string;
  /** The form field at fault, when there is one. */
  readonly field: string | undefined;
}

const TITLES: Partial<Record<DdeErrorCode, string>> = {
  INVALID_SPEC: 'Check the form',
  INPUT_TOO_LARGE: 'Input too large',
  NOT_FOUND: 'Not found',
  CONFLICT: 'Name already taken',
  CAPACITY_EXCEEDED: 'Not enough memory',
  LIMIT_EXCEEDED: 'Limit reached',
  ENGINE_UNAVAILABLE: 'Docker Engine unreachable',
  IMAGE_PULL_FAILED: 'Image unavailable',
  FORBIDDEN: 'Not allowed',
  TIMEOUT: 'Timed out',
};

/** Describes `error` for a page. Unknown errors keep their message but lose everything else. */
export function showError(error: unknown): ShownError {
  if (isFormError(error)) {
    return {
      status: error.status,
      title: formTitle(error.status),
      message: error.message,
      field: error.field,
    };
  }
  if (isDdeError(error)) {
    return {
      status: error.httpStatus >= 400 ? error.httpStatus : 500,
      title: TITLES[error.code] ?? 'Something went wrong',
      message: error.message,
      field: error.field,
    };
  }
  const http = error as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof http?.status === 'number' && http.expose === true && typeof http.message === 'string') {
    return {
      status: http.status,
      title: http.status === 404 ? 'Not found' : 'Bad request',
      message: http.message,
      field: undefined,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: 500,
    title: 'Something went wrong',
    message: `The demo hit an unexpected error: ${message}. The details are in its console.`,
    field: undefined,
  };
}

/** A form error's title: what kind of problem it is, not always "check the form". */
function formTitle(status: number): string {
  if (status === 404) return 'Not found';
  if (status === 409) return 'Not possible right now';
  if (status === 403) return 'Not allowed';
  if (status === 413) return 'Too large';
  if (status === 415) return 'Unsupported file';
  return 'Check the form';
}
