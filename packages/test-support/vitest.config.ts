import { packageProject } from '../../vitest.shared.ts';

// The ECS emulator's integration tests start real containers: allow them two minutes each.
export default packageProject('test-support', { testTimeout: 120_000 });
