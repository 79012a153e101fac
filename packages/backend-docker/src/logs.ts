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
 * into partial messages, each with its own timestamp: a continuation's timestamp is dropped.
 */
export function parseLogs(body: Buffer, tty: boolean): LogEntry[] {
  const lines = new LineCollector();
  if (tty) {
    lines.add('stdout', body.toString('utf8'));
  } else {
    let offset = 0;
    while (offset + 8 <= body.length) {
      const type = body[offset];
      const length = body.readUInt32BE(offset + 4);
      const payload = body.subarray(offset + 8, offset + 8 + length);
      offset += 8 + length;
      // Type 0 is stdin, which logs never carry; treat anything but stderr as stdout.
      lines.add(type === 2 ? 'stderr' : 'stdout', payload.toString('utf8'));
    }
  }
  return lines.finish();
}

class LineCollector {
  private readonly entries: LogEntry[] = [];
  private readonly partial: Record<LogEntry['stream'], { time: Date | undefined; text: string } | undefined> =
    {
      stdout: undefined,
      stderr: undefined,
    };

  add(stream: LogEntry['stream'], chunk: string): void {
    let rest = chunk;
    while (rest.length > 0) {
      const newline = rest.indexOf('\n');
      const piece = newline >= 0 ? rest.slice(0, newline) : rest;
      rest = newline >= 0 ? rest.slice(newline + 1) : '';
      const { time, text } = splitTimestamp(piece);
      const open = this.partial[stream];
      const line = open ? { time: open.time, text: open.text + text } : { time, text };
      if (newline >= 0) {
        this.entries.push({ stream, time: line.time, text: line.text.replace(/\r$/, '') });
        this.partial[stream] = undefined;
      } else {
        this.partial[stream] = line;
      }
    }
  }

  finish(): LogEntry[] {
    for (const stream of ['stdout', 'stderr'] as const) {
      const open = this.partial[stream];
      if (open) this.entries.push({ stream, time: open.time, text: open.text.replace(/\r$/, '') });
      this.partial[stream] = undefined;
    }
    return this.entries;
  }
}

function splitTimestamp(piece: string): { time: Date | undefined; text: string } {
  const match = TIMESTAMP.exec(piece);
  if (!match) return { time: undefined, text: piece };
  const stamp = `${match[1]}${match[2] ? `.${match[2]}` : ''}${match[3]}`;
  return { time: parseDockerTime(stamp), text: piece.slice(match[0].length) };
}
