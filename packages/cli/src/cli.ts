import { readFileSync } from 'node:fs';
import { isDdeError } from '@dde/core';
import { chooseBackend } from './backend-choice.ts';
import { logs } from './commands/logs.ts';
import { ls } from './commands/ls.ts';
import { proxy } from './commands/proxy.ts';
import { purge } from './commands/purge.ts';
import { rm } from './commands/rm.ts';
import { run } from './commands/run.ts';
import type { CliIo, CommandContext } from './context.ts';
import { commandContext, writeLine } from './context.ts';
import { cliMessage } from './messages.ts';
import { CliFailure, EXIT, helpText, UsageError } from './usage.ts';

type Command = (context: CommandContext, args: string[]) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = { run, ls, logs, rm, purge, proxy };

/**
 * Runs the `dde` command line and resolves with its exit code: 0 on success, 1 when the
 * operation failed, 2 for a usage mistake. Never throws.
 *
 * @example
 * ```ts
 * const code = await main(['ls', '--json'], { stdout: process.stdout, stderr: process.stderr, env: process.env });
 * ```
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let command: string | undefined;
  try {
    const choice = await chooseBackend(argv, io.env);
    const chosen: CliIo = io.backend || !choice.backend ? io : { ...io, backend: choice.backend };
    const split = splitGlobal(choice.argv);
    command = split.command;
    if (split.version) {
      writeLine(io.stdout, version());
      return EXIT.ok;
    }
    if (split.help || command === undefined || command === 'help') {
      const topic = command === 'help' ? split.rest[0] : command;
      if (topic !== undefined && !(topic in COMMANDS)) throw new UsageError(`unknown command "${topic}"`);
      io.stdout.write(helpText(topic));
      return command === undefined && !split.help ? EXIT.usage : EXIT.ok;
    }
    const handler = COMMANDS[command];
    if (handler === undefined) throw new UsageError(`unknown command "${command}"`);
    return await handler(commandContext(chosen, split.namespace, split.json), split.rest);
  } catch (error) {
    return report(error, command, io);
  }
}

interface GlobalOptions {
  command: string | undefined;
  rest: string[];
  namespace: string | undefined;
  json: boolean;
  help: boolean;
  version: boolean;
}

/** Pulls the global options out wherever they stand, leaving the command's own. */
function splitGlobal(argv: readonly string[]): GlobalOptions {
  const result: GlobalOptions = {
    command: undefined,
    rest: [],
    namespace: undefined,
    json: false,
    help: false,
    version: false,
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--') {
      result.rest.push(...argv.slice(index));
      break;
    }
    if (arg === '--json') result.json = true;
    else if (arg === '-h' || arg === '--help') result.help = true;
    else if (arg === '--version') result.version = true;
    else if (arg === '-n' || arg === '--namespace') {
      const value = argv[++index];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      result.namespace = value;
    } else if (arg.startsWith('--namespace=')) result.namespace = arg.slice('--namespace='.length);
    else if (result.command === undefined && !arg.startsWith('-')) result.command = arg;
    else result.rest.push(arg);
  }
  return result;
}

/**
 * Every error is one line `dde: CODE: message` (USAGE for command-line mistakes), so scripts and
 * people can match on the code; usage mistakes and invalid values add where the help is, and
 * exit 2; everything else exits 1.
 */
function report(error: unknown, command: string | undefined, io: CliIo): number {
  if (error instanceof UsageError || isParseArgsError(error)) {
    const topic = error instanceof UsageError ? (error.command ?? command) : command;
    writeLine(io.stderr, `dde: USAGE: ${error.message}`);
    writeLine(io.stderr, helpPointer(topic));
    return EXIT.usage;
  }
  if (isDdeError(error)) {
    writeLine(io.stderr, `dde: ${error.code}: ${cliMessage(error)}`);
    if (error.code === 'INVALID_SPEC' || error.code === 'INVALID_OPTION') {
      writeLine(io.stderr, helpPointer(command));
      return EXIT.usage;
    }
    return EXIT.failure;
  }
  if (error instanceof CliFailure) {
    writeLine(io.stderr, `dde: ${error.code}: ${error.message}`);
    return EXIT.failure;
  }
  writeLine(io.stderr, `dde: ERROR: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT.failure;
}

function helpPointer(topic: string | undefined): string {
  return `Run 'dde ${topic && topic in COMMANDS ? `${topic} ` : ''}--help' for usage.`;
}

function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
