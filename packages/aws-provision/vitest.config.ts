import { mergeConfig } from 'vitest/config';
import { packageProject } from '../../vitest.shared.ts';

// Integration tests run cfn-lint and share one moto_server (a Python start-up and a slow first
// stack each), started by the global setup.
export default mergeConfig(packageProject('aws-provision', { testTimeout: 90_000 }), {
  test: { globalSetup: ['./test/moto-global-setup.ts'] },
});
