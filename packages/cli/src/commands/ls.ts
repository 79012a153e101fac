import { parseArgs } from 'node:util';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { CONTAINER_HEADER, containerJson, containerRow, table } from '../format.ts';
import { UsageError } from '../usage.ts';
import { lsWithActivity } from './ls-activity.ts';

/** `dde ls`. */
export async function ls(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { redis: { type: 'string' } },
  });
  if (positionals.length > 0)
    throw new UsageError(`ls takes no arguments, got "${positionals.join(' ')}"`, 'ls');
  if (values.redis !== undefined) return lsWithActivity(context, values.redis);
  const backend = context.backend();
  try {
    const containers = (await backend.list({ signal: context.io.signal })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    if (context.json) {
      writeLine(context.io.stdout, JSON.stringify(containers.map(containerJson)));
    } else {
      const now = Date.now();
      writeLine(
        context.io.stdout,
        table(
          CONTAINER_HEADER,
          containers.map((info) => containerRow(info, now)),
        ),
      );
    }
    return 0;
  } finally {
    await backend.close();
  }
}
