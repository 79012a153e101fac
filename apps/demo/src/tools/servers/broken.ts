/**
 * The crashing tool: reads its input, complains on stderr and exits with status 3 before it
 * ever listens, so the demo shows its failure page with the container's logs.
 */
import { log, readInput } from './toolkit.ts';

const received = await readInput();
log('broken', `input delivered by ${received.via}`);
log('broken', 'loading model weights from /models/weights.bin');
process.stderr.write(
  `${new Date().toISOString()} broken: error: cannot open /models/weights.bin: no such file or directory\n`,
);
process.exitCode = 3;
