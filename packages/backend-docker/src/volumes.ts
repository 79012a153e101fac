import type { LaunchPlan } from '@dde/core';
import { namespaceFilter } from '@dde/core';
import type Dockerode from 'dockerode';
import { engineCall } from './api.ts';
import type { ContainerJson, VolumeSummary } from './container-json.ts';
import { isNotFound, toDdeError } from './errors.ts';

// The volumes of a spec's `extraDirectories`: one per directory, labelled with the namespace and
// the container, created before the container and removed with it.

/** Label on the volumes of a spec's `extraDirectories`: the name of the container they belong to. */
export const VOLUME_CONTAINER_LABEL = 'dde.container';

/** Where volumes are made and removed: the client, and the engine's URL for messages. */
export interface VolumeEngine {
  readonly docker: Dockerode;
  readonly url: string;
}

/** Creates the volume of one extra directory of `plan`'s container, with its labels. */
export async function createDirectoryVolume(
  engine: VolumeEngine,
  plan: LaunchPlan,
  volumeName: string,
  path: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    await engineCall(engine.docker, {
      method: 'POST',
      path: '/volumes/create',
      body: {
        Name: volumeName,
        Labels: { ...plan.labels, [VOLUME_CONTAINER_LABEL]: plan.spec.name, 'dde.path': path },
      },
      signal,
    });
  } catch (error) {
    throw toDdeError(error, {
      what: 'creation of a volume for extraDirectories',
      engine: engine.url,
      signal,
    });
  }
}

/** Removes the volumes of `container` that carry the namespace's labels (its extra directories). */
export async function removeDirectoryVolumes(
  engine: VolumeEngine,
  namespace: string,
  container: ContainerJson,
  name: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const mounted = new Set((container.Mounts ?? []).map((mount) => mount.Name).filter(Boolean));
  if (mounted.size === 0) return;
  let volumes: VolumeSummary[];
  try {
    const listed = await engineCall<{ Volumes: VolumeSummary[] | null }>(engine.docker, {
      method: 'GET',
      path: '/volumes',
      query: { filters: { label: [...namespaceFilter(namespace), `${VOLUME_CONTAINER_LABEL}=${name}`] } },
      signal,
    });
    volumes = listed.Volumes ?? [];
  } catch (error) {
    throw toDdeError(error, { what: `listing the volumes of ${name}`, engine: engine.url, signal });
  }
  for (const volume of volumes) {
    if (!mounted.has(volume.Name)) continue;
    try {
      await engineCall(engine.docker, { method: 'DELETE', path: `/volumes/${volume.Name}`, signal });
    } catch (error) {
      if (!isNotFound(error)) {
        throw toDdeError(error, { what: `removal of volume ${volume.Name}`, engine: engine.url, signal });
      }
    }
  }
}
