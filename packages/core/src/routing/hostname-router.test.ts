import { describe, expect, it } from 'vitest';
import { hostnameRouter } from './hostname-router.ts';

describe('hostnameRouter', () => {
  const router = hostnameRouter({ suffix: 'docker.localhost' });

  it('maps <name>.<suffix> to the container with the path unchanged, any port', () => {
    expect(router.match('alice.docker.localhost', '/api?x=1')).toEqual({
      kind: 'match',
      name: 'alice',
      path: '/api?x=1',
      prefix: '',
    });
    expect(router.match('alice.docker.localhost:8000', '/')).toMatchObject({ name: 'alice', path: '/' });
    expect(router.match('ALICE.Docker.LOCALHOST:8000', '/')).toMatchObject({ name: 'alice' });
    expect(router.match('alice.docker.localhost.', '/x')).toMatchObject({ name: 'alice', path: '/x' });
  });

  it('leaves paths alone: no prefix, so nothing to escape from', () => {
    expect(router.match('a.docker.localhost', '/../x/%2F')).toMatchObject({
      kind: 'match',
      path: '/../x/%2F',
    });
  });

  it('passes through other hosts, the suffix itself, IPv6 literals and a missing Host', () => {
    for (const host of [
      undefined,
      '',
      'example.org',
      'docker.localhost',
      'docker.localhost:8000',
      'alice.docker.localhost.evil.org',
      'alicedocker.localhost',
      '[::1]:8000',
      'evil host with spaces',
      '127.0.0.1:8000',
    ]) {
      expect(router.match(host, '/'), String(host)).toBeUndefined();
    }
  });

  it('refuses malformed hosts under the suffix with 400', () => {
    for (const host of [
      '.docker.localhost',
      'a..docker.localhost',
      '..docker.localhost',
      'a_b.docker.localhost',
      'a b.docker.localhost',
      'a%2e.docker.localhost',
      'alice.docker.localhost:',
      'alice.docker.localhost:http',
      'alice.docker.localhost:123456',
      'alice.docker.localhost:99999',
      'user@alice.docker.localhost',
    ]) {
      expect(router.match(host, '/'), host).toMatchObject({ kind: 'reject', status: 400 });
    }
  });

  it('answers 404 for labels that cannot be container names, like a missing container', () => {
    for (const host of [
      'a.b.docker.localhost',
      '-a.docker.localhost',
      'a-.docker.localhost',
      `${'a'.repeat(64)}.docker.localhost`,
    ]) {
      expect(router.match(host, '/'), host).toMatchObject({ kind: 'reject', status: 404 });
    }
  });

  it('refuses request targets that are not absolute paths', () => {
    expect(router.match('a.docker.localhost', 'http://a.docker.localhost/')).toMatchObject({
      kind: 'reject',
      status: 400,
    });
    expect(router.match('a.docker.localhost', '*')).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('builds public URLs with its scheme and port', () => {
    expect(router.publicUrl('alice')).toBe('http://alice.docker.localhost/');
    expect(() => router.publicUrl('alice', { path: '../x' })).toThrow(/dot segments/);
    expect(router.publicUrl('alice', { path: '/x?y=1' })).toBe('http://alice.docker.localhost/x?y=1');
    expect(
      hostnameRouter({ suffix: 'docker.example.org', protocol: 'https', port: 8443 }).publicUrl('b', {
        path: 'i.json',
      }),
    ).toBe('https://b.docker.example.org:8443/i.json');
    expect(hostnameRouter({ suffix: 'd.org', protocol: 'https', port: 443 }).publicUrl('b')).toBe(
      'https://b.d.org/',
    );
    expect(() => router.publicUrl('a.b')).toThrow(/not a valid container name/);
  });

  it('routes its own public URLs back', () => {
    const url = new URL(
      hostnameRouter({ suffix: 'Docker.Localhost', port: 8000 }).publicUrl('round-trip', { path: 'p' }),
    );
    expect(router.match(url.host, url.pathname)).toMatchObject({ name: 'round-trip', path: '/p' });
  });

  it('validates its options', () => {
    expect(() => hostnameRouter({ suffix: '' })).toThrow(/suffix/);
    expect(() => hostnameRouter({ suffix: 'bad suffix' })).toThrow(/suffix/);
    expect(() => hostnameRouter({} as never)).toThrow(/suffix/);
    expect(() => hostnameRouter({ suffix: 'a.org', port: 0 })).toThrow(/port/);
    expect(() => hostnameRouter({ suffix: 'a.org', protocol: 'ftp' as never })).toThrow(/protocol/);
    expect(hostnameRouter({ suffix: '.a.org.' }).publicUrl('x')).toBe('http://x.a.org/');
  });

  it('says it does not rewrite paths', () => {
    expect(router.kind).toBe('hostname');
    expect(router.rewritesPaths).toBe(false);
  });
});
