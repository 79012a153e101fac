import { parseArgs } from 'node:util';
import { validateName } from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { notFoundMessage, UsageError } from '../usage.ts';

/** `dde rm <name...>`: exits 1 when a name did not exist. */
export async function rm(context: CommandContext, args: string[]): Promise<number> {
  const { positionals } = parseCommand('rm', args, {}, () =>
    parseArgs({ args, allowPositionals: true, options: {} }),
  );
  if (positionals.length === 0) throw new UsageError('rm needs at least one container name', 'rm');
  for (const name of positionals) validateName(name, 'name'); // a typo is a usage mistake, not a miss
  const backend = context.backend();
  try {
    const removed: string[] = [];
    const missing: string[] = [];
    for (const name of positionals) {
      ((await backend.remove(name, { signal: context.io.signal })) ? removed : missing).push(name);
    }
    if (context.json) writeLine(context.io.stdout, JSON.stringify({ removed, missing }));
    else for (const name of removed) writeLine(context.io.stdout, name);
    for (const name of missing)
      writeLine(context.io.stderr, `dde: NOT_FOUND: ${notFoundMessage(name, context.namespace)}`);
    return missing.length === 0 ? 0 : 1;
  } finally {
    await backend.close();
  }
}
