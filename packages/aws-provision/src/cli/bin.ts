#!/usr/bin/env node
import { main } from './main.ts';

// The first Ctrl-C aborts: a create then removes what it made before exiting. A second one exits
// at once, saying how to remove whatever is left.
const controller = new AbortController();
const [group, action, name] = process.argv.slice(2);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) {
      const hint =
        action === 'create' && (group === 'host' || group === 'ecs') && name !== undefined
          ? `; remove what is left with: dde-aws ${group} delete ${name}`
          : '';
      process.stderr.write(`\ndde-aws: stopped without waiting${hint}\n`);
      process.exit(130);
    }
    if (action === 'create') {
      process.stderr.write('\ndde-aws: aborting, removing what was created (Ctrl-C again to stop waiting)\n');
    }
    controller.abort();
  });
}

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
