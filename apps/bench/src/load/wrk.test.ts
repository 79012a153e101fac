import { describe, expect, it } from 'vitest';
import { parseWrkOutput } from './wrk.ts';

describe('parseWrkOutput', () => {
  it('reads the JSON line of the done hook among the usual output', () => {
    const stdout = [
      'Running 8s test @ http://127.0.0.1:8080/',
      '  1 threads and 32 connections',
      'WRK_RESULT {"requests":160000,"durationUs":8000000,"p50Us":950,"p99Us":5200,"errors":3}',
      'Requests/sec:  20000.00',
    ].join('\n');
    expect(parseWrkOutput(stdout)).toEqual({
      requestsPerSecond: 20_000,
      p50Ms: 0.95,
      p99Ms: 5.2,
      requests: 160_000,
      errors: 3,
      seconds: 8,
    });
  });

  it('says what wrk printed when the line is missing', () => {
    expect(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(
      /Connection refused/,
    );
  });
});
