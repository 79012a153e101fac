import type { LogEntry } from '@dde/core';

// RFC3339Nano timestamp the engine puts before each line when asked for `timestamps=1`.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2}) /;

/** Parses an RFC3339 timestamp with any number of fraction digits (JS dates keep milliseconds). */
export function parseDockerTime(value: string | undefined): Date | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match) return undefined;
  const millis = (match[2] ?? '').padEnd(3, '0').slice(0, 3);
  const date = new Date(`${match[1]}.${millis}${match[3]}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Turns the body of `GET /containers/{id}/logs?timestamps=1` into entries.
 *
 * Without a TTY the engine multiplexes stdout and stderr in frames: an 8-byte header (stream
 * type, three zero bytes, big-endian payload length) then the payload. With a TTY there are no
 * frames, everything is stdout and lines end in CRLF. The engine splits lines longer than 16 KiB
 * into partial messages, each with its own timestamp: a continuation's timestamp is dropped, and
 * the parts are joined as bytes before decoding (a cut can fall inside a multi-byte character).
 */
export function parseLogs(body: Buffer, tty: boolean): LogEntry[] {
  const lines = new LineCollector();
  if (tty) {
    lines.add('stdout', body);
  } else {
    let offset = 0;
    while (offset + 8 <= body.length) {
      const type = body[offset];
      const length = body.readUInt32BE(offset + 4);
      const payload = body.subarray(offset + 8, offset + 8 + length);
      offset += 8 + length;
      // Type 0 is stdin, which logs never carry; treat anything but stderr as stdout.
      lines.add(type === 2 ? 'stderr' : 'stdout', payload);
    }
  }
  return lines.finish();
}

const NEWLINE = 0x0a;

// Lines are kept as bytes until they are complete: the engine cuts long lines at a byte count,
// which can fall inside a multi-byte character, so the pieces are decoded only once joined.
class LineCollector {
  private readonly entries: LogEntry[] = [];
  private readonly partial: Record<
    LogEntry['stream'],
    { time: Date | undefined; parts: Buffer[] } | undefined
  > = {
    stdout: undefined,
    stderr: undefined,
  };

  add(stream: LogEntry['stream'], chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      const newline = rest.indexOf(NEWLINE);
      const piece = newline >= 0 ? rest.subarray(0, newline) : rest;
      rest = newline >= 0 ? rest.subarray(newline + 1) : Buffer.alloc(0);
      const { time, text } = splitTimestamp(piece);
      const open = this.partial[stream];
      const line = open ? { time: open.time, parts: [...open.parts, text] } : { time, parts: [text] };
      if (newline >= 0) {
        this.push(stream, line);
        this.partial[stream] = undefined;
      } else {
        this.partial[stream] = line;
      }
    }
  }

  finish(): LogEntry[] {
    for (const stream of ['stdout', 'stderr'] as const) {
      const open = this.partial[stream];
      if (open) this.push(stream, open);
      this.partial[stream] = undefined;
    }
    return this.entries;
  }

  private push(stream: LogEntry['stream'], line: { time: Date | undefined; parts: Buffer[] }): void {
    const text = Buffer.concat(line.parts).toString('utf8').replace(/\r$/, '');
    this.entries.push({ stream, time: line.time, text });
  }
}

// Longest timestamp prefix: 2024-05-01T10:00:00.123456789+00:00 and a space, with room to spare.
const TIMESTAMP_PREFIX_BYTES = 64;

function splitTimestamp(piece: Buffer): { time: Date | undefined; text: Buffer } {
  const match = TIMESTAMP.exec(piece.subarray(0, TIMESTAMP_PREFIX_BYTES).toString('latin1'));
  if (!match) return { time: undefined, text: piece };
  const stamp = `${match[1]}${match[2] ? `.${match[2]}` : ''}${match[3]}`;
  return { time: parseDockerTime(stamp), text: piece.subarray(match[0].length) };
}
