/** The heap this process keeps after a full garbage collection (for the manager's per-container cost). */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** A full GC, made available without `--expose-gc` on the command line. */
function gc(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Heap used after collecting garbage (twice: weak references and finalizers free more). */
export async function heapAfterGc(): Promise<number> {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  return process.memoryUsage().heapUsed;
}
