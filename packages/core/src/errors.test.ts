import { describe, expect, it } from 'vitest';
import { abortError, DdeError, httpStatusOf, isDdeError, throwIfAborted } from './errors.ts';

describe('DdeError', () => {
  it('carries code, field, cause and an HTTP status', () => {
    const cause = new Error('socket hang up');
    const error = new DdeError('UPSTREAM_UNAVAILABLE', 'upstream refused', { field: 'port', cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('DdeError');
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.field).toBe('port');
    expect(error.cause).toBe(cause);
    expect(error.httpStatus).toBe(502);
  });

  it('is recognised across copies of the library by its registered brand', () => {
    const foreign = new Error('from another copy');
    Object.defineProperty(foreign, Symbol.for('dde.error'), { value: true });
    expect(isDdeError(foreign)).toBe(true);
    expect(isDdeError(new Error('plain'))).toBe(false);
    expect(isDdeError(null)).toBe(false);
    expect(isDdeError(new DdeError('NOT_FOUND', 'x'))).toBe(true);
  });

  it('maps codes to statuses in one place', () => {
    expect(httpStatusOf('NOT_FOUND')).toBe(404);
    expect(httpStatusOf('CONFLICT')).toBe(409);
    expect(httpStatusOf('LIMIT_EXCEEDED')).toBe(429);
    expect(httpStatusOf('UPSTREAM_TIMEOUT')).toBe(504);
    expect(httpStatusOf('UPSTREAM_BUSY')).toBe(503);
    expect(httpStatusOf('FORBIDDEN')).toBe(403);
  });

  it('turns abort reasons into TIMEOUT or ABORTED', async () => {
    const timeout = AbortSignal.timeout(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(abortError(timeout, 'launch').code).toBe('TIMEOUT');
    const controller = new AbortController();
    controller.abort();
    expect(() => throwIfAborted(controller.signal, 'launch')).toThrow(/launch was aborted/);
    expect(() => throwIfAborted(undefined, 'launch')).not.toThrow();
  });
});
