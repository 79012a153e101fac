import { parseArgs } from 'node:util';
import { ContainerManager, FileHistory, parseDuration } from '@dde/core';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { sharedState } from '../shared-state.ts';
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
      redis: { type: 'string' },
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
  if (values.redis !== undefined && (values.idle === undefined || values.history !== undefined)) {
    throw new UsageError('--redis only goes with --idle, instead of --history', 'purge');
  }
  // Activity several application instances share: they record it into Redis.
  const shared = values.redis === undefined ? undefined : sharedState(values.redis, context.namespace);
  const idleMs = values.idle === undefined ? undefined : parseDuration(values.idle, '--idle');
  const label = values.label === undefined ? undefined : keyValue('--label', values.label, 'purge');
  const history = values.history === undefined ? undefined : await FileHistory.open(values.history);
  const manager = new ContainerManager({
    backend: context.backend(),
    ...(history ? { history } : {}),
    ...(shared ? { history: shared.history, coordination: shared.coordination } : {}),
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
    if (context.json) writeLine(context.io.stdout, JSON.stringify({ removed }));
    else for (const name of removed) writeLine(context.io.stdout, name);
    return 0;
  } finally {
    await manager.close();
  }
}
