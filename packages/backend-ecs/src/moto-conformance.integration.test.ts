import { randomBytes } from 'node:crypto';
import { describeBackendConformance } from '@dde/core/testing';
import { describe } from 'vitest';
import { deliveredByEcs } from '../test/delivered.ts';
import { motoAvailable, motoEcsClient, prepareEcs, startMoto } from '../test/moto.ts';
import { EcsBackend } from './index.ts';

// moto runs no containers and invents task addresses: the suite reads deliveries back from the
// ECS API instead of connecting (upstreamsReachable: false). The emulator run covers the rest.
describe.runIf(motoAvailable())('EcsBackend on moto_server', () => {
  describeBackendConformance('backend conformance', async () => {
    const moto = await startMoto();
    try {
      const cluster = 'ecsb-conformance';
      const { subnets, securityGroups } = await prepareEcs(moto, cluster);
      const namespace = `ecsb-${randomBytes(3).toString('hex')}`;
      const ecs = motoEcsClient(moto);
      const settings = {
        cluster,
        subnets,
        securityGroups,
        ecs,
        inputWriterImage: 'ecsb-busybox:1',
        pollIntervalMs: 500,
      };
      const backend = new EcsBackend({ ...settings, namespace });
      const otherBackend = new EcsBackend({ ...settings, namespace: `${namespace}-other` });
      return {
        backend,
        otherBackend,
        image: 'ecsb-busybox:1',
        upstreamsReachable: false,
        delivered: (info) => deliveredByEcs(ecs, cluster, info),
        cleanup: async () => {
          await backend.close();
          await otherBackend.close();
          ecs.destroy();
          await moto.close();
        },
      };
    } catch (error) {
      await moto.close();
      throw error;
    }
  });
});
