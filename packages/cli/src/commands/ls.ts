import { parseArgs } from 'node:util';
import { createDockerClient, resolveEngine } from '@dde/backend-docker';
import { LABELS } from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { CONTAINER_HEADER, containerJson, containerRow, table } from '../format.ts';
import { UsageError } from '../usage.ts';
import { lsWithActivity } from './ls-activity.ts';

/** `dde ls`. */
export async function ls(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('ls', args, LS_OPTIONS, () =>
    parseArgs({ args, allowPositionals: true, options: LS_OPTIONS }),
  );
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
    } else if (containers.length === 0) {
      const others = await otherNamespaces(context);
      writeLine(
        context.io.stderr,
        others.length > 0
          ? `dde: no containers in namespace ${context.namespace}; these namespaces have some: ${others.join(', ')} (dde ls -n ${others[0]}; DDE_NAMESPACE sets the default)`
          : `dde: no containers in namespace ${context.namespace} (-n <namespace> chooses another; DDE_NAMESPACE sets the default)`,
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

/**
 * The other namespaces with dde containers on the engine, for the hint of an empty `dde ls`
 * (one engine call, Docker only: a test's own backend has no engine to ask). Empty when the
 * engine cannot say.
 */
async function otherNamespaces(context: CommandContext): Promise<string[]> {
  if (context.io.backend) return [];
  try {
    const docker = createDockerClient(resolveEngine({ env: context.io.env }).endpoint, context.io.env);
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.managed}=true`] },
      abortSignal: context.io.signal,
    });
    const names = new Set(containers.map((container) => container.Labels?.[LABELS.namespace] ?? ''));
    names.delete('');
    names.delete(context.namespace);
    return [...names].sort();
  } catch {
    return [];
  }
}

const LS_OPTIONS = { redis: { type: 'string' } } as const;
