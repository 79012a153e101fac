import { formatDuration } from '@dde/core';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { CONTAINER_HEADER, containerJson, containerRow, table } from '../format.ts';
import { sharedState } from '../shared-state.ts';

/**
 * `dde ls --redis <url>`: the containers with the last activity any application instance
 * recorded into Redis (`lastActivity` in JSON, `LAST ACTIVE` in the table; none when never).
 */
export async function lsWithActivity(context: CommandContext, url: string): Promise<number> {
  const store = sharedState(url, context.namespace);
  const backend = context.backend();
  try {
    await store.start();
    const containers = (await backend.list({ signal: context.io.signal })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    const last = containers.map((info) => store.history.lastActivity(info.name));
    if (context.json) {
      writeLine(
        context.io.stdout,
        JSON.stringify(
          containers.map((info, index) => ({
            ...containerJson(info),
            lastActivity: last[index]?.toISOString() ?? null,
          })),
        ),
      );
    } else {
      const now = Date.now();
      const rows = containers.map((info, index) => {
        const at = last[index];
        return [
          ...containerRow(info, now),
          at === undefined ? '-' : `${formatDuration(now - at.getTime())} ago`,
        ];
      });
      writeLine(context.io.stdout, table([...CONTAINER_HEADER, 'LAST ACTIVE'], rows));
    }
    return 0;
  } finally {
    await backend.close();
    await store.close();
  }
}
