import { parseArgs } from 'node:util';
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager, FileHistory, formatDuration, parseDuration } from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { sharedState } from '../shared-state.ts';
import { keyValue, UsageError } from '../usage.ts';

/** `dde purge --idle <time> | --label k=v | --all`. */
export async function purge(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('purge', args, PURGE_OPTIONS, () =>
    parseArgs({ args, allowPositionals: true, options: PURGE_OPTIONS }),
  );
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
  const backend = context.backend();
  const manager = new ContainerManager({
    backend,
    ...(history ? { history } : {}),
    ...(shared ? { history: shared.history, coordination: shared.coordination } : {}),
    reconcileIntervalMs: 0,
  });
  if (idleMs !== undefined && history === undefined && shared === undefined) {
    writeLine(
      context.io.stderr,
      'dde: warning: without --history dde cannot see when a container was last used, so each counts as idle since it started. ' +
        'Give the file the proxy records to (dde proxy --history FILE, then dde purge --idle ... --history FILE); --dry-run shows what would go.',
    );
  }
  const dryRun = values['dry-run'] === true;
  try {
    await manager.start();
    const signal = context.io.signal;
    const now = Date.now();
    // Why each one goes, said before it is gone (its activity is forgotten with it).
    const why = new Map<string, string>();
    for (const route of manager.list()) {
      const since = manager.lastActivity(route.name) ?? route.info.startedAt ?? route.info.createdAt;
      why.set(
        route.name,
        idleMs !== undefined
          ? `idle ${formatDuration(now - since.getTime())}`
          : label !== undefined
            ? `label ${label[0]}=${label[1]}`
            : 'all',
      );
    }
    const names =
      idleMs !== undefined
        ? await manager.purgeInactive(idleMs, { signal, dryRun })
        : dryRun
          ? manager
              .list()
              .filter((route) => label === undefined || route.info.labels[label[0]] === label[1])
              .map((route) => route.name)
              .sort()
          : label !== undefined
            ? await manager.purgeByLabel(label[0], label[1], { signal })
            : await manager.removeAll({ signal });
    // Everything goes: the namespace's own network too (never a network given with --network).
    if (values.all === true && !dryRun && backend instanceof DockerBackend)
      await backend.removeNetwork({ signal });
    if (context.json) {
      writeLine(
        context.io.stdout,
        JSON.stringify(dryRun ? { dryRun, wouldRemove: names } : { removed: names }),
      );
    } else {
      for (const name of names) {
        const reason = why.get(name);
        writeLine(
          context.io.stdout,
          `${dryRun ? 'would remove' : 'removed'} ${name}${reason && reason !== 'all' ? ` (${reason})` : ''}`,
        );
      }
      if (names.length === 0)
        writeLine(
          context.io.stderr,
          `dde: nothing to ${dryRun ? 'remove' : 'purge'} in namespace ${context.namespace}`,
        );
    }
    return 0;
  } finally {
    await manager.close();
  }
}

const PURGE_OPTIONS = {
  idle: { type: 'string' },
  label: { type: 'string' },
  all: { type: 'boolean' },
  history: { type: 'string' },
  redis: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;
