/**
 * The baseline every launch is measured against: the same image started the way a script would
 * (`docker run -d`: create, start, then inspect for the address), on the same network as dde's
 * containers, from the same process. Baseline containers carry their own namespace label so
 * that dde's manager never adopts them.
 */
import { LABELS } from '@dde/core';
import { cleanupNamespace } from '@dde/test-support';
import type Docker from 'dockerode';
import { onCleanup } from '../../cleanup.ts';

/** What a baseline launch needs. */
export interface DockerRunOptions {
  readonly name: string;
  readonly image: string;
  /** The network dde's containers join (`DockerBackend.network`). */
  readonly network: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly memoryReservationMb?: number;
}

/** A started baseline container. */
export interface RunContainer {
  readonly id: string;
  /** Its address on `network`. */
  readonly ip: string;
}

/**
 * A namespace for baseline containers (`bl-<dde namespace>`), removed with everything in it at
 * cleanup, before dde's namespace (whose network they share) is: cleanups run last first.
 */
export function baselineNamespace(docker: Docker, namespace: string): string {
  const ns = `bl-${namespace}`;
  onCleanup(`removing the baseline containers of ${ns}`, () => cleanupNamespace(docker, ns));
  return ns;
}

/** `docker run -d` through the engine API: create, start, inspect. */
export async function dockerRun(
  docker: Docker,
  baselineNs: string,
  options: DockerRunOptions,
): Promise<RunContainer> {
  const container = await docker.createContainer({
    name: options.name,
    Image: options.image,
    Env: Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
    Labels: { [LABELS.namespace]: baselineNs },
    HostConfig: {
      NetworkMode: options.network,
      ...(options.memoryReservationMb === undefined
        ? {}
        : { MemoryReservation: options.memoryReservationMb * 1024 * 1024 }),
    },
  });
  await container.start();
  const info = await container.inspect();
  const ip = info.NetworkSettings.Networks[options.network]?.IPAddress;
  if (!ip) throw new Error(`baseline container ${options.name} has no address on ${options.network}`);
  return { id: container.id, ip };
}

/** `docker rm -f`, tolerating a container that is already gone. */
export async function dockerRemove(docker: Docker, id: string): Promise<void> {
  await docker
    .getContainer(id)
    .remove({ force: true, v: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
}

// The line upstream/server.ts prints once it listens (that file runs alone in the image and
// cannot export it).
const LISTENING = /dde-bench-upstream listening at ([0-9.]+)/;

/** When the bench upstream began to listen (epoch ms), from its log; undefined when it has not said. */
export async function listenedAt(docker: Docker, id: string): Promise<number | undefined> {
  const log = await docker.getContainer(id).logs({ stdout: true, stderr: false, follow: false });
  const match = LISTENING.exec(log.toString('latin1'));
  return match ? Number(match[1]) : undefined;
}
