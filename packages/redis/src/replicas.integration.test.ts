// Several application processes (test/replica-app.ts) against one Docker Engine and one Redis.
import type { ContainerSpec } from '@dde/core';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  eventually,
  NAMESPACE_LABEL,
  removeImage,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type TestRedis } from '../test/redis-server.ts';
import { failingReplica, type Replica, startReplica } from '../test/replicas.ts';

const imageNamespace = uniqueNamespace('rep-image');
const IMAGE = `dde-rep-tool:${imageNamespace}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const tool = (name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  name,
  image: IMAGE,
  command: ['httpd', '-f', '-p', '80', '-h', '/www'],
  readiness: { path: '/', timeoutMs: 30_000 },
  ...extra,
});

const TITLE = 'replicas sharing one namespace through Redis';
if (!redisAvailable())
  describe.skip(TITLE, () => it('needs redis-server (apt-get install redis-server)', () => {}));
else
  await describeWithDocker(TITLE, (docker) => {
    let redis: TestRedis;
    let namespace: string;
    const replicas: Replica[] = [];
    const replica = async (manager: Record<string, unknown> = {}): Promise<Replica> => {
      const started = await startReplica({ redisUrl: redis.url, namespace, manager });
      replicas.push(started);
      return started;
    };
    const containers = async (): Promise<string[]> =>
      (await docker.listContainers({ all: true, filters: { label: [`${NAMESPACE_LABEL}=${namespace}`] } }))
        .map((container) => (container.Names[0] ?? '').slice(1))
        .sort();
    const served = (instance: Replica, name: string, path = '/') =>
      eventually(
        async () => {
          const response = await instance.get(`/docker/${name}${path}`).catch(() => undefined);
          return response?.status === 200 && (await response.text()).includes('dde replica tool')
            ? true
            : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );

    beforeAll(async () => {
      redis = await startRedis();
      await buildImage(docker, IMAGE, {
        labels: { [NAMESPACE_LABEL]: imageNamespace },
        files: {
          'www/index.html': '<p>dde replica tool</p>\n',
          'www/cgi-bin/slow': "#!/bin/sh\nsleep 4\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow\\n'\n",
        },
        dockerfile: [
          'FROM scratch',
          'COPY busybox /bin/busybox',
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
          'COPY www /www',
          'RUN chmod 755 /www/cgi-bin/slow',
          '',
        ].join('\n'),
      });
    }, 120_000);
    afterAll(async () => {
      await redis?.stop();
      await removeImage(docker, IMAGE).catch(() => {});
    });
    beforeEach(() => {
      namespace = uniqueNamespace('rep');
    });
    afterEach(async () => {
      await Promise.all(replicas.splice(0).map((instance) => instance.kill('SIGKILL')));
      await cleanupNamespace(docker, namespace);
    });
    it('refuses to start, with STATE_UNAVAILABLE, when Redis cannot be reached', async () => {
      const { code, logs } = await failingReplica({ redisUrl: 'redis://127.0.0.1:1', namespace });
      expect(code).toBe(3);
      expect(logs.find((line) => line.level === 'fatal')).toMatchObject({ code: 'STATE_UNAVAILABLE' });
    });

    it('proxies through B, within seconds, a container launched on A; the same name launched on both at once is one container', async () => {
      const [a, b] = await Promise.all([replica(), replica()]);
      expect((await a.control('launch', tool('shared'))).status).toBe(200);
      const started = Date.now();
      await served(b, 'shared');
      expect(Date.now() - started).toBeLessThan(10_000);
      const [onA, onB] = await Promise.all([
        a.control('launch', tool('twice')),
        b.control('launch', tool('twice')),
      ]);
      expect([onA.status, onB.status]).toEqual([200, 200]);
      expect(onA.body.id).toBe(onB.body.id);
      expect(await containers()).toEqual(['shared', 'twice']);
    });

    it('a different spec under a name another instance is launching is a CONFLICT, on either instance', async () => {
      const [a, b] = await Promise.all([replica(), replica()]);
      const first = tool('contested');
      const second = tool('contested', { env: { FLAVOUR: 'other' } });
      const outcomes = await Promise.all([a.control('launch', first), b.control('launch', second)]);
      const statuses = outcomes.map((outcome) => outcome.status).sort();
      expect(statuses).toEqual([200, 409]);
      const winner = outcomes[0]?.status === 200 ? first : second;
      const loser = winner === first ? second : first;
      for (const instance of [a, b]) {
        expect((await instance.control('launch', loser)).body.code).toBe('CONFLICT');
      }
      expect(await containers()).toEqual(['contested']);
    });

    it('activity through B keeps A from culling; once it stops, A culls', async () => {
      const culling = { idleTimeoutMs: 3000, intervalMs: 500 };
      const [a, b] = await Promise.all([replica({ culling }), replica()]);
      expect((await b.control('launch', tool('used'))).status).toBe(200);
      await served(b, 'used');
      const until = Date.now() + 6000;
      while (Date.now() < until) {
        expect((await b.get('/docker/used/')).status).toBe(200);
        await sleep(400);
      }
      expect(await containers()).toEqual(['used']);
      // Idle now: A culls it once the idle time passes.
      await eventually(async () => ((await containers()).length === 0 ? true : undefined), {
        timeoutMs: 10_000,
      });
      expect(a.logs.some((line) => line.message === 'removed container' && line.reason === 'idle')).toBe(
        true,
      );
    });

    it('an exchange in flight on B keeps A from evicting the container; once it ends A may', async () => {
      const capacity = { memoryBudgetMb: 100 };
      const [a, b] = await Promise.all([replica({ capacity }), replica({ capacity })]);
      expect((await b.control('launch', tool('busy', { memoryReservationMb: 64 }))).status).toBe(200);
      await served(b, 'busy');
      const slow = b.get('/docker/busy/cgi-bin/slow');
      await sleep(1500); // B says what it serves about once a second
      const refused = await a.control('launch', tool('newcomer', { memoryReservationMb: 64 }));
      expect(refused.body.code).toBe('CAPACITY_EXCEEDED');
      expect((await slow).status).toBe(200);
      await eventually(
        async () =>
          (await a.control('launch', tool('newcomer', { memoryReservationMb: 64 }))).status === 200
            ? true
            : undefined,
        { timeoutMs: 10_000, intervalMs: 500 },
      );
      expect(await containers()).toEqual(['newcomer']);
    });

    it('20 concurrent launches spread over three instances never exceed the budget or the per-owner limit', async () => {
      const manager = { capacity: { memoryBudgetMb: 160 }, limits: { maxPerOwner: 2 } };
      const instances = await Promise.all([replica(manager), replica(manager), replica(manager)]);
      let most = 0;
      let mostAlice = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const listed = await docker.listContainers({
            all: true,
            filters: { label: [`${NAMESPACE_LABEL}=${namespace}`] },
          });
          most = Math.max(most, listed.length);
          mostAlice = Math.max(mostAlice, listed.filter((c) => c.Labels['dde.owner'] === 'alice').length);
          await sleep(50);
        }
      })();
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          (instances[index % 3] as Replica).control(
            'launch',
            tool(`crowd-${index}`, {
              memoryReservationMb: 32,
              owner: index % 2 === 0 ? 'alice' : `user-${index}`,
            }),
          ),
        ),
      );
      sampling = false;
      await sampler;
      const left = await containers();
      expect(left.length).toBeLessThanOrEqual(5);
      expect(most).toBeLessThanOrEqual(5);
      expect(mostAlice).toBeLessThanOrEqual(2);
      expect(outcomes.filter((outcome) => outcome.status === 200).length).toBeGreaterThanOrEqual(5);
      for (const outcome of outcomes.filter((o) => o.status !== 200)) {
        expect(['CAPACITY_EXCEEDED', 'LIMIT_EXCEEDED']).toContain(outcome.body.code);
      }
    });

    it('killing A (SIGKILL) mid-traffic leaves B serving, and B culls', async () => {
      const culling = { idleTimeoutMs: 3000, intervalMs: 500 };
      const [a, b] = await Promise.all([replica({ culling }), replica({ culling })]);
      expect((await a.control('launch', tool('survivor'))).status).toBe(200);
      await Promise.all([served(a, 'survivor'), served(b, 'survivor')]);
      const traffic = Array.from({ length: 10 }, () => a.get('/docker/survivor/').catch(() => undefined));
      await a.kill('SIGKILL');
      await Promise.all(traffic);
      for (let index = 0; index < 5; index++) expect((await b.get('/docker/survivor/')).status).toBe(200);
      await eventually(async () => ((await containers()).length === 0 ? true : undefined), {
        timeoutMs: 15_000,
      });
      expect(b.logs.some((line) => line.message === 'removed container' && line.reason === 'idle')).toBe(
        true,
      );
    });

    it('Redis lost while running: proxying goes on, launches are refused, culling pauses; all resumes when it returns', async () => {
      const culling = { idleTimeoutMs: 2000, intervalMs: 300 };
      const [a, b] = await Promise.all([replica({ culling }), replica()]);
      expect((await b.control('launch', tool('steady'))).status).toBe(200);
      await served(b, 'steady');
      await redis.stop();
      try {
        const refused = await a.control('launch', tool('refused'));
        expect(refused.status).toBe(503);
        expect(refused.body.code).toBe('STATE_UNAVAILABLE');
        // Idle well past the timeout, yet nobody culls while Redis is away.
        const until = Date.now() + 3500;
        while (Date.now() < until) {
          expect((await a.get('/docker/steady/')).status).toBe(200);
          await sleep(500);
        }
        await sleep(2500);
        expect(await containers()).toEqual(['steady']);
      } finally {
        await redis.restart();
      }
      await eventually(
        async () => ((await a.control('launch', tool('after'))).status === 200 ? true : undefined),
        { timeoutMs: 15_000, intervalMs: 500 },
      );
      // Culling resumes: both idle containers go.
      await eventually(async () => ((await containers()).length === 0 ? true : undefined), {
        timeoutMs: 15_000,
      });
      const lost = a.logs.filter((line) => String(line.message).startsWith('lost the connection to Redis'));
      expect(lost).toHaveLength(1);
      expect(a.logs.some((line) => String(line.message).startsWith('Redis is reachable again'))).toBe(true);
    });
  });
