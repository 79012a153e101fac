/**
 * Parses a command's arguments with `node:util`'s `parseArgs`, turning its errors (written for
 * programmers, with unbalanced quotes) into usage errors a person can act on: which option is
 * unknown and which known one was probably meant, which one lacks its value.
 */
import { UsageError } from './usage.ts';

/** One option as `parseArgs` takes it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

/** What every command also accepts (taken out before the command sees its arguments). */
const GLOBAL_OPTIONS: readonly string[] = ['--json', '--namespace', '--help', '--version'];

/**
 * Runs `parse` (the command's own `parseArgs` call, which keeps its typed values) and turns its
 * errors into person-friendly {@link UsageError}s for `dde <command>`.
 */
export function parseCommand<T>(
  command: string,
  args: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
  parse: () => T,
): T {
  try {
    return parse();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
    throw new UsageError(friendly(command, args, options, (error as Error).message), command);
  }
}

function friendly(
  command: string,
  args: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
  message: string,
): string {
  const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
  if (unknown !== undefined) {
    const known = [...Object.keys(options).map((name) => `--${name}`), ...GLOBAL_OPTIONS];
    const guess = closest(unknown.split('=')[0] ?? unknown, known);
    return `unknown option ${unknown} for dde ${command}${guess ? ` (did you mean ${guess}?)` : ''}`;
  }
  const option = /Option '(-[^' ]+)/.exec(message)?.[1];
  if (option !== undefined) {
    const long = option.startsWith('--')
      ? option
      : `--${Object.entries(options).find(([, spec]) => `-${spec.short}` === option)?.[0] ?? option}`;
    if (message.includes('ambiguous')) {
      const next = args[args.indexOf(option) + 1] ?? '';
      return `${long} needs a value, and "${next}" looks like an option; if it is the value, write ${long}=${next}`;
    }
    if (message.includes('missing')) return `${long} needs a value`;
    if (message.includes('does not take')) return `${long} takes no value`;
  }
  return message.split('\n')[0] ?? message;
}

/** The known option nearest to `typed` (edit distance at most 2, or a prefix), if any. */
function closest(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = candidate.startsWith(typed) && typed.length > 3 ? 1 : editDistance(typed, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
