/** What the engine holds for a namespace: the suites' check that nothing was orphaned. */
import { LABELS } from '@dde/core';
import type Docker from 'dockerode';

/** Containers labelled with `namespace`, by state (`running`, `exited`, ...). */
export async function containersByState(docker: Docker, namespace: string): Promise<Record<string, number>> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.namespace}=${namespace}`] },
  });
  const states: Record<string, number> = {};
  for (const container of list) states[container.State] = (states[container.State] ?? 0) + 1;
  return states;
}

/** The number of containers in `states`. */
export function total(states: Record<string, number>): number {
  return Object.values(states).reduce((sum, n) => sum + n, 0);
}
