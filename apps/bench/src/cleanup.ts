/**
 * Everything the benchmark starts (containers, images, child processes, servers) registers
 * its undo here. The undos run in reverse order once: at the end, on failure, and on
 * SIGINT/SIGTERM, so an interrupted run leaves nothing behind.
 */

type Undo = () => unknown;

const undos: Array<{ what: string; undo: Undo }> = [];
let running: Promise<void> | undefined;

/** Thrown by {@link onCleanup} once cleanup has begun: the run is over, start nothing more. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

let signalled = false;

/** Whether SIGINT or SIGTERM interrupted the run. */
export function interrupted(): boolean {
  return signalled;
}

/**
 * Registers an undo; returns a function that runs it now (and only once) instead. Once cleanup
 * has begun, runs the undo at once and throws {@link InterruptedError}: whatever was just
 * started must not outlive the run.
 */
export function onCleanup(what: string, undo: Undo): () => Promise<void> {
  if (running !== undefined) {
    void Promise.resolve()
      .then(undo)
      .catch(() => {});
    throw new InterruptedError(`cleanup has begun: undone at once: ${what}`);
  }
  const item = { what, undo };
  undos.push(item);
  return async () => {
    const index = undos.indexOf(item);
    if (index === -1) return;
    undos.splice(index, 1);
    await undo();
  };
}

/** Runs every registered undo, last registered first; failures are reported, not thrown. */
export function cleanup(): Promise<void> {
  running ??= (async () => {
    for (let item = undos.pop(); item !== undefined; item = undos.pop()) {
      try {
        await item.undo();
      } catch (error) {
        console.warn(`cleanup: ${item.what} failed: ${(error as Error).message}`);
      }
    }
  })();
  return running;
}

/**
 * Runs `main`, then cleans up whatever happened; a signal interrupts it, cleans up and exits
 * with 128 + the signal number.
 */
export async function runWithCleanup(main: () => Promise<void>): Promise<void> {
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    signalled = true;
    console.warn(`\n${signal}: cleaning up...`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  try {
    await main();
  } finally {
    await cleanup();
  }
}
