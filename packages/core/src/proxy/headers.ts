import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { equalsIgnoreCase, isToken } from '../upstream/characters.ts';
import { codingsBesidesChunked } from '../upstream/transfer-coding.ts';

// Header names are compared without lowercasing them: the checks below run for every header
// of every proxied request and response, and a fresh lowercase string per header (then hashed
// for a Set lookup) was a measurable part of the proxy's CPU.

/** `name` is not the header asked about. */
const OTHER = 0;
/** `name` is the header, spelled with dashes. */
const DASHED = 1;
/**
 * `name` is the header with underscores for some dashes (`X_Forwarded_For`): the same header to
 * CGI and WSGI servers, so a client could slip a value past the one the proxy sets.
 */
const UNDERSCORED = 2;

/** How `name` spells `lower` (lowercase letters and dashes), ignoring case. */
function spelling(name: string, lower: string): typeof OTHER | typeof DASHED | typeof UNDERSCORED {
  if (name.length !== lower.length) return OTHER;
  let underscored = false;
  for (let index = 0; index < lower.length; index++) {
    const code = name.charCodeAt(index);
    const expected = lower.charCodeAt(index);
    if (expected === 45 /* - */ && code === 95 /* _ */) underscored = true;
    else if ((code | 0x20) !== expected) return OTHER;
  }
  return underscored ? UNDERSCORED : DASHED;
}

/** Whether `name` starts with `proxy-`, ignoring case. */
function isProxyHeader(name: string): boolean {
  return (
    name.length > 6 &&
    (name.charCodeAt(0) | 0x20) === 112 &&
    (name.charCodeAt(1) | 0x20) === 114 &&
    (name.charCodeAt(2) | 0x20) === 111 &&
    (name.charCodeAt(3) | 0x20) === 120 &&
    (name.charCodeAt(4) | 0x20) === 121 &&
    name.charCodeAt(5) === 45
  );
}

/** The tokens of a `Connection` header other than `close` and `keep-alive`: headers it makes hop-by-hop. */
export function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // The usual values list no header: answer them without splitting.
  if (equalsIgnoreCase(value, 'keep-alive') || equalsIgnoreCase(value, 'close')) return undefined;
  let tokens: Set<string> | undefined;
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

/**
 * Whether a header must not be forwarded (either way): hop-by-hop headers (RFC 9110 §7.6.1),
 * any `proxy-*` header, HTTP/2 pseudo-headers, and those the `Connection` header `listed`.
 */
export function isHopByHop(name: string, listed: Set<string> | undefined): boolean {
  switch (name.length) {
    case 2:
      if (equalsIgnoreCase(name, 'te')) return true;
      break;
    case 7:
      if (equalsIgnoreCase(name, 'trailer') || equalsIgnoreCase(name, 'upgrade')) return true;
      break;
    case 10:
      if (equalsIgnoreCase(name, 'connection') || equalsIgnoreCase(name, 'keep-alive')) return true;
      break;
    case 17:
      if (equalsIgnoreCase(name, 'transfer-encoding')) return true;
      break;
  }
  return isProxyHeader(name) || name.charCodeAt(0) === 58 /* : */ || listed?.has(name.toLowerCase()) === true;
}

/** The first `Host` header of a request, read from its raw headers (`req.headers` is built lazily). */
export function requestHost(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 4 && equalsIgnoreCase(name, 'host')) return raw[index + 1];
  }
  return undefined;
}

/** The headers to send upstream, and how the request's body is framed. */
export interface UpstreamRequestHead {
  /** Flat `[name, value, ...]`. */
  readonly headers: string[];
  /** `none`; `length` (a `Content-Length` above 0, forwarded as is); `chunked` (re-chunked upstream). */
  readonly body: 'none' | 'length' | 'chunked';
  /** The body's `Content-Length` when `body` is `length` (Node checked it), else -1. */
  readonly bodyLength: number;
  /** Transfer codings the body carries besides `chunked` (e.g. `gzip`), to send on with it. */
  readonly transferCodings?: string | undefined;
  /** The client's scheme as sent in `X-Forwarded-Proto`: `http` or `https` (or what a trusted proxy said). */
  readonly proto: string;
  /** The host sent as `X-Forwarded-Host` (the client's `Host`, or what a trusted proxy said). */
  readonly publicHost: string | undefined;
  /**
   * The request carries more than one `Host` (RFC 9112 §3.2: answer 400 rather than forward
   * it; another hop may have picked the other one).
   */
  readonly severalHosts: boolean;
}

/**
 * The headers to send upstream, as a flat `[name, value, ...]` array: the client's headers
 * minus hop-by-hop ones (and those its `Connection` header lists), with `Host` as configured,
 * `X-Forwarded-For`, `Forwarded`, `X-Forwarded-Proto`, `X-Forwarded-Host` and (under a path
 * `prefix`) `X-Forwarded-Prefix` set. Cookies pass unchanged. `host` is the `Host` to send.
 * Unless `trustForwarded` (a trusted proxy sits in front: its `X-Forwarded-For` and
 * `Forwarded` are appended to, its `X-Forwarded-Proto`/`-Host` kept), the client is the first
 * hop: what it sent in these headers, `X-Forwarded-Port` and `X-Real-IP` is dropped, as are
 * underscore spellings (`X_Forwarded_For`) always. `upgrade` keeps `Upgrade` and sends
 * `Connection: upgrade` (WebSocket handshakes).
 * One pass over `req.rawHeaders`: `req.headers` is never built.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  prefix: string,
  host: string | undefined,
  trustForwarded: boolean,
  upgrade: boolean,
): UpstreamRequestHead {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let clientHost: string | undefined;
  let connection: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwarded: string | undefined;
  let severalHosts = false;
  let body: UpstreamRequestHead['body'] = 'none';
  let bodyLength = -1;
  let transferEncoding: string | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    const value = raw[index + 1] as string;
    // The headers the proxy replaces or reads, found by length first.
    switch (name.length) {
      case 4:
        if (equalsIgnoreCase(name, 'host')) {
          if (clientHost === undefined) clientHost = value;
          else severalHosts = true;
          continue;
        }
        break;
      case 6:
        // Node answers `100-continue` itself, before the body arrives.
        if (equalsIgnoreCase(name, 'expect')) continue;
        break;
      case 9: {
        if (equalsIgnoreCase(name, 'forwarded')) {
          if (trustForwarded) forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
          continue;
        }
        const realIp = spelling(name, 'x-real-ip');
        if (realIp === UNDERSCORED || (realIp === DASHED && !trustForwarded)) continue;
        break;
      }
      case 10:
        if (equalsIgnoreCase(name, 'connection')) {
          connection = connection === undefined ? value : `${connection}, ${value}`;
          continue;
        }
        break;
      case 14:
        if (value !== '0' && equalsIgnoreCase(name, 'content-length')) {
          body = 'length';
          bodyLength = Number(value);
        }
        break;
      case 15: {
        const kind = spelling(name, 'x-forwarded-for');
        if (kind === OTHER) break;
        if (kind === DASHED && trustForwarded) {
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        }
        continue;
      }
      case 16: {
        const kind = spelling(name, 'x-forwarded-host');
        if (kind !== OTHER) {
          if (kind === DASHED) forwardedHost ??= value;
          continue;
        }
        const port = spelling(name, 'x-forwarded-port');
        if (port === UNDERSCORED || (port === DASHED && !trustForwarded)) continue;
        break;
      }
      case 17: {
        const kind = spelling(name, 'x-forwarded-proto');
        if (kind !== OTHER) {
          if (kind === DASHED) forwardedProto ??= value;
          continue;
        }
        if (equalsIgnoreCase(name, 'transfer-encoding')) {
          body = 'chunked';
          transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
          continue;
        }
        break;
      }
      case 18:
        if (spelling(name, 'x-forwarded-prefix') !== OTHER) continue;
        break;
    }
    if (isHopByHop(name, undefined) && !(upgrade && equalsIgnoreCase(name, 'upgrade'))) continue;
    out.push(name, value);
  }
  const listed = connectionTokens(connection);
  if (listed !== undefined) {
    if (upgrade) listed.delete('upgrade'); // listed by every handshake, and kept for it
    // The body goes on with the framing it came with: a client "listing" Content-Length must
    // not get it dropped, or its body would be read upstream as the next request.
    listed.delete('content-length');
    removeListed(out, listed);
  }
  if (host !== undefined) out.push('host', host);
  if (upgrade) out.push('connection', 'upgrade');

  const encrypted = (req.socket as TLSSocket).encrypted === true;
  const clientIp = req.socket.remoteAddress;
  const proto = (trustForwarded && firstValue(forwardedProto)) || (encrypted ? 'https' : 'http');
  const publicHost = (trustForwarded && firstValue(forwardedHost)) || clientHost;
  if (clientIp !== undefined) {
    out.push('x-forwarded-for', forwardedFor ? `${forwardedFor}, ${clientIp}` : clientIp);
  } else if (forwardedFor) out.push('x-forwarded-for', forwardedFor);
  out.push('x-forwarded-proto', proto);
  if (publicHost) out.push('x-forwarded-host', publicHost);
  if (prefix !== '') out.push('x-forwarded-prefix', prefix);
  const element = forwardedElement(clientIp, clientHost, encrypted ? 'https' : 'http');
  out.push('forwarded', forwarded ? `${forwarded}, ${element}` : element);
  const transferCodings =
    transferEncoding === undefined ? undefined : codingsBesidesChunked(transferEncoding);
  return { headers: out, body, bodyLength, transferCodings, proto, publicHost, severalHosts };
}

/** Drops from a flat header list the names a `Connection` header listed (rare: kept off the main loop). */
function removeListed(headers: string[], listed: Set<string>): void {
  let kept = 0;
  for (let index = 0; index < headers.length; index += 2) {
    const name = headers[index] as string;
    if (listed.has(name.toLowerCase())) continue;
    headers[kept++] = name;
    headers[kept++] = headers[index + 1] as string;
  }
  headers.length = kept;
}

/** One `Forwarded` element (RFC 7239): `for=...;host=...;proto=...`, quoted where needed. */
export function forwardedElement(
  clientIp: string | undefined,
  host: string | undefined,
  proto: string,
): string {
  let element = `for=${clientIp === undefined ? 'unknown' : forwardedNode(clientIp)}`;
  if (host) element += `;host=${quoteIfNeeded(host)}`;
  return `${element};proto=${proto}`;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

// Clients mostly send the same Host: remember the last one quoted.
let lastQuoted = { value: '', quoted: '' };

function quoteIfNeeded(value: string): string {
  if (value === lastQuoted.value) return lastQuoted.quoted;
  const quoted = isToken(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
  lastQuoted = { value, quoted };
  return quoted;
}

function firstValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim() || undefined;
}

/** How response headers are rewritten under a path prefix. */
export interface ResponseRewrite {
  /** The container's public path prefix, e.g. `/docker/alice-viewer`. */
  readonly prefix: string;
  /** Rewrite `Location` (and `Content-Location`). */
  readonly location: boolean;
  /** Rewrite `Path=` of `Set-Cookie`. */
  readonly cookiePath: boolean;
  /** The authorities absolute URLs to the container may use (computed on first need). */
  readonly authorities: () => KnownAuthorities;
}

/**
 * The upstream's response headers (flat, names as sent) as a flat array for `res.writeHead`:
 * hop-by-hop ones removed (with those its `Connection` header lists), `Location` and
 * `Set-Cookie` paths rewritten under the prefix when asked.
 */
export function clientResponseHeaders(
  headers: readonly string[],
  connection: string | undefined,
  rewrite: ResponseRewrite | undefined,
): string[] {
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let index = 0; index < headers.length; index += 2) {
    const name = headers[index] as string;
    const value = headers[index + 1] as string;
    if (isHopByHop(name, listed)) continue;
    if (rewrite !== undefined) {
      const length = name.length;
      if (
        rewrite.location &&
        ((length === 8 && equalsIgnoreCase(name, 'location')) ||
          (length === 16 && equalsIgnoreCase(name, 'content-location')))
      ) {
        out.push(name, rewriteLocation(value, rewrite.prefix, rewrite.authorities()));
        continue;
      }
      if (rewrite.cookiePath && length === 10 && equalsIgnoreCase(name, 'set-cookie')) {
        out.push(name, rewriteCookiePath(value, rewrite.prefix));
        continue;
      }
    }
    out.push(name, value);
  }
  return out;
}

/** Whether `path` is `prefix` itself or below it. */
function isUnderPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */ || next === 35 /* # */;
}

/**
 * Puts a `Location` from the container under its public prefix: absolute paths (`/login` →
 * `/docker/<name>/login`), URLs to the upstream's own address (`http://10.0.0.5:80/x` →
 * `/docker/<name>/x`: the container does not know how it is reached) and URLs to the public
 * host the client used, made relative when their scheme is the client's, else kept absolute
 * with the prefix (`https://public/docker/<name>/x` for a tool that moves the client to HTTPS:
 * a relative one would loop). Paths already under the prefix (tools configured with their base
 * URL), relative references and other hosts are left alone.
 */
export function rewriteLocation(location: string, prefix: string, known: KnownAuthorities): string {
  if (prefix === '') return location;
  if (location.charCodeAt(0) === 47 /* / */) {
    if (location.charCodeAt(1) === 47) return rewriteAbsolute(location, undefined, 2, prefix, known);
    return isUnderPrefix(location, prefix) ? location : prefix + location;
  }
  const schemeEnd = location.indexOf('://');
  if (schemeEnd === 4 || schemeEnd === 5) {
    const scheme = location.slice(0, schemeEnd).toLowerCase();
    if (scheme === 'http' || scheme === 'https')
      return rewriteAbsolute(location, scheme, schemeEnd + 3, prefix, known);
  }
  return location;
}

/** `scheme` undefined: a protocol-relative URL (`//host/x`), in the client's scheme. */
function rewriteAbsolute(
  location: string,
  scheme: string | undefined,
  authorityStart: number,
  prefix: string,
  known: KnownAuthorities,
) {
  let end = authorityStart;
  while (end < location.length) {
    const code = location.charCodeAt(end);
    if (code === 47 || code === 63 || code === 35) break;
    end++;
  }
  const authority = location.slice(authorityStart, end).toLowerCase();
  const rest = location.slice(end);
  const path = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  const prefixed = isUnderPrefix(path, prefix) ? path : prefix + path;
  if (known.internal.includes(authority)) return prefixed;
  const urlScheme = scheme ?? known.scheme;
  if (!known.public.includes(withoutDefaultPort(authority, urlScheme))) return location;
  return urlScheme === known.scheme ? prefixed : location.slice(0, end) + prefixed;
}

/** `host:80` for http and `host:443` for https name `host`. */
function withoutDefaultPort(authority: string, scheme: string): string {
  if (scheme === 'http' && authority.endsWith(':80')) return authority.slice(0, -3);
  if (scheme === 'https' && authority.endsWith(':443')) return authority.slice(0, -4);
  return authority;
}

// Every `Path` attribute: browsers use the last, so one left alone would escape the prefix.
const PATH_ATTRIBUTE = /(;\s*path\s*=\s*)([^;]*)/gi;

/**
 * Puts a `Set-Cookie`'s `Path=` under the prefix (`Path=/` → `Path=/docker/<name>`, `Path=/app`
 * → `Path=/docker/<name>/app`), so a tool's cookies reach only that tool. Cookies without
 * `Path` default to the request's directory, which already lies under the prefix.
 */
export function rewriteCookiePath(cookie: string, prefix: string): string {
  if (prefix === '') return cookie;
  return cookie.replace(PATH_ATTRIBUTE, (all: string, head: string, value: string) => {
    const path = value.trim();
    if (!path.startsWith('/') || isUnderPrefix(path, prefix)) return all;
    return head + (path === '/' ? prefix : prefix + path);
  });
}

/** The authorities a response's URLs may use for the container, and the client's scheme. */
export interface KnownAuthorities {
  /** How the upstream knows itself (`address:port`, and `address` for port 80), lowercase. */
  readonly internal: readonly string[];
  /**
   * The public hosts the container may build URLs from (the `Host` it was sent, and the
   * `X-Forwarded-Host`), lowercase, without the client scheme's default port.
   */
  readonly public: readonly string[];
  /** The client's scheme: `http` or `https`. */
  readonly scheme: string;
}

/**
 * The {@link KnownAuthorities} of a container reached as `upstreamHost:port`, for a client over
 * `scheme` whose request named `publicHosts` (the `Host` sent, the `X-Forwarded-Host`).
 */
export function knownAuthorities(
  publicHosts: readonly (string | undefined)[],
  upstreamHost: string,
  port: number,
  scheme: string,
): KnownAuthorities {
  const host = (upstreamHost.includes(':') ? `[${upstreamHost}]` : upstreamHost).toLowerCase();
  const hosts: string[] = [];
  for (const publicHost of publicHosts) {
    if (publicHost !== undefined) hosts.push(withoutDefaultPort(publicHost.toLowerCase(), scheme));
  }
  return { internal: port === 80 ? [`${host}:80`, host] : [`${host}:${port}`], public: hosts, scheme };
}
