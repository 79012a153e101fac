import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

// Hop-by-hop headers (RFC 9110 §7.6.1) plus `proxy-connection`; any `proxy-*` header is
// dropped as well. They describe one connection and never cross the proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// Request headers the proxy replaces: the forwarding headers it sets itself, `host` (set per
// `upstreamHost`), and `expect` (Node answers `100-continue` itself, before the body arrives).
const REPLACED_REQUEST = new Set([
  'host',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-prefix',
]);

/** The tokens of a `Connection` header other than `close` and `keep-alive`: headers it makes hop-by-hop. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // The usual values list no header: answer them without splitting.
  if (value.length <= 10 && typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return undefined;
  }
  const text = Array.isArray(value) ? value.join(',') : value;
  let tokens: Set<string> | undefined;
  for (const part of text.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

/** Whether a header must not be forwarded (either way). */
export function isHopByHop(lowerName: string, listed: Set<string> | undefined): boolean {
  return (
    HOP_BY_HOP.has(lowerName) ||
    lowerName.startsWith('proxy-') ||
    lowerName.charCodeAt(0) === 58 /* HTTP/2 pseudo-header */ ||
    listed?.has(lowerName) === true
  );
}

/** How the request reached the proxy, as the forwarding headers describe it. */
export interface ForwardedContext {
  /** Path prefix of the container (`X-Forwarded-Prefix`), or `''`. */
  readonly prefix: string;
  /** The `Host` header to send upstream, when any. */
  readonly host: string | undefined;
  /** Keep incoming `X-Forwarded-Proto`/`-Host` (the proxy sits behind a trusted one). */
  readonly trustForwarded: boolean;
  /** Keep `Upgrade` and send `Connection: upgrade` (WebSocket handshakes). */
  readonly upgrade: boolean;
}

/**
 * The headers to send upstream, as a flat `[name, value, ...]` array: the client's headers
 * minus hop-by-hop ones (and those its `Connection` header lists), with `Host` as configured,
 * `X-Forwarded-For` and `Forwarded` appended to, `X-Forwarded-Proto`, `X-Forwarded-Host` and
 * (under a path prefix) `X-Forwarded-Prefix` set. Cookies pass unchanged.
 */
export function upstreamRequestHeaders(req: IncomingMessage, context: ForwardedContext): string[] {
  const raw = req.rawHeaders;
  const headers = req.headers;
  const listed = connectionTokens(headers.connection);
  const out: string[] = [];
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    const lower = name.toLowerCase();
    if (REPLACED_REQUEST.has(lower)) continue;
    if (isHopByHop(lower, listed) && !(context.upgrade && lower === 'upgrade')) continue;
    out.push(name, raw[index + 1] as string);
  }
  if (context.host !== undefined) out.push('host', context.host);
  if (context.upgrade) out.push('connection', 'upgrade');

  const clientIp = req.socket.remoteAddress;
  const proto =
    (context.trustForwarded && firstValue(headers['x-forwarded-proto'])) ||
    ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  const publicHost = (context.trustForwarded && firstValue(headers['x-forwarded-host'])) || headers.host;
  const incomingXff = headers['x-forwarded-for'];
  const xff = Array.isArray(incomingXff) ? incomingXff.join(', ') : incomingXff;
  if (clientIp !== undefined) out.push('x-forwarded-for', xff ? `${xff}, ${clientIp}` : clientIp);
  else if (xff) out.push('x-forwarded-for', xff);
  out.push('x-forwarded-proto', proto);
  if (publicHost) out.push('x-forwarded-host', publicHost);
  if (context.prefix !== '') out.push('x-forwarded-prefix', context.prefix);
  const element = forwardedElement(
    clientIp,
    headers.host,
    (req.socket as TLSSocket).encrypted ? 'https' : 'http',
  );
  const forwarded = headers.forwarded;
  out.push('forwarded', forwarded ? `${forwarded}, ${element}` : element);
  return out;
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

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Clients mostly send the same Host: remember the last one quoted.
let lastQuoted = { value: '', quoted: '' };

function quoteIfNeeded(value: string): string {
  if (value === lastQuoted.value) return lastQuoted.quoted;
  const quoted = TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
  lastQuoted = { value, quoted };
  return quoted;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const comma = text.indexOf(',');
  return (comma === -1 ? text : text.slice(0, comma)).trim() || undefined;
}

/** How response headers are rewritten under a path prefix. */
export interface ResponseRewrite {
  /** The container's public path prefix, e.g. `/docker/alice-viewer`. */
  readonly prefix: string;
  /** Rewrite `Location` (and `Content-Location`). */
  readonly location: boolean;
  /** Rewrite `Path=` of `Set-Cookie`. */
  readonly cookiePath: boolean;
  /** `host[:port]` forms (lowercase) under which the upstream knows itself: absolute URLs to them are rewritten. */
  readonly authorities: () => readonly string[];
}

/**
 * The upstream's response headers (flat, names lowercase) as a flat array for `res.writeHead`:
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
      if (rewrite.location && (name === 'location' || name === 'content-location')) {
        out.push(name, rewriteLocation(value, rewrite.prefix, rewrite.authorities()));
        continue;
      }
      if (rewrite.cookiePath && name === 'set-cookie') {
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
 * `/docker/<name>/login`) and absolute URLs whose authority is one the upstream knows itself
 * by (`http://10.0.0.5:80/x` → `/docker/<name>/x`). Paths already under the prefix (tools
 * configured with their base URL), relative references and other hosts are left alone.
 */
export function rewriteLocation(location: string, prefix: string, authorities: readonly string[]): string {
  if (prefix === '') return location;
  if (location.charCodeAt(0) === 47 /* / */) {
    if (location.charCodeAt(1) === 47) return rewriteAbsolute(location, 2, prefix, authorities);
    return isUnderPrefix(location, prefix) ? location : prefix + location;
  }
  const schemeEnd = location.indexOf('://');
  if (schemeEnd === 4 || schemeEnd === 5) {
    const scheme = location.slice(0, schemeEnd).toLowerCase();
    if (scheme === 'http' || scheme === 'https')
      return rewriteAbsolute(location, schemeEnd + 3, prefix, authorities);
  }
  return location;
}

function rewriteAbsolute(
  location: string,
  authorityStart: number,
  prefix: string,
  authorities: readonly string[],
) {
  let end = authorityStart;
  while (end < location.length) {
    const code = location.charCodeAt(end);
    if (code === 47 || code === 63 || code === 35) break;
    end++;
  }
  const authority = location.slice(authorityStart, end).toLowerCase();
  if (!authorities.includes(authority)) return location;
  const rest = location.slice(end);
  const path = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  return isUnderPrefix(path, prefix) ? path : prefix + path;
}

const PATH_ATTRIBUTE = /(;\s*path\s*=\s*)([^;]*)/i;

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

/** `host:port` forms under which an upstream may know itself, lowercase. */
export function upstreamAuthorities(
  sentHost: string | undefined,
  upstreamHost: string,
  port: number,
): string[] {
  const host = upstreamHost.includes(':') ? `[${upstreamHost}]` : upstreamHost;
  const list = [`${host}:${port}`.toLowerCase()];
  if (port === 80) list.push(host.toLowerCase());
  if (sentHost !== undefined) {
    const sent = sentHost.toLowerCase();
    list.push(sent);
    // The Host without its port names the same server when the port is the default.
    if (sent.endsWith(':80')) list.push(sent.slice(0, -3));
    else if (sent.endsWith(':443')) list.push(sent.slice(0, -4));
    else if (!sent.includes(':') || sent.endsWith(']')) list.push(`${sent}:80`, `${sent}:443`);
  }
  return list;
}
