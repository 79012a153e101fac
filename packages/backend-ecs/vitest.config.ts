import { packageProject } from '../../vitest.shared.ts';

// Integration tests start moto_server or run real tasks on the ECS emulator: two minutes each.
export default packageProject('backend-ecs', { testTimeout: 120_000 });
