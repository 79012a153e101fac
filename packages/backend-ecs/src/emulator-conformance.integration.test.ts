import { describeBackendConformance } from '@dde/core/testing';
import { describeWithDocker, uniqueNamespace } from '@dde/test-support';
import { startEmulatorWorld } from '../test/emulator.ts';
import { EcsBackend } from './index.ts';

// Real containers behind the ECS API: the suite connects to the tasks' ENI addresses (the
// containers' bridge IPs), so everything moto cannot show is checked here.
await describeWithDocker('EcsBackend on the ECS emulator', () => {
  describeBackendConformance('backend conformance', async () => {
    const world = await startEmulatorWorld();
    const namespace = uniqueNamespace('ecsb');
    const backend = new EcsBackend(world.backendOptions(namespace));
    const otherBackend = new EcsBackend(world.backendOptions(`${namespace}-other`));
    return {
      backend,
      otherBackend,
      image: world.image,
      // The awslogs driver merges stdout and stderr into one CloudWatch stream.
      mergedLogStreams: true,
      cleanup: async () => {
        await backend.close();
        await otherBackend.close();
        await world.close();
      },
    };
  });
});
