// Checks that keep a proxied path inside its container's prefix. A request is refused rather
// than normalized: normalizing differently from a front proxy, the browser or the tool would
// let a path mean one thing to dde and another to them.

// Cheap pre-check: a path without any of these characters cannot be unsafe.
const SUSPICIOUS = /[.%\\]/;
// A `.` or `..` segment, each dot possibly percent-encoded (`%2e`, `.%2E`, ...), delimited by
// slashes, encoded ones included (a tool may decode them).
const DOT_SEGMENT = /(?:^|\/|%2f)(?:\.|%2e){1,2}(?:\/|%2f|$)/i;
// Encoded NUL and backslash are never legitimate in a path.
const ENCODED_NUL_OR_BACKSLASH = /%(?:00|5c)/i;
const ENCODED_SLASH = /%2f/i;

/**
 * Why `pathname` (no query) is unsafe to route by prefix, or undefined when it is safe: dot
 * segments (raw or percent-encoded), backslashes (raw or `%5C`), `%00`, and, unless allowed,
 * encoded slashes (`%2F`).
 */
export function unsafePathReason(pathname: string, allowEncodedSlashes: boolean): string | undefined {
  if (!SUSPICIOUS.test(pathname)) return undefined;
  if (pathname.includes('\\')) return 'backslashes are not allowed in paths';
  if (DOT_SEGMENT.test(pathname)) return 'dot segments ("." or "..") are not allowed in paths';
  if (ENCODED_NUL_OR_BACKSLASH.test(pathname)) return 'encoded NUL or backslash is not allowed in paths';
  if (!allowEncodedSlashes && ENCODED_SLASH.test(pathname))
    return 'encoded slashes (%2F) are not allowed in paths';
  return undefined;
}
