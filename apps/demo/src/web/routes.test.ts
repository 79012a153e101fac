import { describe, expect, it } from 'vitest';
import { safeNext } from './routes.ts';

const path = { publicOrigin: 'http://localhost:8000', routing: 'path', domain: 'docker.localhost' };
const hostname = {
  publicOrigin: 'http://docker.localhost:8000',
  routing: 'hostname',
  domain: 'docker.localhost',
};

describe('safeNext', () => {
  it("keeps the demo's own paths and URLs", () => {
    expect(safeNext('/dashboard', path)).toBe('/dashboard');
    expect(safeNext('http://localhost:8000/docker/a/', path)).toBe('http://localhost:8000/docker/a/');
  });

  it("keeps tool hosts in hostname mode, on the demo's scheme and port", () => {
    expect(safeNext('http://alice-live.docker.localhost:8000/x', hostname)).toBe(
      'http://alice-live.docker.localhost:8000/x',
    );
    expect(safeNext('http://alice-live.docker.localhost:9999/', hostname)).toBe('/');
    expect(safeNext('http://alice-live.docker.localhost:8000/', path)).toBe('/');
  });

  it('sends everything else home', () => {
    for (const next of [
      '//evil.example',
      '/\\evil.example',
      'https://evil.example/',
      'http://docker.localhost.evil:8000/',
      'javascript:alert(1)',
    ]) {
      expect(safeNext(next, hostname)).toBe('/');
    }
  });
});
