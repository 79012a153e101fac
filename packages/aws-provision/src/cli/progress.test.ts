import { describe, expect, it } from 'vitest';
import type { StackProgress } from '../stacks.ts';
import { stackProgress } from './progress.ts';

const event = (status: string, reason?: string): StackProgress => ({
  stackName: 'dde-host-lab',
  time: new Date('2026-01-02T03:04:05.000Z'),
  logicalId: 'Instance',
  resourceType: 'AWS::EC2::Instance',
  status,
  ...(reason === undefined ? {} : { reason }),
});

describe('stackProgress', () => {
  it('writes one plain line per event where the output is not a terminal', () => {
    let written = '';
    const progress = stackProgress(
      { write: (text: string) => (written += text) },
      'creating Docker host lab',
    );
    progress.report(event('CREATE_IN_PROGRESS'));
    progress.report(event('CREATE_FAILED', 'Resource timed out'));
    progress.done();
    expect(written).toBe(
      '2026-01-02T03:04:05.000Z Instance AWS::EC2::Instance CREATE_IN_PROGRESS\n' +
        '2026-01-02T03:04:05.000Z Instance AWS::EC2::Instance CREATE_FAILED: Resource timed out\n',
    );
  });

  it('redraws one status line on a terminal, keeps failures on screen, and clears the line when done', () => {
    const writes: string[] = [];
    const progress = stackProgress(
      { write: (text: string) => writes.push(text), isTTY: true },
      'creating Docker host lab',
    );
    progress.report(event('CREATE_IN_PROGRESS'));
    progress.report(event('CREATE_FAILED', 'Resource timed out'));
    progress.done();
    progress.done(); // idempotent
    const clear = '\r\x1b[2K';
    expect(writes[0]?.startsWith(clear)).toBe(true);
    expect(writes[0]?.slice(clear.length)).toMatch(/^. creating Docker host lab: starting \(0s\)$/);
    expect(writes).toContain('\r\x1b[2KInstance AWS::EC2::Instance CREATE_FAILED: Resource timed out\n');
    expect(
      writes.some((text) =>
        /^. creating Docker host lab: Instance CREATE_IN_PROGRESS \(\d+s\)$/.test(text.slice(clear.length)),
      ),
    ).toBe(true);
    expect(writes.at(-1)).toBe('\r\x1b[2K');
    expect(writes.filter((text) => text === '\r\x1b[2K')).toHaveLength(1);
    expect(writes.every((text) => !text.includes('\n') || text.includes('CREATE_FAILED'))).toBe(true);
  });
});
