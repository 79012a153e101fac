/** A problem with what a person entered, shown next to the form instead of a stack trace. */
export class FormError extends Error {
  /** The form field at fault, e.g. `tool` or `upload`. */
  readonly field: string;
  /** HTTP status of the page that shows it. */
  readonly status: number;
  /** @param field - the form field at fault; @param message - what to fix; @param status - default 400 */
  constructor(field: string, message: string, status = 400) {
    super(message);
    this.name = 'FormError';
    this.field = field;
    this.status = status;
  }
}

/** Whether `error` is a {@link FormError}. */
export function isFormError(error: unknown): error is FormError {
  return error instanceof FormError;
}
