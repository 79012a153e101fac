// Core's lifecycle suite (single-flight, budget and LRU, limits, culling, purging, start on
// demand, metrics) with the Redis store in place of the memory store: each manager of the suite
// is an application instance sharing its namespace's state through one Redis server.
import { describeLifecycleConformance } from '@dde/core/testing';
import { describeWithRedis } from '@dde/test-support';
import { RedisStore } from './index.ts';

describeWithRedis('ContainerManager lifecycle (Redis store)', (redis) => {
  describeLifecycleConformance('on one Redis server', {
    store: (namespace) => {
      const store = new RedisStore({ url: redis().url, namespace });
      return { history: store.history, coordination: store.coordination };
    },
  });
});
