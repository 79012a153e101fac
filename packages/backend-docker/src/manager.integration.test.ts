// The manager's lifecycle on the real engine with the memory store (its default); @dde/redis runs
// the same suite with the Redis store.
import { describeManagerLifecycle, describeWithDocker } from '@dde/test-support';
import { DockerBackend } from './docker-backend.ts';

await describeWithDocker('ContainerManager on a real engine', (docker) => {
  describeManagerLifecycle(docker, { backend: (namespace) => new DockerBackend({ namespace }) });
});
