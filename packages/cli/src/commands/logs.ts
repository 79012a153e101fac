import { parseArgs } from 'node:util';
import { DdeError, parseDuration, validateName } from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { notFoundMessage, UsageError, wholeNumber } from '../usage.ts';

/** `dde logs <name>`. */
export async function logs(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('logs', args, LOGS_OPTIONS, () =>
    parseArgs({ args, allowPositionals: true, options: LOGS_OPTIONS }),
  );
  if (positionals.length !== 1) throw new UsageError('logs takes exactly one container name', 'logs');
  const [name = ''] = positionals;
  validateName(name, 'name');
  const tail = wholeNumber('--tail', values.tail, 'logs');
  const since = values.since ? new Date(Date.now() - parseDuration(values.since, '--since')) : undefined;
  const backend = context.backend();
  try {
    if (!(await backend.inspect(name, { signal: context.io.signal }))) {
      throw new DdeError('NOT_FOUND', notFoundMessage(name, context.namespace));
    }
    const entries = await backend.logs(name, { tail, since, signal: context.io.signal });
    if (context.json) {
      writeLine(
        context.io.stdout,
        JSON.stringify(entries.map((entry) => ({ ...entry, time: entry.time?.toISOString() ?? null }))),
      );
      return 0;
    }
    for (const entry of entries) {
      const prefix = values.timestamps && entry.time ? `${entry.time.toISOString()} ` : '';
      writeLine(entry.stream === 'stderr' ? context.io.stderr : context.io.stdout, `${prefix}${entry.text}`);
    }
    return 0;
  } finally {
    await backend.close();
  }
}

const LOGS_OPTIONS = {
  tail: { type: 'string' },
  since: { type: 'string' },
  timestamps: { type: 'boolean' },
} as const;
