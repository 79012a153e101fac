import { packageProject } from '../../vitest.shared.ts';

// Integration tests pull, build and start real containers: allow them two minutes each.
export default packageProject('backend-docker', { testTimeout: 120_000 });
