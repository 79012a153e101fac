import type { LaunchProgress } from '@dde/core';
import type { OutputStream } from './context.ts';

/**
 * Shows launch progress on stderr: on a terminal one line redrawn in place (pull progress by
 * layer, as `docker pull` does), elsewhere one line per phase.
 */
export function progressReporter(stream: OutputStream): {
  report: (progress: LaunchProgress) => void;
  done: () => void;
} {
  const layers = new Map<string, { current: number; total: number }>();
  let phase: string | undefined;
  let drawn = false;
  const draw = (text: string): void => {
    if (stream.isTTY) {
      stream.write(`\r\x1b[2K${text}`);
      drawn = true;
    } else {
      stream.write(`${text}\n`);
    }
  };
  return {
    report(progress) {
      if (progress.phase === 'pulling' && progress.layer) {
        layers.set(progress.layer.id, {
          current: progress.layer.current ?? 0,
          total: progress.layer.total ?? 0,
        });
        if (!stream.isTTY) return;
        let current = 0;
        let total = 0;
        for (const layer of layers.values()) {
          current += layer.current;
          total += layer.total;
        }
        draw(`pulling: ${layers.size} layer(s), ${megabytes(current)} / ${megabytes(total)}`);
        return;
      }
      if (progress.phase === phase) return;
      phase = progress.phase;
      draw(`${progress.phase}${progress.message ? `: ${progress.message}` : ''}…`);
    },
    done() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
