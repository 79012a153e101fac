import { invalidOption } from '../errors.ts';
import { type FieldList, refuseUnknownFields } from '../known-fields.ts';
import { isValidName } from '../spec.ts';
import { unsafePathReason } from './path-safety.ts';
import type { PublicUrlOptions, RouteResult, Router } from './router.ts';

/** Options of {@link pathRouter}. */
export interface PathRouterOptions {
  /**
   * Path under which containers appear: `/docker` routes `/docker/<name>/<rest>`. Starts with
   * `/`, no trailing slash; `''` (or `/`) mounts containers at the root. Default `/docker`.
   */
  prefix?: string;
  /** Scheme, host and port {@link Router.publicUrl} puts in front, e.g. `https://example.org`. */
  origin?: string;
  /**
   * Forward paths containing encoded slashes (`%2F`) instead of answering 400. Safe for routing
   * (the container is chosen before), but some tools decode them into real slashes. Default false.
   */
  allowEncodedSlashes?: boolean;
}

const PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*$/;

const PATH_ROUTER_FIELDS: FieldList<PathRouterOptions> = {
  prefix: true,
  origin: true,
  allowEncodedSlashes: true,
};

/**
 * Routes `<prefix>/<name>/<rest>` to container `<name>` with upstream path `/<rest>` (query string
 * intact). `<prefix>/<name>` without the slash redirects to `<prefix>/<name>/`. Paths with dot
 * segments, backslashes or encoded slashes are refused with 400 (see
 * {@link PathRouterOptions.allowEncodedSlashes}); a segment that cannot be a container name is
 * a 404. Everything outside the prefix, and the prefix itself, passes through.
 *
 * @example
 * ```ts
 * const router = pathRouter({ prefix: '/docker' });
 * router.match('example.org', '/docker/alice-viewer/api?x=1');
 * // { kind: 'match', name: 'alice-viewer', path: '/api?x=1', prefix: '/docker/alice-viewer' }
 * router.publicUrl('alice-viewer', { path: 'input.json' }); // '/docker/alice-viewer/input.json'
 * ```
 */
export function pathRouter(options: PathRouterOptions = {}): Router {
  refuseUnknownFields(options, PATH_ROUTER_FIELDS, 'pathRouter', invalidOption);
  const prefix = normalizePrefix(options.prefix ?? '/docker');
  const origin = options.origin === undefined ? '' : normalizeOrigin(options.origin, 'origin');
  const allowEncodedSlashes = options.allowEncodedSlashes ?? false;
  const prefixSlash = `${prefix}/`;
  const start = prefixSlash.length;

  return {
    kind: 'path',
    rewritesPaths: true,
    match(_host: string | undefined, url: string): RouteResult | undefined {
      if (!url.startsWith(prefixSlash)) return undefined;
      const queryStart = url.indexOf('?');
      const pathEnd = queryStart === -1 ? url.length : queryStart;
      if (pathEnd === start) return undefined; // the prefix itself belongs to the application
      const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
      const unsafe = unsafePathReason(pathname, allowEncodedSlashes);
      if (unsafe !== undefined) return { kind: 'reject', status: 400, reason: unsafe };
      const nameEnd = pathname.indexOf('/', start);
      const name = pathname.slice(start, nameEnd === -1 ? pathEnd : nameEnd);
      if (!isValidName(name)) return { kind: 'reject', status: 404, reason: 'no such container' };
      if (nameEnd === -1) {
        return { kind: 'redirect', location: `${prefixSlash}${name}/${url.slice(pathEnd)}` };
      }
      return { kind: 'match', name, path: url.slice(nameEnd), prefix: url.slice(0, nameEnd) };
    },
    publicUrl(name: string, urlOptions: PublicUrlOptions = {}): string {
      checkName(name);
      const base = urlOptions.origin === undefined ? origin : normalizeOrigin(urlOptions.origin, 'origin');
      return `${base}${prefixSlash}${name}/${containerPath(urlOptions.path, allowEncodedSlashes)}`;
    },
  };
}

function normalizePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw invalidOption('prefix', 'must be a string such as "/docker"');
  const trimmed = prefix === '/' ? '' : prefix;
  if (trimmed !== '' && (!PREFIX.test(trimmed) || unsafePathReason(trimmed, false) !== undefined)) {
    throw invalidOption(
      'prefix',
      `must be an absolute path without trailing slash, dot segments, "?" or "#", such as "/docker"; got ${JSON.stringify(prefix)}`,
    );
  }
  return trimmed;
}

/** Validates `scheme://host[:port]` and drops a trailing slash. */
export function normalizeOrigin(origin: string, field: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw invalidOption(
      field,
      `must be an origin such as "https://example.org", got ${JSON.stringify(origin)}`,
    );
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search ||
    url.hash
  ) {
    throw invalidOption(field, `must be an http(s) origin without path, such as "https://example.org:8443"`);
  }
  return url.origin;
}

/** Throws `INVALID_OPTION` (field `name`) unless `name` is a valid container name. */
export function checkName(name: string): void {
  if (typeof name !== 'string' || !isValidName(name)) {
    throw invalidOption('name', `${JSON.stringify(name)} is not a valid container name`);
  }
}

/**
 * A path inside a container for a public URL, without its leading slashes (`''` for
 * undefined). Throws `INVALID_OPTION` for a path a browser would resolve out of the container
 * (`../bob/secret`) or the router would refuse: links are built from it.
 */
export function containerPath(path: string | undefined, allowEncodedSlashes: boolean): string {
  if (path === undefined) return '';
  if (typeof path !== 'string') throw invalidOption('path', 'must be a string such as "input.json"');
  let index = 0;
  while (path[index] === '/') index++;
  const relative = path.slice(index);
  const end = relative.search(/[?#]/);
  const unsafe = unsafePathReason(`/${end === -1 ? relative : relative.slice(0, end)}`, allowEncodedSlashes);
  if (unsafe !== undefined) throw invalidOption('path', `${unsafe}: ${JSON.stringify(path)}`);
  return relative;
}
