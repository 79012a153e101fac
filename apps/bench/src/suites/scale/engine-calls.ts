/**
 * Counts the Engine API requests a DockerBackend makes: a dockerode client whose modem tallies
 * every request by method and path pattern (ids replaced by `{id}`) before sending it.
 */
import Docker from 'dockerode';

/** A counting client and its tallies. */
export interface CountingDocker {
  readonly docker: Docker;
  /** Requests since the last reset, by `METHOD /path/{id}`. */
  counts(): Record<string, number>;
  reset(): void;
}

/** `GET /containers/0123abcd.../json?` -> `GET /containers/{id}/json`. */
export function callPattern(method: string | undefined, path: string | undefined): string {
  const clean = (path ?? '').replace(/\?$/, '').replace(/\/[0-9a-f]{12,64}(?=\/|$)/g, '/{id}');
  return `${method ?? 'GET'} ${clean}`;
}

/** A dockerode client (default engine resolution) that counts its requests. */
export function countingDocker(): CountingDocker {
  const docker = new Docker();
  let tallies: Record<string, number> = {};
  const modem = docker.modem as unknown as {
    dial: (options: { method?: string; path?: string }, ...rest: unknown[]) => unknown;
  };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, ...rest) => {
    const key = callPattern(options.method, options.path);
    tallies[key] = (tallies[key] ?? 0) + 1;
    return dial(options, ...rest);
  };
  return {
    docker,
    counts: () => ({ ...tallies }),
    reset: () => {
      tallies = {};
    },
  };
}
