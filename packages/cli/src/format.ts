import type { ContainerInfo } from '@dde/core';
import { formatDuration } from '@dde/core';

/** Renders rows as an aligned text table with a header, like `docker ps`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A container as plain JSON for --json output. */
export function containerJson(info: ContainerInfo): Record<string, unknown> {
  return {
    name: info.name,
    id: info.id,
    image: info.image,
    namespace: info.namespace,
    state: info.state,
    exitCode: info.exitCode ?? null,
    createdAt: info.createdAt.toISOString(),
    startedAt: info.startedAt?.toISOString() ?? null,
    port: info.port,
    upstream: info.upstream ? `${info.upstream.host}:${info.upstream.port}` : null,
    owner: info.owner ?? null,
    memoryReservationMb: info.memoryReservationMb ?? null,
    memoryLimitMb: info.memoryLimitMb ?? null,
    cpus: info.cpus ?? null,
    labels: info.labels,
  };
}

/** The row of `dde ls` for a container. */
export function containerRow(info: ContainerInfo, now: number): string[] {
  const state =
    info.state === 'exited' && info.exitCode !== undefined ? `exited (${info.exitCode})` : info.state;
  return [
    info.name,
    state,
    info.owner ?? '-',
    info.memoryReservationMb === undefined ? '-' : `${info.memoryReservationMb} MB`,
    formatDuration(now - info.createdAt.getTime()),
    info.upstream ? `${info.upstream.host}:${info.upstream.port}` : '-',
    info.image,
  ];
}

/** Header of `dde ls`. */
export const CONTAINER_HEADER: readonly string[] = [
  'NAME',
  'STATE',
  'OWNER',
  'MEMORY',
  'AGE',
  'UPSTREAM',
  'IMAGE',
];
