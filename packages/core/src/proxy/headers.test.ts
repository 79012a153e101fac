import { describe, expect, it } from 'vitest';
import {
  clientResponseHeaders,
  connectionTokens,
  forwardedElement,
  isHopByHop,
  rewriteCookiePath,
  rewriteLocation,
  upstreamAuthorities,
} from './headers.ts';

describe('hop-by-hop headers', () => {
  it('knows the fixed list, any proxy-* header, and what Connection lists', () => {
    const listed = connectionTokens('Keep-Alive, X-Custom , close,x-other');
    expect(listed).toEqual(new Set(['x-custom', 'x-other']));
    for (const name of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
      'proxy-x',
      'x-custom',
    ]) {
      expect(isHopByHop(name, listed), name).toBe(true);
    }
    for (const name of ['cookie', 'content-length', 'x-forwarded-for', 'authorization']) {
      expect(isHopByHop(name, listed), name).toBe(false);
    }
    expect(connectionTokens(undefined)).toBeUndefined();
    expect(connectionTokens('close')).toBeUndefined();
  });

  it('removes them from responses and keeps repeated headers', () => {
    const out = clientResponseHeaders(
      [
        'connection',
        'keep-alive, x-secret',
        'x-secret',
        '1',
        'keep-alive',
        'timeout=5',
        'set-cookie',
        'a=1',
        'transfer-encoding',
        'chunked',
        'proxy-authenticate',
        'Basic',
        'set-cookie',
        'b=2',
        'content-type',
        'text/plain',
      ],
      'keep-alive, x-secret',
      undefined,
    );
    expect(out).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain']);
  });
});

describe('Forwarded', () => {
  it('quotes IPv6 nodes and hosts with ports, as RFC 7239 asks', () => {
    expect(forwardedElement('203.0.113.9', 'example.org', 'https')).toBe(
      'for=203.0.113.9;host=example.org;proto=https',
    );
    expect(forwardedElement('::1', 'example.org:8000', 'http')).toBe(
      'for="[::1]";host="example.org:8000";proto=http',
    );
    expect(forwardedElement(undefined, undefined, 'http')).toBe('for=unknown;proto=http');
  });
});

describe('rewriteLocation', () => {
  const prefix = '/docker/a';
  const authorities = upstreamAuthorities('public.example:8000', '10.0.0.5', 80);

  it.each([
    ['/login', '/docker/a/login'],
    ['/', '/docker/a/'],
    ['/login?next=/x#frag', '/docker/a/login?next=/x#frag'],
    ['/docker/a', '/docker/a'],
    ['/docker/a/x', '/docker/a/x'],
    ['/docker/a?x', '/docker/a?x'],
    ['/docker/ab/x', '/docker/a/docker/ab/x'],
    ['http://10.0.0.5/x', '/docker/a/x'],
    ['http://10.0.0.5:80/x?y', '/docker/a/x?y'],
    ['HTTP://PUBLIC.EXAMPLE:8000/y', '/docker/a/y'],
    ['https://public.example:8000', '/docker/a/'],
    ['http://public.example:8000?q', '/docker/a/?q'],
    ['//10.0.0.5/z', '/docker/a/z'],
    ['http://public.example:8000/docker/a/ok', '/docker/a/ok'],
    ['https://other.example/x', 'https://other.example/x'],
    ['//other.example/x', '//other.example/x'],
    ['relative', 'relative'],
    ['../up', '../up'],
    ['mailto:x@example.org', 'mailto:x@example.org'],
  ])('%s → %s', (from, to) => {
    expect(rewriteLocation(from, prefix, authorities)).toBe(to);
  });

  it('does nothing without a prefix', () => {
    expect(rewriteLocation('/login', '', authorities)).toBe('/login');
  });
});

describe('upstreamAuthorities', () => {
  it('lists the upstream address and the Host sent, with and without default ports', () => {
    expect(upstreamAuthorities('Public.Example', '10.0.0.5', 8080)).toEqual([
      '10.0.0.5:8080',
      'public.example',
      'public.example:80',
      'public.example:443',
    ]);
    expect(upstreamAuthorities('h:80', 'fd00::1', 80)).toEqual(['[fd00::1]:80', '[fd00::1]', 'h:80', 'h']);
  });
});

describe('rewriteCookiePath', () => {
  it.each([
    ['sid=1; Path=/', 'sid=1; Path=/docker/a'],
    ['sid=1; path=/app; HttpOnly', 'sid=1; path=/docker/a/app; HttpOnly'],
    ['sid=1;Path = /x ;Secure', 'sid=1;Path = /docker/a/x;Secure'],
    ['sid=1; Path=/docker/a/x', 'sid=1; Path=/docker/a/x'],
    ['sid=1; HttpOnly', 'sid=1; HttpOnly'],
    ['sid=1; Path=relative', 'sid=1; Path=relative'],
    ['path=/value-not-attribute', 'path=/value-not-attribute'],
  ])('%s → %s', (from, to) => {
    expect(rewriteCookiePath(from, '/docker/a')).toBe(to);
  });
});
