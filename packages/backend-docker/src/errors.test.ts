import { DdeError } from '@dde/core';
import { describe, expect, it } from 'vitest';
import {
  asLaunchFailure,
  engineMessage,
  isConflict,
  isNotFound,
  isNotModified,
  toDdeError,
} from './errors.ts';

const context = { what: 'inspect of container a', engine: 'unix:///var/run/docker.sock' };

/** An error shaped like docker-modem's for an HTTP error answer. */
function answer(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message}`), {
    statusCode,
    json: { message },
  });
}

describe('toDdeError', () => {
  it('maps 404 to NOT_FOUND and 409 to CONFLICT, keeping the engine message and the cause', () => {
    const missing = answer(404, 'No such container: a');
    const notFound = toDdeError(missing, context);
    expect(notFound.code).toBe('NOT_FOUND');
    expect(notFound.message).toContain('No such container: a');
    expect(notFound.cause).toBe(missing);
    expect(toDdeError(answer(409, 'name in use'), { ...context, field: 'name' })).toMatchObject({
      code: 'CONFLICT',
      field: 'name',
    });
  });

  it('maps other answers to ENGINE_ERROR', () => {
    expect(toDdeError(answer(500, 'boom'), context).code).toBe('ENGINE_ERROR');
    expect(toDdeError(answer(400, 'bad'), context).code).toBe('ENGINE_ERROR');
  });

  it('maps unreachable sockets and hosts to ENGINE_UNAVAILABLE with a fix', () => {
    for (const code of ['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENOTFOUND']) {
      const error = toDdeError(Object.assign(new Error('connect failed'), { code }), context);
      expect(error.code).toBe('ENGINE_UNAVAILABLE');
      expect(error.message).toContain('unix:///var/run/docker.sock');
      expect(error.message).toContain('DOCKER_HOST');
    }
    const denied = toDdeError(Object.assign(new Error('denied'), { code: 'EACCES' }), context);
    expect(denied.message).toContain('docker group');
  });

  it('reports an aborted operation as ABORTED or TIMEOUT, whatever the engine said', () => {
    const controller = new AbortController();
    controller.abort();
    expect(toDdeError(answer(500, 'x'), { ...context, signal: controller.signal }).code).toBe('ABORTED');
    const timedOut = AbortSignal.abort(new DOMException('late', 'TimeoutError'));
    expect(toDdeError(new Error('socket hang up'), { ...context, signal: timedOut }).code).toBe('TIMEOUT');
    const abortError = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(toDdeError(abortError, context).code).toBe('ABORTED');
  });

  it('passes dde errors through and wraps anything else as ENGINE_ERROR', () => {
    const original = new DdeError('CONFLICT', 'taken');
    expect(toDdeError(original, context)).toBe(original);
    expect(toDdeError('weird', context)).toMatchObject({ code: 'ENGINE_ERROR', cause: 'weird' });
  });
});

describe('asLaunchFailure', () => {
  const start = { what: 'start of container a', engine: 'unix:///var/run/docker.sock' };

  it('turns what the engine refused into LAUNCH_FAILED with its reason', () => {
    const refused = answer(400, 'exec: "/no/such/program": stat /no/such/program: no such file or directory');
    const error = asLaunchFailure(refused, start);
    expect(error).toMatchObject({ code: 'LAUNCH_FAILED', cause: refused });
    expect(error.message).toBe(`Start of container a failed: ${engineMessage(refused)}`);
    expect(asLaunchFailure(answer(404, 'gone'), start).code).toBe('LAUNCH_FAILED');
  });

  it('keeps aborts and an unreachable engine as they are', () => {
    expect(asLaunchFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), start).code).toBe(
      'ENGINE_UNAVAILABLE',
    );
    expect(asLaunchFailure(answer(500, 'x'), { ...start, signal: AbortSignal.abort() }).code).toBe('ABORTED');
  });
});

describe('status helpers', () => {
  it('read the status of engine answers', () => {
    expect(isNotFound(answer(404, ''))).toBe(true);
    expect(isConflict(answer(409, ''))).toBe(true);
    expect(isNotModified(answer(304, ''))).toBe(true);
    expect(isNotFound(new Error('x'))).toBe(false);
    expect(isNotFound(null)).toBe(false);
  });

  it('prefer the engine message over the modem text', () => {
    expect(engineMessage(answer(500, 'engine says'))).toBe('engine says');
    expect(engineMessage(Object.assign(new Error('m'), { json: Buffer.from('plain text\n') }))).toBe(
      'plain text',
    );
    expect(engineMessage(new Error('only message'))).toBe('only message');
  });
});
