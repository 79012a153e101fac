import { parseArgs } from 'node:util';
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager, FileHistory, parseDuration } from '@dde/core';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { keyValue, UsageError } from '../usage.ts';

/** `dde purge --idle <time> | --label k=v | --all`. */
export async function purge(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      idle: { type: 'string' },
      label: { type: 'string' },
      all: { type: 'boolean' },
      history: { type: 'string' },
    },
  });
  if (positionals.length > 0)
    throw new UsageError(`purge takes no names, got "${positionals.join(' ')}"`, 'purge');
  const chosen = [values.idle !== undefined, values.label !== undefined, values.all === true].filter(
    Boolean,
  ).length;
  if (chosen !== 1)
    throw new UsageError('purge needs exactly one of --idle <time>, --label KEY=VALUE or --all', 'purge');
  if (values.history !== undefined && values.idle === undefined) {
    throw new UsageError('--history only goes with --idle', 'purge');
  }
  const idleMs = values.idle === undefined ? undefined : parseDuration(values.idle, '--idle');
  const label = values.label === undefined ? undefined : keyValue('--label', values.label, 'purge');
  const history = values.history === undefined ? undefined : await FileHistory.open(values.history);
  const backend = context.backend();
  const manager = new ContainerManager({
    backend,
    ...(history ? { history } : {}),
    reconcileIntervalMs: 0,
  });
  try {
    await manager.start();
    const signal = context.io.signal;
    const removed =
      idleMs !== undefined
        ? await manager.purgeInactive(idleMs, { signal })
        : label !== undefined
          ? await manager.purgeByLabel(label[0], label[1], { signal })
          : await manager.removeAll({ signal });
    // Everything goes: the namespace's own network too (never a network given with --network).
    if (values.all === true && backend instanceof DockerBackend) await backend.removeNetwork({ signal });
    if (context.json) writeLine(context.io.stdout, JSON.stringify({ removed }));
    else for (const name of removed) writeLine(context.io.stdout, name);
    return 0;
  } finally {
    await manager.close();
  }
}
