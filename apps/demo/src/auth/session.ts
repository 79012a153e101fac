/**
 * Who is signed in: a username in a signed cookie. Read from raw `Cookie` headers, so the proxy's
 * authorization hook (which sees plain Node requests and WebSocket upgrades, not Koa contexts)
 * can use it too.
 */
import type { IncomingMessage } from 'node:http';
import type { Signer } from './signer.ts';

/** Name of the demo's session cookie. Tools never see it: the proxy drops it (see the app). */
export const SESSION_COOKIE = 'dde_demo_session';

const USERNAME = /^[a-z][a-z0-9-]{0,23}$/;
const PURPOSE = 'session';

/** Whether `name` is an acceptable username (it becomes part of container names). */
export function isValidUsername(name: string): boolean {
  return USERNAME.test(name) && !name.endsWith('-');
}

/** Options of {@link Sessions}. */
export interface SessionOptions {
  /** Domain attribute of the cookie, so that tool hosts under it see it too (hostname routing). */
  readonly domain?: string;
  /** Mark the cookie Secure (the demo is served over HTTPS). */
  readonly secure?: boolean;
}

/** Issues and reads session cookies. */
export class Sessions {
  readonly #signer: Signer;
  readonly #options: SessionOptions;

  /** @param signer - signs the cookie value; @param options - cookie attributes. */
  constructor(signer: Signer, options: SessionOptions = {}) {
    this.#signer = signer;
    this.#options = options;
  }

  /** The `Set-Cookie` value that signs `user` in. */
  issue(user: string): string {
    const value = `${user}.${this.#signer.sign(PURPOSE, user)}`;
    return this.#cookie(value, 'Max-Age=43200');
  }

  /** The `Set-Cookie` value that signs out. */
  clear(): string {
    return this.#cookie('', 'Max-Age=0');
  }

  /** The signed-in user according to a `Cookie` header, or undefined. */
  userFrom(cookieHeader: string | undefined): string | undefined {
    const value = readCookie(cookieHeader, SESSION_COOKIE);
    if (!value) return undefined;
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const user = value.slice(0, dot);
    return isValidUsername(user) && this.#signer.verify(PURPOSE, user, value.slice(dot + 1))
      ? user
      : undefined;
  }

  #cookie(value: string, age: string): string {
    const parts = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', age];
    if (this.#options.domain) parts.push(`Domain=${this.#options.domain}`);
    if (this.#options.secure) parts.push('Secure');
    return parts.join('; ');
  }
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Takes one cookie out of a request before it is forwarded: from `req.headers` and from
 * `req.rawHeaders`, which is what the proxy copies upstream.
 */
export function dropCookie(req: IncomingMessage, name: string): void {
  const cookie = withoutCookie(req.headers.cookie, name);
  if (cookie === undefined) delete req.headers.cookie;
  else req.headers.cookie = cookie;
  const raw = req.rawHeaders;
  for (let index = raw.length - 2; index >= 0; index -= 2) {
    if ((raw[index] as string).toLowerCase() !== 'cookie') continue;
    const kept = withoutCookie(raw[index + 1], name);
    if (kept === undefined) raw.splice(index, 2);
    else raw[index + 1] = kept;
  }
}

/** A `Cookie` header without one cookie (undefined when nothing is left). */
export function withoutCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return header;
  const kept = header
    .split(';')
    .filter((part) => {
      const eq = part.indexOf('=');
      return (eq === -1 ? part : part.slice(0, eq)).trim() !== name;
    })
    .map((part) => part.trim())
    .filter((part) => part !== '');
  return kept.length > 0 ? kept.join('; ') : undefined;
}
