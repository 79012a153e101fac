import { invalidOption } from '../errors.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `500ms`, `30s`, `30m`, `2h`, `1d` or `1h30m` into milliseconds.
 * Throws `INVALID_OPTION` naming `field` for anything else.
 */
export function parseDuration(text: string, field = 'duration'): number {
  const trimmed = text.trim();
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(trimmed)
    ? trimmed.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g)
    : null;
  if (!parts) {
    throw invalidOption(
      field,
      `"${text}" is not a duration: use a number with a unit, e.g. 90s, 30m, 2h or 1h30m`,
    );
  }
  let total = 0;
  for (const part of parts) {
    const [, amount = '', unit = ''] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(part) ?? [];
    total += Number(amount) * (UNITS[unit] ?? Number.NaN);
  }
  return Math.round(total);
}

/** Formats milliseconds for people: `950ms`, `42s`, `5m 3s`, `2h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes}m ${seconds % 60}s` : `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours}h ${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}
