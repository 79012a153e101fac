/**
 * `npm run demo`: reads the settings, starts the demo, and shuts it down on SIGINT/SIGTERM,
 * leaving the tool containers running (the next start adopts them) unless --remove-on-exit.
 */
import { ConfigError, parseConfig, USAGE, wantsHelp } from './config.ts';
import { startDemo } from './demo.ts';

const argv = process.argv.slice(2);
if (wantsHelp(argv)) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const log = (line: string): void => {
  process.stderr.write(`dde demo: ${line}\n`);
};

try {
  const config = parseConfig(argv);
  const demo = await startDemo(config, log);
  // Tests (and scripts) wait for this exact line on stdout.
  process.stdout.write(
    `dde demo listening at ${demo.url} (port ${demo.port}; containers fetch data from ${demo.dataOrigin})\n`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log('second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log(
      `${signal}: shutting down${config.removeOnExit ? ' and removing the containers' : '; containers keep running'}`,
    );
    demo.close({ removeContainers: config.removeOnExit }).then(
      () => {
        log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log(`shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    log(error.message);
    process.exit(2);
  }
  log(`cannot start: ${(error as Error).message}`);
  process.exit(1);
}
