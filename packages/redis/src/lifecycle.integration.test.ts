// The manager's lifecycle on the real engine (backend-docker's suite, from @dde/test-support)
// with the Redis store in place of the memory store: every manager of the suite is an
// application instance sharing its namespace's state through one Redis server.
import { DockerBackend } from '@dde/backend-docker';
import { describeManagerLifecycle, describeWithDockerAndRedis } from '@dde/test-support';
import { RedisStore } from './index.ts';

await describeWithDockerAndRedis(
  'ContainerManager on a real engine with the Redis store',
  (docker, redis) => {
    describeManagerLifecycle(docker, {
      namespacePrefix: 'dr-mgr',
      backend: (namespace) => new DockerBackend({ namespace }),
      // The manager starts the store (connects) and closes it.
      store: (namespace) => {
        const store = new RedisStore({ url: redis().url, namespace });
        return { history: store.history, coordination: store.coordination };
      },
    });
  },
);
