import { describe, expect, it } from 'vitest';
import { readConfig } from './config.ts';

describe('readConfig', () => {
  it('has defaults matching the documented benchmark', () => {
    expect(readConfig([], {})).toMatchObject({
      seconds: 8,
      warmupSeconds: 2,
      rounds: 1,
      connections: 32,
      load: 'auto',
      wrkThreads: 1,
      nginxWorkers: 1,
      caddyProcs: 1,
      only: undefined,
    });
  });

  it('prefers flags over environment variables', () => {
    const config = readConfig(['--duration', '3', '--only', 'direct, chp'], {
      BENCH_DURATION: '5',
      BENCH_LOAD: 'autocannon',
    });
    expect(config?.seconds).toBe(3);
    expect(config?.load).toBe('autocannon');
    expect([...(config?.only ?? [])]).toEqual(['direct', 'chp']);
  });

  it('names the flag at fault', () => {
    expect(() => readConfig(['--connections', '2.5'], {})).toThrow(/--connections must be a whole number/);
    expect(() => readConfig([], { BENCH_LOAD: 'ab' })).toThrow(/--load must be auto, wrk or autocannon/);
  });

  it('runs the proxy suite alone unless --suite says otherwise', () => {
    expect(readConfig([], {})?.suites).toEqual(['proxy']);
    expect(readConfig(['--suite', 'ws, bodies'], {})?.suites).toEqual(['ws', 'bodies']);
    expect(readConfig([], { BENCH_SUITE: 'all' })?.suites).toContain('scale');
    expect(() => readConfig(['--suite', 'coldstrat'], {})).toThrow(/--suite: unknown suite "coldstrat"/);
  });

  it("reads the launch suites' sizes", () => {
    expect(readConfig([], {})).toMatchObject({
      launches: 10,
      listenDelayMs: 500,
      burstSizes: [50, 100],
      burstStartLimits: [4, 16],
      scaleCount: 500,
    });
    const config = readConfig(['--burst', '5, 10', '--scale', '20'], { BENCH_LAUNCHES: '3' });
    expect(config).toMatchObject({ burstSizes: [5, 10], scaleCount: 20, launches: 3 });
    expect(() => readConfig(['--burst', '5,,10'], {})).toThrow(/--burst must list whole numbers/);
    expect(() => readConfig(['--burst-limits', '0'], {})).toThrow(/--burst-limits must list whole numbers/);
  });

  it('returns undefined for --help', () => {
    expect(readConfig(['--help'], {})).toBeUndefined();
  });
});
