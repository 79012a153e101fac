/** Small formatting helpers for the pages. */
import { formatDuration } from '@dde/core';

/** `5m 3s ago`, `just now` or `never`. */
export function ago(time: Date | number | undefined, now: number = Date.now()): string {
  if (time === undefined) return 'never';
  const ms = now - (typeof time === 'number' ? time : time.getTime());
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** How long since `time`: `42s`, `5m 3s`. */
export function age(time: Date | number, now: number = Date.now()): string {
  return formatDuration(Math.max(0, now - (typeof time === 'number' ? time : time.getTime())));
}

/** `HH:MM:SS` in UTC. */
export function clock(time: Date | number): string {
  return new Date(time).toISOString().slice(11, 19);
}
