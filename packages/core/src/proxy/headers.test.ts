import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { equalsIgnoreCase } from '../upstream/characters.ts';
import {
  clientResponseHeaders,
  connectionTokens,
  forwardedElement,
  isHopByHop,
  knownAuthorities,
  requestHost,
  rewriteCookiePath,
  rewriteLocation,
  upstreamRequestHeaders,
} from './headers.ts';

/** A parsed request as Node hands it over: raw headers, a socket. */
function incoming(rawHeaders: string[], remoteAddress = '203.0.113.9'): IncomingMessage {
  return { rawHeaders, socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe('header names', () => {
  it('compares ignoring ASCII case without mistaking other characters for letters', () => {
    expect(equalsIgnoreCase('Content-Length', 'content-length')).toBe(true);
    expect(equalsIgnoreCase('CONTENT-LENGTH', 'content-length')).toBe(true);
    expect(equalsIgnoreCase('content-lengthx', 'content-length')).toBe(false);
    expect(equalsIgnoreCase('content_length', 'content-length')).toBe(false);
    expect(equalsIgnoreCase('content\rlength', 'content-length')).toBe(false);
  });

  it('finds the first Host whatever its case', () => {
    expect(requestHost(incoming(['Accept', '*/*', 'HOST', 'a.example', 'host', 'b.example']))).toBe(
      'a.example',
    );
    expect(requestHost(incoming(['Accept', '*/*']))).toBeUndefined();
  });
});

describe('upstream request headers', () => {
  it('reads everything from the raw headers in one pass, whatever their case', () => {
    const head = upstreamRequestHeaders(
      incoming([
        'Host',
        'public.example',
        'Connection',
        'keep-alive, X-Drop',
        'X-Drop',
        'secret',
        'X-Forwarded-For',
        '198.51.100.1',
        'x-forwarded-for',
        '198.51.100.2',
        'Forwarded',
        'for=198.51.100.1',
        'Expect',
        '100-continue',
        'Content-Length',
        '3',
        'Cookie',
        'a=1',
        'X-Forwarded-Prefix',
        '/spoofed',
      ]),
      '/docker/a',
      'public.example',
      false,
      false,
    );
    expect(head.body).toBe('length');
    expect(head.headers).toEqual([
      'Content-Length',
      '3',
      'Cookie',
      'a=1',
      'host',
      'public.example',
      'x-forwarded-for',
      '203.0.113.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'public.example',
      'x-forwarded-prefix',
      '/docker/a',
      'forwarded',
      'for=203.0.113.9;host=public.example;proto=http',
    ]);
    // Behind a trusted proxy, its chain goes on.
    const trusted = upstreamRequestHeaders(
      incoming([
        'X-Forwarded-For',
        '198.51.100.1',
        'x-forwarded-for',
        '198.51.100.2',
        'Forwarded',
        'for=198.51.100.1',
      ]),
      '',
      undefined,
      true,
      false,
    );
    expect(trusted.headers).toEqual([
      'x-forwarded-for',
      '198.51.100.1, 198.51.100.2, 203.0.113.9',
      'x-forwarded-proto',
      'http',
      'forwarded',
      'for=198.51.100.1, for=203.0.113.9;proto=http',
    ]);
  });

  it('drops underscore spellings of the forwarding headers, trusted or not', () => {
    for (const trust of [false, true]) {
      const names = upstreamRequestHeaders(
        incoming([
          'X_Forwarded_For',
          '6.6.6.6',
          'x_forwarded_proto',
          'https',
          'X-Forwarded_Host',
          'evil',
          'X_Forwarded_Prefix',
          '/x',
          'Custom_Header',
          'kept',
        ]),
        '',
        undefined,
        trust,
        false,
      ).headers.filter((_, index) => index % 2 === 0);
      expect(names).toEqual(['Custom_Header', 'x-forwarded-for', 'x-forwarded-proto', 'forwarded']);
      const more = upstreamRequestHeaders(
        incoming(['X_Real_IP', '6.6.6.6', 'X_Forwarded_Port', '1']),
        '',
        undefined,
        trust,
        false,
      );
      expect(more.headers.filter((_, index) => index % 2 === 0)).toEqual([
        'x-forwarded-for',
        'x-forwarded-proto',
        'forwarded',
      ]);
    }
  });

  it('tells chunked bodies from none, and keeps the handshake headers of upgrades', () => {
    expect(
      upstreamRequestHeaders(incoming(['Transfer-Encoding', 'chunked']), '', undefined, false, false).body,
    ).toBe('chunked');
    expect(upstreamRequestHeaders(incoming(['Content-Length', '0']), '', undefined, false, false).body).toBe(
      'none',
    );
    const upgrade = upstreamRequestHeaders(
      incoming(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k']),
      '',
      'h',
      false,
      true,
    );
    expect(upgrade.headers.slice(0, 8)).toEqual([
      'Upgrade',
      'websocket',
      'Sec-WebSocket-Key',
      'k',
      'host',
      'h',
      'connection',
      'upgrade',
    ]);
  });
});

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
      'Connection',
      'KEEP-ALIVE',
      'Transfer-Encoding',
      'TE',
      'Upgrade',
      'Proxy-Authorization',
      'X-Custom',
    ]) {
      expect(isHopByHop(name, listed), name).toBe(true);
    }
    for (const name of [
      'cookie',
      'content-length',
      'x-forwarded-for',
      'authorization',
      'Proxy',
      'proxy-',
      'tea',
    ]) {
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
  const authorities = knownAuthorities(['public.example:8000'], '10.0.0.5', 80, 'http');

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
    ['http://public.example:8000', '/docker/a/'],
    // To HTTPS on the public host: kept absolute (a relative one would loop), with the prefix.
    ['https://public.example:8000/x', 'https://public.example:8000/docker/a/x'],
    ['https://public.example:8000/docker/a/x', 'https://public.example:8000/docker/a/x'],
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

describe('knownAuthorities', () => {
  it("lists the upstream address, and the public host without its scheme's default port", () => {
    expect(knownAuthorities(['Public.Example'], '10.0.0.5', 8080, 'http')).toEqual({
      internal: ['10.0.0.5:8080'],
      public: ['public.example'],
      scheme: 'http',
    });
    expect(knownAuthorities(['h:443'], 'fd00::1', 80, 'https')).toEqual({
      internal: ['[fd00::1]:80', '[fd00::1]'],
      public: ['h'],
      scheme: 'https',
    });
    expect(knownAuthorities(['h:443'], 'fd00::1', 80, 'http').public).toEqual(['h:443']);
  });

  it('keeps the default ports apart per scheme when rewriting', () => {
    const https = knownAuthorities(['public.example'], '10.0.0.5', 8080, 'https');
    expect(rewriteLocation('https://public.example:443/x', '/docker/a', https)).toBe('/docker/a/x');
    expect(rewriteLocation('//public.example/x', '/docker/a', https)).toBe('/docker/a/x');
    expect(rewriteLocation('http://public.example/x', '/docker/a', https)).toBe(
      'http://public.example/docker/a/x',
    );
    expect(rewriteLocation('http://10.0.0.5:8080/x', '/docker/a', https)).toBe('/docker/a/x');
    // Behind a trusted proxy the tool may build URLs from X-Forwarded-Host instead of Host.
    const behind = knownAuthorities(['dde-internal:3000', 'public.example'], '10.0.0.5', 8080, 'https');
    expect(rewriteLocation('https://public.example/login', '/docker/a', behind)).toBe('/docker/a/login');
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
    // Browsers use the last Path: every one goes under the prefix.
    ['sid=1; Path=/x; Path=/; HttpOnly', 'sid=1; Path=/docker/a/x; Path=/docker/a; HttpOnly'],
  ])('%s → %s', (from, to) => {
    expect(rewriteCookiePath(from, '/docker/a')).toBe(to);
  });
});
