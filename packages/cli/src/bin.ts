#!/usr/bin/env node
import { main } from './cli.ts';

// Ctrl-C and SIGTERM end long-running commands gracefully; a second Ctrl-C exits at once.
const controller = new AbortController();
const onSignal = (): void => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, onSignal);

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
// Done: a signal now ends the process the default way, even if a handle still lingers.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, onSignal);
