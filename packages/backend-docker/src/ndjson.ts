/**
 * Splits newline-delimited JSON (the engine's events and progress streams) into values. Chunks
 * arrive cut at arbitrary points, inside a line or inside a multi-byte character: bytes are
 * decoded in streaming mode and an incomplete last line waits for the next chunk.
 */
export class NdjsonDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private pending = '';

  /** Feeds one chunk; returns the values of the lines it completed. Throws on a line that is not JSON. */
  push(chunk: Uint8Array | string): unknown[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const values: unknown[] = [];
    let newline = this.pending.indexOf('\n');
    while (newline >= 0) {
      const line = this.pending.slice(0, newline).trim();
      this.pending = this.pending.slice(newline + 1);
      if (line !== '') values.push(JSON.parse(line));
      newline = this.pending.indexOf('\n');
    }
    return values;
  }

  /** Ends the stream: returns the value of a last line that had no newline, if any. */
  end(): unknown[] {
    const line = (this.pending + this.decoder.decode()).trim();
    this.pending = '';
    return line === '' ? [] : [JSON.parse(line)];
  }
}
