/** Character classes of HTTP/1.1 (RFC 9110 §5.6), by latin1 char code. */

function table(characters: string, ...ranges: [number, number][]): Uint8Array {
  const classes = new Uint8Array(256);
  for (let index = 0; index < characters.length; index++) classes[characters.charCodeAt(index)] = 1;
  for (const [from, to] of ranges) classes.fill(1, from, to + 1);
  return classes;
}

/** `tchar`: what a header name or method is made of. */
export const TOKEN_CHARACTER: Uint8Array = table(
  "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
);

/** What a field value or reason phrase may hold: HTAB, space, visible ASCII and obs-text. */
export const VALUE_CHARACTER: Uint8Array = table('\t', [0x20, 0x7e], [0x80, 0xff]);

/** Whether `text` is a non-empty token. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let index = 0; index < text.length; index++) {
    if (TOKEN_CHARACTER[text.charCodeAt(index)] !== 1) return false;
  }
  return true;
}

/** Whether `text` may be a field value: no control character but HTAB, nothing above U+00FF. */
export function isFieldValue(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    if (VALUE_CHARACTER[text.charCodeAt(index)] !== 1) return false;
  }
  return true;
}

/** Whether `name` equals `lower` (lowercase letters and `-`) ignoring ASCII case, without allocating. */
export function equalsIgnoreCase(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let index = 0; index < lower.length; index++) {
    const code = name.charCodeAt(index);
    const expected = lower.charCodeAt(index);
    // OR-ing 0x20 lowercases an ASCII letter; anything else must match exactly.
    if (code !== expected && ((code | 0x20) !== expected || expected < 97 || expected > 122)) return false;
  }
  return true;
}
