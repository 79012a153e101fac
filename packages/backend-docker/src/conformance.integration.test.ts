import { describeBackendConformance } from '@dde/core/testing';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  NAMESPACE_LABEL,
  uniqueNamespace,
} from '@dde/test-support';
import { DockerBackend } from './index.ts';

await describeWithDocker('DockerBackend', (docker) => {
  describeBackendConformance('backend conformance', async () => {
    const namespace = uniqueNamespace('bdtest');
    const otherNamespace = `${namespace}-other`;
    const backend = new DockerBackend({ namespace });
    const otherBackend = new DockerBackend({ namespace: otherNamespace });
    const cleanup = async () => {
      await backend.close();
      await otherBackend.close();
      await cleanupNamespace(docker, namespace);
      await cleanupNamespace(docker, otherNamespace);
    };
    try {
      const image = await buildImage(docker, `${namespace}-busybox:1`, {
        labels: { [NAMESPACE_LABEL]: namespace },
      });
      return { backend, otherBackend, image, cleanup };
    } catch (error) {
      await cleanup();
      throw error;
    }
  });
});
