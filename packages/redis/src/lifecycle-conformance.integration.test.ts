// Core's lifecycle suite (single-flight, budget and LRU, limits, culling, purging, start on
// demand, metrics) with the Redis store in place of the memory store: each manager of the suite
// is an application instance sharing its namespace's state through one Redis server.
import { describeLifecycleConformance } from '@dde/core/testing';
import { redisAvailable, startRedis, type TestRedis } from '@dde/test-support';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RedisStore } from './index.ts';

const TITLE = 'ContainerManager lifecycle (Redis store)';
if (!redisAvailable())
  describe.skip(TITLE, () => it('needs redis-server (apt-get install redis-server)', () => {}));
else
  describe(TITLE, () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });
    describeLifecycleConformance('on one Redis server', {
      store: (namespace) => {
        const store = new RedisStore({ url: redis.url, namespace });
        return { history: store.history, coordination: store.coordination };
      },
    });
  });
