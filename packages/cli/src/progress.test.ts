import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { OutputStream } from './context.ts';
import { progressReporter } from './progress.ts';

function stream(isTTY: boolean): { out: OutputStream; text: () => string } {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean };
  out.isTTY = isTTY;
  let text = '';
  out.on('data', (chunk) => {
    text += chunk;
  });
  return { out, text: () => text };
}

describe('progressReporter', () => {
  it('redraws one line with pull progress summed over layers on a terminal', () => {
    const { out, text } = stream(true);
    const progress = progressReporter(out);
    progress.report({
      phase: 'pulling',
      name: 't',
      layer: { id: 'a', current: 1_000_000, total: 4_000_000 },
    });
    progress.report({ phase: 'pulling', name: 't', layer: { id: 'b', current: 500_000, total: 1_000_000 } });
    progress.report({
      phase: 'pulling',
      name: 't',
      layer: { id: 'a', current: 4_000_000, total: 4_000_000 },
    });
    progress.report({ phase: 'creating', name: 't' });
    progress.done();
    const frames = text().split('\r\x1b[2K');
    expect(frames).toContain('pulling: 2 layer(s), 1.5 MB / 5.0 MB');
    expect(frames).toContain('pulling: 2 layer(s), 4.5 MB / 5.0 MB');
    expect(frames).toContain('creating…');
    expect(text()).not.toContain('\n');
  });

  it('prints one line per phase elsewhere, without layer noise', () => {
    const { out, text } = stream(false);
    const progress = progressReporter(out);
    progress.report({ phase: 'pulling', name: 't', message: 'busybox:1.36' });
    progress.report({ phase: 'pulling', name: 't', layer: { id: 'a', current: 1, total: 2 } });
    progress.report({ phase: 'creating', name: 't' });
    progress.report({ phase: 'starting', name: 't' });
    progress.done();
    expect(text()).toBe('pulling: busybox:1.36…\ncreating…\nstarting…\n');
  });
});
