import type Dockerode from 'dockerode';
import { engineCall } from './api.ts';
import { untilAborted } from './concurrency.ts';

/** What a failed launch had created, or was creating, when it failed. */
export interface FailedLaunch {
  /** The container's id, once its creation answered. */
  readonly id: string | undefined;
  /** The container's creation, while its answer had not come. */
  readonly creating: Promise<string> | undefined;
  /** A volume's creation under way. */
  readonly creatingVolume: Promise<void> | undefined;
  /** Cuts the creations still under way (at the cleanup's deadline). */
  readonly creations: AbortController;
  /** Every volume the launch asked for (the engine may have made one whose answer was lost). */
  readonly volumes: readonly string[];
  /** The container's name. */
  readonly name: string;
  /**
   * Finds the container this launch created when its creation's answer was lost (by the
   * launch's own label), else undefined.
   */
  readonly findLaunched: (signal: AbortSignal) => Promise<string | undefined>;
}

/**
 * Removes what a failed launch created, within its own deadline (`signal`: the cleanup timeout,
 * or the backend closing): the launch's signal may be what failed, and an engine that accepts
 * connections but never answers must not hold the launch past it. What is left when the
 * deadline passes carries dde's labels: `list()` and the manager's reconciliation find it.
 */
export async function cleanUpLaunch(
  docker: Dockerode,
  launch: FailedLaunch,
  signal: AbortSignal,
): Promise<void> {
  const stopCreations = () => launch.creations.abort();
  signal.addEventListener('abort', stopCreations, { once: true });
  try {
    let id = launch.id;
    if (id === undefined && launch.creating !== undefined) {
      // The creation's answer may still come; if it was lost, look for this launch's label.
      id = await untilAborted(launch.creating, signal, 'cleanup').catch(() => undefined);
      id ??= await launch.findLaunched(signal);
    }
    if (id !== undefined) {
      await engineCall(docker, {
        method: 'DELETE',
        path: `/containers/${id}`,
        query: { force: true, v: true },
        signal,
      }).catch(() => undefined);
    }
    // A volume whose creation is still under way would outlive a removal sent now.
    if (launch.creatingVolume !== undefined) {
      await untilAborted(launch.creatingVolume, signal, 'cleanup').catch(() => undefined);
    }
    for (const volume of launch.volumes) {
      if (signal.aborted) break;
      await engineCall(docker, { method: 'DELETE', path: `/volumes/${volume}`, signal }).catch(
        () => undefined,
      );
    }
  } finally {
    signal.removeEventListener('abort', stopCreations);
  }
}
