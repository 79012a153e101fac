/** The baseline: the load generator talks to the container's bridge address itself. */
import type { Target } from './types.ts';

/** Direct access to the upstream, no proxy. */
export const directTarget: Target = {
  id: 'direct',
  label: 'direct (bridge IP)',
  unavailable: async () => undefined,
  async start({ upstream }) {
    const base = `${upstream.host}:${upstream.port}`;
    return { httpUrl: `http://${base}/`, wsUrl: `ws://${base}/`, stop: async () => {} };
  },
};
