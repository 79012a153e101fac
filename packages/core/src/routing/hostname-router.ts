import { invalidOption } from '../errors.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import { isValidName } from '../spec.ts';
import { checkName, containerPath } from './path-router.ts';
import type { PublicUrlOptions, RouteResult, Router } from './router.ts';

/** Options of {@link hostnameRouter}. */
export interface HostnameRouterOptions {
  /** Domain under which containers appear: `docker.example.org` routes `<name>.docker.example.org`. */
  suffix: string;
  /** Scheme of public URLs. Default `http`. */
  protocol?: 'http' | 'https';
  /** Port of public URLs, when not the scheme's default. */
  port?: number;
}

const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// Characters a host name may contain (before the suffix): anything else makes the Host malformed.
const HOST_CHARS = /^[a-z0-9.-]+$/;
const PORT = /^[0-9]{1,5}$/;

/** A port in a Host header: 0 to 65535 in decimal digits. */
function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65_535;
}

const HOSTNAME_ROUTER_FIELDS: FieldList<HostnameRouterOptions> = { suffix: true, protocol: true, port: true };

/**
 * Routes `<name>.<suffix>` (any port, case-insensitive, trailing dot allowed) to container
 * `<name>` with the request's path unchanged. Hosts outside the suffix, the suffix itself, IPv6
 * literals and missing Hosts pass through. A Host under the suffix that is malformed (bad
 * characters, empty labels, bad port) is refused with 400; one whose label cannot be a container
 * name (uppercase is folded first; nested labels like `a.b.<suffix>`) is a 404.
 *
 * @example
 * ```ts
 * const router = hostnameRouter({ suffix: 'docker.localhost', port: 8000 });
 * router.match('alice-viewer.docker.localhost:8000', '/api?x=1');
 * // { kind: 'match', name: 'alice-viewer', path: '/api?x=1', prefix: '' }
 * router.publicUrl('alice-viewer'); // 'http://alice-viewer.docker.localhost:8000/'
 * ```
 */
export function hostnameRouter(options: HostnameRouterOptions): Router {
  const suffix = normalizeSuffix(options?.suffix);
  refuseUnknownFields(options, HOSTNAME_ROUTER_FIELDS, 'hostnameRouter', invalidOption);
  const dotSuffix = `.${suffix}`;
  const protocol = options.protocol ?? 'http';
  if (protocol !== 'http' && protocol !== 'https') {
    throw invalidOption('protocol', `must be "http" or "https", got ${JSON.stringify(protocol)}`);
  }
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535)
  ) {
    throw invalidOption('port', `must be an integer from 1 to 65535, got ${String(options.port)}`);
  }
  const defaultPort = protocol === 'https' ? 443 : 80;
  const portPart = options.port === undefined || options.port === defaultPort ? '' : `:${options.port}`;

  return {
    kind: 'hostname',
    rewritesPaths: false,
    match(host: string | undefined, url: string): RouteResult | undefined {
      if (!host || host.charCodeAt(0) === 91 /* [ */) return undefined;
      const colon = host.lastIndexOf(':');
      let hostname = (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
      if (hostname.endsWith('.')) hostname = hostname.slice(0, -1);
      if (!hostname.endsWith(dotSuffix)) return undefined;
      const label = hostname.slice(0, hostname.length - dotSuffix.length);
      if (
        label === '' ||
        !HOST_CHARS.test(label) ||
        label.startsWith('.') ||
        label.endsWith('.') ||
        label.includes('..') ||
        (colon !== -1 && !isPort(host.slice(colon + 1)))
      ) {
        return { kind: 'reject', status: 400, reason: 'malformed Host header' };
      }
      if (!isValidName(label)) return { kind: 'reject', status: 404, reason: 'no such container' };
      if (url.charCodeAt(0) !== 47 /* / */) {
        return { kind: 'reject', status: 400, reason: 'the request target must be an absolute path' };
      }
      return { kind: 'match', name: label, path: url, prefix: '' };
    },
    publicUrl(name: string, urlOptions: PublicUrlOptions = {}): string {
      checkName(name);
      return `${protocol}://${name}${dotSuffix}${portPart}/${containerPath(urlOptions.path, true)}`;
    },
  };
}

function normalizeSuffix(suffix: unknown): string {
  if (typeof suffix !== 'string') {
    throw invalidOption(
      'suffix',
      'is required: the domain containers appear under, e.g. "docker.example.org"',
    );
  }
  const normalized = suffix.toLowerCase().replace(/^\.+|\.+$/g, '');
  if (normalized.length === 0 || normalized.length > 253 - 64 || !DOMAIN.test(normalized)) {
    throw invalidOption(
      'suffix',
      `must be a domain name such as "docker.example.org", got ${JSON.stringify(suffix)}`,
    );
  }
  return normalized;
}
