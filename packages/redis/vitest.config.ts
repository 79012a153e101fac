import { packageProject } from '../../vitest.shared.ts';

// The replica tests start a Redis server, several application processes and real containers.
export default packageProject('redis', { testTimeout: 60_000 });
