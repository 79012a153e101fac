import { describe, expect, it } from 'vitest';
import { DdeError } from '../errors.ts';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', 'm', '30 minutes', '-5m', '5x'])('refuses %j naming the field', (text) => {
    try {
      parseDuration(text, '--idle');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DdeError);
      expect((error as DdeError).field).toBe('--idle');
      expect((error as DdeError).message).toMatch(/e\.g\. 90s, 30m/);
    }
  });
});

describe('formatDuration', () => {
  it.each([
    [950, '950ms'],
    [42_000, '42s'],
    [303_000, '5m 3s'],
    [7_500_000, '2h 5m'],
    [3_600_000, '1h'],
    [273_600_000, '3d 4h'],
  ])('formats %d as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
