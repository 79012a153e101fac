import { parseArgs } from 'node:util';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { CONTAINER_HEADER, containerJson, containerRow, table } from '../format.ts';
import { UsageError } from '../usage.ts';

/** `dde ls`. */
export async function ls(context: CommandContext, args: string[]): Promise<number> {
  const { positionals } = parseCommand('ls', args, {}, () =>
    parseArgs({ args, allowPositionals: true, options: {} }),
  );
  if (positionals.length > 0)
    throw new UsageError(`ls takes no arguments, got "${positionals.join(' ')}"`, 'ls');
  const backend = context.backend();
  try {
    const containers = (await backend.list({ signal: context.io.signal })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    if (context.json) {
      writeLine(context.io.stdout, JSON.stringify(containers.map(containerJson)));
    } else if (containers.length === 0) {
      writeLine(
        context.io.stderr,
        `dde: no containers in namespace ${context.namespace}. Containers of other namespaces show with -n <namespace> (e.g. dde ls -n dde-demo); DDE_NAMESPACE sets the default.`,
      );
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
