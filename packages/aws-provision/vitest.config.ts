import { packageProject } from '../../vitest.shared.ts';

// Integration tests start moto_server and run cfn-lint (a Python start-up of a few seconds each).
export default packageProject('aws-provision', { testTimeout: 90_000 });
