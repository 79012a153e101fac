/**
 * The crashing tool: reads its input, complains on stderr and exits with status 3 before it
 * ever listens, so the demo shows its failure page with the container's logs.
 */
import { log, readInput } from './toolkit.ts';

const received = await readInput();
log('broken', `input delivered by ${received.via}`);
log('broken', 'loading model weights from /models/weights.bin');
// The engine reads stdout and stderr through two pipes at once and records lines in the order
// they reach it, so a line written to stderr right after one on stdout can be recorded first
// (dde shows the engine's order as is; equal timestamps cannot tell). A moment in between keeps
// the story in order.
await new Promise((resolve) => setTimeout(resolve, 50));
process.stderr.write(
  `${new Date().toISOString()} broken: error: cannot open /models/weights.bin: no such file or directory\n`,
);
process.exitCode = 3;
