import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  dropCookie,
  isValidUsername,
  readCookie,
  SESSION_COOKIE,
  Sessions,
  withoutCookie,
} from './session.ts';
import { Signer } from './signer.ts';

const sessions = new Sessions(new Signer(randomBytes(32)), { domain: 'docker.localhost' });

function cookieHeaderOf(setCookie: string): string {
  return setCookie.split(';')[0] as string;
}

describe('Sessions', () => {
  it('reads back the user it signed in', () => {
    const setCookie = sessions.issue('alice');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).toContain('Domain=docker.localhost');
    expect(sessions.userFrom(`theme=dark; ${cookieHeaderOf(setCookie)}`)).toBe('alice');
  });

  it('refuses a tampered or foreign cookie', () => {
    const value = cookieHeaderOf(sessions.issue('alice')).slice(SESSION_COOKIE.length + 1);
    const signature = value.slice(value.indexOf('.') + 1);
    expect(sessions.userFrom(`${SESSION_COOKIE}=bob.${signature}`)).toBeUndefined();
    const other = new Sessions(new Signer(randomBytes(32)));
    expect(other.userFrom(`${SESSION_COOKIE}=${value}`)).toBeUndefined();
    expect(sessions.userFrom(`${SESSION_COOKIE}=alice`)).toBeUndefined();
    expect(sessions.userFrom(undefined)).toBeUndefined();
  });

  it('signs out with an expired cookie', () => {
    expect(sessions.clear()).toMatch(/^dde_demo_session=; .*Max-Age=0/);
  });
});

describe('usernames', () => {
  it('accepts short lowercase names usable in container names', () => {
    expect(isValidUsername('alice')).toBe(true);
    expect(isValidUsername('bob-2')).toBe(true);
    for (const bad of ['', 'Alice', '1bob', 'bob-', 'a'.repeat(25), 'eve.x', 'x y']) {
      expect(isValidUsername(bad)).toBe(false);
    }
  });
});

describe('cookie headers', () => {
  it('reads one cookie and drops one, leaving the others alone', () => {
    const header = 'live_visits=3; dde_demo_session=alice.sig; theme=dark';
    expect(readCookie(header, 'live_visits')).toBe('3');
    expect(readCookie(header, 'missing')).toBeUndefined();
    expect(withoutCookie(header, SESSION_COOKIE)).toBe('live_visits=3; theme=dark');
    expect(withoutCookie(`${SESSION_COOKIE}=x`, SESSION_COOKIE)).toBeUndefined();
  });
});

describe('dropCookie', () => {
  it('takes the cookie out of both the parsed and the raw headers', () => {
    const req = {
      headers: { cookie: 'a=1; dde_demo_session=x.y', host: 'h' },
      rawHeaders: ['Host', 'h', 'Cookie', 'a=1; dde_demo_session=x.y', 'cookie', 'dde_demo_session=x.y'],
    } as unknown as IncomingMessage;
    dropCookie(req, SESSION_COOKIE);
    expect(req.headers.cookie).toBe('a=1');
    expect(req.rawHeaders).toEqual(['Host', 'h', 'Cookie', 'a=1']);
  });
});
