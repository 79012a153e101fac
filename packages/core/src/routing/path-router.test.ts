import { describe, expect, it } from 'vitest';
import { isDdeError } from '../errors.ts';
import { pathRouter } from './path-router.ts';

describe('pathRouter', () => {
  const router = pathRouter({ prefix: '/docker' });

  it('maps /docker/<name>/<rest> to the container with the rest as upstream path, query intact', () => {
    expect(router.match('example.org', '/docker/alice-viewer/api/data?x=1&y=%20z')).toEqual({
      kind: 'match',
      name: 'alice-viewer',
      path: '/api/data?x=1&y=%20z',
      prefix: '/docker/alice-viewer',
    });
    expect(router.match(undefined, '/docker/a/')).toEqual({
      kind: 'match',
      name: 'a',
      path: '/',
      prefix: '/docker/a',
    });
    expect(router.match(undefined, '/docker/a/?q')).toMatchObject({ path: '/?q' });
  });

  it('ignores the Host header', () => {
    expect(router.match('anything:1234', '/docker/a/x')).toMatchObject({ name: 'a', path: '/x' });
  });

  it('redirects /docker/<name> to /docker/<name>/, keeping the query', () => {
    expect(router.match(undefined, '/docker/alice')).toEqual({
      kind: 'redirect',
      location: '/docker/alice/',
    });
    expect(router.match(undefined, '/docker/alice?a=1&b')).toEqual({
      kind: 'redirect',
      location: '/docker/alice/?a=1&b',
    });
  });

  it('passes through paths outside the prefix and the prefix itself', () => {
    for (const url of [
      '/',
      '/docker',
      '/dockers/a/',
      '/docker?x',
      '/docker/',
      '/docker/?x',
      '/api/docker/a/',
      'http://h/docker/a/',
    ]) {
      expect(router.match(undefined, url), url).toBeUndefined();
    }
  });

  it('answers 404 (like a missing container) for segments that cannot be container names', () => {
    for (const url of [
      '/docker/Alice/',
      '/docker/-a/',
      '/docker/a_b/',
      `/docker/${'a'.repeat(64)}/`,
      '/docker//x',
      '/docker/%61/',
    ]) {
      expect(router.match(undefined, url), url).toMatchObject({ kind: 'reject', status: 404 });
    }
  });

  it.each([
    ['/docker/a/../b/', 'dot segment'],
    ['/docker/a/..', 'trailing dot-dot'],
    ['/docker/../b/x', 'dot-dot in the name position'],
    ['/docker/a/./x', 'single dot'],
    ['/docker/a/%2e%2e/b/', 'encoded dot-dot'],
    ['/docker/a/%2E%2e/b/', 'mixed-case encoded dot-dot'],
    ['/docker/a/.%2e/b/', 'half-encoded dot-dot'],
    ['/docker/a/%2e/x', 'encoded single dot'],
    ['/docker/a%2F..%2Fb/', 'encoded slash in the name'],
    ['/docker/a/x%2Fy', 'encoded slash in the rest'],
    ['/docker/a/x%2fy', 'lowercase encoded slash'],
    ['/docker/a/x\\..\\b', 'backslashes'],
    ['/docker/a\\b/', 'backslash in the name'],
    ['/docker/a/x%5C..%5Cb', 'encoded backslash'],
    ['/docker/a/x%00y', 'encoded NUL'],
  ])('refuses %s (%s) with 400', (url) => {
    expect(router.match(undefined, url)).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('allows dots that are not segments, and dot segments in the query', () => {
    expect(router.match(undefined, '/docker/a/file.tar.gz')).toMatchObject({
      kind: 'match',
      path: '/file.tar.gz',
    });
    expect(router.match(undefined, '/docker/a/.well-known/x')).toMatchObject({
      kind: 'match',
      path: '/.well-known/x',
    });
    expect(router.match(undefined, '/docker/a/...')).toMatchObject({ kind: 'match', path: '/...' });
    expect(router.match(undefined, '/docker/a/x?p=../../etc')).toMatchObject({
      kind: 'match',
      path: '/x?p=../../etc',
    });
    expect(router.match(undefined, '/docker/a/%41%2e')).toMatchObject({ kind: 'match', path: '/%41%2e' });
  });

  it('forwards encoded slashes when allowed', () => {
    const lenient = pathRouter({ allowEncodedSlashes: true });
    expect(lenient.match(undefined, '/docker/a/x%2Fy')).toMatchObject({
      kind: 'match',
      name: 'a',
      path: '/x%2Fy',
    });
    expect(lenient.match(undefined, '/docker/a%2Fb/')).toMatchObject({ kind: 'reject', status: 404 });
    expect(lenient.match(undefined, '/docker/a/%2e%2e%2Fb')).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('supports other prefixes, nested prefixes and the root', () => {
    expect(pathRouter({ prefix: '/apps/tools' }).match(undefined, '/apps/tools/a/x')).toMatchObject({
      name: 'a',
      path: '/x',
      prefix: '/apps/tools/a',
    });
    const root = pathRouter({ prefix: '/' });
    expect(root.match(undefined, '/a/x')).toMatchObject({ name: 'a', path: '/x', prefix: '/a' });
    expect(root.match(undefined, '/')).toBeUndefined();
    expect(root.publicUrl('a')).toBe('/a/');
  });

  it('refuses bad prefixes with INVALID_OPTION', () => {
    for (const prefix of ['docker', '/docker/', '/do cker', '/a/../b', '/x?y', '/x#y']) {
      let error: unknown;
      try {
        pathRouter({ prefix });
      } catch (caught) {
        error = caught;
      }
      expect(isDdeError(error) && error.code === 'INVALID_OPTION' && error.field === 'prefix', prefix).toBe(
        true,
      );
    }
  });

  it('builds public URLs, relative or absolute', () => {
    expect(router.publicUrl('alice')).toBe('/docker/alice/');
    expect(router.publicUrl('alice', { path: 'input.json' })).toBe('/docker/alice/input.json');
    expect(router.publicUrl('alice', { path: '/api?x=1' })).toBe('/docker/alice/api?x=1');
    expect(router.publicUrl('alice', { origin: 'https://example.org:8443/' })).toBe(
      'https://example.org:8443/docker/alice/',
    );
    expect(pathRouter({ origin: 'http://localhost:8000' }).publicUrl('b')).toBe(
      'http://localhost:8000/docker/b/',
    );
    expect(() => router.publicUrl('Not valid')).toThrow(/not a valid container name/);
    expect(() => router.publicUrl('a', { origin: 'ftp://x' })).toThrow(/origin/);
    // Links built from user input cannot point into another container.
    expect(() => router.publicUrl('alice', { path: '../bob/secret' })).toThrow(/path dot segments/);
    expect(() => router.publicUrl('alice', { path: 'x/%2e%2E/y' })).toThrow(/path dot segments/);
    expect(() => router.publicUrl('alice', { path: 'a\\b' })).toThrow(/backslashes/);
    expect(router.publicUrl('alice', { path: 'a?next=../x#..' })).toBe('/docker/alice/a?next=../x#..');
    expect(() => pathRouter({ origin: 'https://x/path' })).toThrow(/origin/);
  });

  it('routes its own public URLs back to the container', () => {
    const url = router.publicUrl('round-trip', { path: 'a/b?c=d' });
    expect(router.match(undefined, url)).toMatchObject({
      kind: 'match',
      name: 'round-trip',
      path: '/a/b?c=d',
    });
  });

  it('says it rewrites paths', () => {
    expect(router.kind).toBe('path');
    expect(router.rewritesPaths).toBe(true);
  });
});
