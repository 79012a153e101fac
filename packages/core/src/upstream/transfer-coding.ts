/**
 * The transfer codings a `Transfer-Encoding` value applies besides a final `chunked` (say
 * `gzip` of `gzip, chunked`), as a list to send on; undefined when there are none. A proxy that
 * re-frames a body must carry these over, or the receiver reads compressed bytes as plain ones.
 */
export function codingsBesidesChunked(value: string): string | undefined {
  const codings = value
    .split(',')
    .map((coding) => coding.trim())
    .filter((coding) => coding !== '');
  const last = codings.at(-1);
  if (last !== undefined && last.toLowerCase() === 'chunked') codings.pop();
  return codings.length === 0 ? undefined : codings.join(', ');
}
