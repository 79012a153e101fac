import { describe, expect, it } from 'vitest';
import { callPattern } from './engine-calls.ts';

describe('callPattern', () => {
  it('replaces container ids so calls to different containers tally together', () => {
    const id = 'a'.repeat(64);
    expect(callPattern('GET', `/containers/${id}/json?`)).toBe('GET /containers/{id}/json');
    expect(callPattern('DELETE', `/containers/${id.slice(0, 12)}`)).toBe('DELETE /containers/{id}');
    expect(callPattern('GET', '/containers/json?')).toBe('GET /containers/json');
  });

  it('leaves names alone', () => {
    expect(callPattern('GET', '/containers/bench-1234abcd-tool/json')).toBe(
      'GET /containers/bench-1234abcd-tool/json',
    );
    expect(callPattern(undefined, '/_ping')).toBe('GET /_ping');
  });
});
