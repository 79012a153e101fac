import type { StackProgress } from '../stacks.ts';

/** A stream the command writes to; `isTTY` decides between a redrawn line and plain lines. */
export interface OutputStream {
  /** Writes text as is. */
  write(text: string): unknown;
  /** Whether it is a terminal (`process.stderr.isTTY`). */
  readonly isTTY?: boolean | undefined;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Shows stack events on `stream`: on a terminal one status line redrawn in place with a spinner
 * and the elapsed time (failures stay on screen as their own lines), elsewhere one plain line per
 * event, which logs and CI keep readable.
 */
export function stackProgress(
  stream: OutputStream,
  what: string,
): { report: (progress: StackProgress) => void; done: () => void } {
  const started = Date.now();
  let frame = 0;
  let last = `${what}: starting`;
  let timer: NodeJS.Timeout | undefined;
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  const draw = () => {
    stream.write(`\r\x1b[2K${SPINNER[frame++ % SPINNER.length]} ${last} (${elapsed()})`);
  };
  if (stream.isTTY) {
    timer = setInterval(draw, 100);
    timer.unref();
    draw();
  }
  return {
    report(progress) {
      const reason = progress.reason === undefined ? '' : `: ${progress.reason}`;
      const line = `${progress.logicalId} ${progress.resourceType} ${progress.status}${reason}`;
      if (!stream.isTTY) {
        stream.write(`${progress.time.toISOString()} ${line}\n`);
        return;
      }
      if (progress.status.endsWith('_FAILED')) stream.write(`\r\x1b[2K${line}\n`);
      last = `${what}: ${progress.logicalId} ${progress.status}`;
      draw();
    },
    done() {
      if (timer === undefined) return;
      clearInterval(timer);
      timer = undefined;
      stream.write('\r\x1b[2K');
    },
  };
}
