/**
 * A request the router maps onto a container: which one, and what to ask it for.
 */
export interface RouteMatch {
  /** Discriminant. */
  readonly kind: 'match';
  /** The container name (already checked to be a valid name). */
  readonly name: string;
  /** Path and query to request from the container; starts with `/`, query string intact. */
  readonly path: string;
  /**
   * The public path prefix under which the container's paths appear (`/docker/<name>` for the
   * path router, `''` for the hostname router). Public path = prefix + upstream path.
   */
  readonly prefix: string;
}

/** The request must be redirected first (e.g. `/docker/<name>` → `/docker/<name>/`). */
export interface RouteRedirect {
  /** Discriminant. */
  readonly kind: 'redirect';
  /** Where to: an absolute path with the query string kept. */
  readonly location: string;
}

/**
 * The request is addressed to the router's space but must not be proxied: `400` for a malformed
 * or unsafe request (path escapes, malformed Host), `404` for a name that cannot be a container.
 * A `404` here is answered exactly like a container that does not exist.
 */
export interface RouteRejection {
  /** Discriminant. */
  readonly kind: 'reject';
  /** HTTP status to answer with. */
  readonly status: 400 | 404;
  /** Why, for the response body (never echoes request data). */
  readonly reason: string;
}

/** What {@link Router.match} decides for a request it recognises. */
export type RouteResult = RouteMatch | RouteRedirect | RouteRejection;

/** Options of {@link Router.publicUrl}. */
export interface PublicUrlOptions {
  /** Path inside the container, e.g. `input.json` or `/api?x=1`. Default: the container's root. */
  path?: string;
  /**
   * Scheme, host and port to put in front, e.g. `https://example.org` (path router only; the
   * hostname router always builds absolute URLs from its own settings).
   */
  origin?: string;
}

/**
 * Maps a request (Host header, request target) onto a container, and a container back onto its
 * public URL. Make one with {@link pathRouter} or {@link hostnameRouter}.
 */
export interface Router {
  /** Which kind of router this is. */
  readonly kind: 'path' | 'hostname';
  /**
   * Whether containers see other paths than the public ones. The proxy then rewrites
   * `Location` and `Set-Cookie` paths by default.
   */
  readonly rewritesPaths: boolean;
  /**
   * Decides where a request goes. Returns undefined for requests that are not the router's
   * (they pass through to the rest of the application). Pure and synchronous: no I/O.
   *
   * @param host - The `Host` header, port included.
   * @param url - The raw request target (path and query), as in `req.url`.
   */
  match(host: string | undefined, url: string): RouteResult | undefined;
  /**
   * The public URL of a container (or of a path inside it). Throws `INVALID_OPTION` for a bad
   * name, or a path that would leave the container (dot segments, backslashes).
   */
  publicUrl(name: string, options?: PublicUrlOptions): string;
}

/**
 * The path prefix of dde's own endpoints on every container, relative to the container's root:
 * `<container>/.dde/ready` (readiness, polled by the please-wait page) and, when enabled,
 * `<container>/.dde/logs`. Requests under it are answered by the proxy and never reach the
 * container: tools cannot use paths starting with `/.dde/`.
 */
export const RESERVED_PATH_PREFIX = '/.dde/';
