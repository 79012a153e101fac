import { packageProject } from '../../vitest.shared.ts';

// Integration tests build images and start real containers: allow them two minutes each.
export default packageProject('proxy-express', { testTimeout: 120_000 });
