// Several application processes (test/replica-app.ts) against one Docker Engine and one Redis.
// Three processes serve every test; each test opens its own namespace in them (one instance of
// the application per process), so tests share no container and no Redis key.
import type { ContainerSpec } from '@dde/core';
import {
  buildImage,
  buildNodeToolImage,
  cleanupNamespace,
  describeWithDocker,
  echoOnce,
  eventually,
  NAMESPACE_LABEL,
  openWebSocket,
  removeImage,
  skippedWithoutRedis,
  startRedis,
  type TestRedis,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type Instance, type Replica, startReplica } from '../test/replicas.ts';

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
if (!skippedWithoutRedis(TITLE))
  await describeWithDocker(TITLE, (docker) => {
    let redis: TestRedis;
    let namespace: string;
    let pool: Replica[] = [];
    let opened: Replica[] = [];
    const dedicated: Replica[] = [];
    /** The next application instance of this test, in the next process of the pool. */
    const instance = async (manager: Record<string, unknown> = {}, from?: Replica): Promise<Instance> => {
      const process = from ?? (pool[opened.length % pool.length] as Replica);
      opened.push(process);
      return process.open(namespace, redis.url, manager);
    };
    const containers = async (): Promise<string[]> =>
      (await docker.listContainers({ all: true, filters: { label: [`${NAMESPACE_LABEL}=${namespace}`] } }))
        .map((container) => (container.Names[0] ?? '').slice(1))
        .sort();
    const served = (on: Instance, name: string) =>
      eventually(
        async () => {
          const response = await on.get(`${name}/`).catch(() => undefined);
          return response?.status === 200 && (await response.text()).includes('dde replica tool')
            ? true
            : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
    const gone = () =>
      eventually(async () => ((await containers()).length === 0 ? true : undefined), { timeoutMs: 15_000 });

    beforeAll(async () => {
      const [started] = await Promise.all([
        startRedis(),
        buildImage(docker, IMAGE, {
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
        }),
      ]);
      redis = started;
      pool = await Promise.all([startReplica(), startReplica(), startReplica()]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all(pool.map((process) => process.kill()));
      await redis?.stop();
      await removeImage(docker, IMAGE).catch(() => {});
    });
    beforeEach(() => {
      namespace = uniqueNamespace('rep');
      opened = [];
    });
    afterEach(async () => {
      await Promise.all(dedicated.splice(0).map((process) => process.kill('SIGKILL')));
      await Promise.all(opened.map((process) => process.close(namespace)));
      await cleanupNamespace(docker, namespace);
    });

    it('refuses to start, with STATE_UNAVAILABLE naming the URL, when Redis cannot be reached', async () => {
      opened.push(pool[0] as Replica);
      const answer = await (pool[0] as Replica).openFailing(namespace, 'redis://127.0.0.1:1');
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe('STATE_UNAVAILABLE');
      expect(answer.body.message).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    });

    it('proxies through B, within seconds, a container launched on A; the same name launched on both at once is one container', async () => {
      const [a, b] = await Promise.all([instance(), instance()]);
      expect((await a.launch(tool('shared'))).status).toBe(200);
      const started = Date.now();
      await served(b, 'shared');
      expect(Date.now() - started).toBeLessThan(10_000);
      const [onA, onB] = await Promise.all([a.launch(tool('twice')), b.launch(tool('twice'))]);
      // A failure shows the message of the refused launch.
      expect([onA, onB].map((outcome) => (outcome.status === 200 ? 200 : outcome.body.message))).toEqual([
        200, 200,
      ]);
      expect(onA.body.id).toBe(onB.body.id);
      expect(await containers()).toEqual(['shared', 'twice']);
    });

    it('a different spec under a name another instance is launching is a CONFLICT, on either instance', async () => {
      const [a, b] = await Promise.all([instance(), instance()]);
      const first = tool('contested');
      const second = tool('contested', { env: { FLAVOUR: 'other' } });
      const outcomes = await Promise.all([a.launch(first), b.launch(second)]);
      const statuses = outcomes.map((outcome) => outcome.status).sort();
      expect(statuses).toEqual([200, 409]);
      const winner = outcomes[0]?.status === 200 ? first : second;
      const loser = winner === first ? second : first;
      for (const on of [a, b]) {
        expect((await on.launch(loser)).body.code).toBe('CONFLICT');
      }
      expect(await containers()).toEqual(['contested']);
    });

    it('activity through B keeps A from culling; once it stops, A culls', async () => {
      const culling = { idleTimeoutMs: 3000, intervalMs: 500 };
      const [a, b] = await Promise.all([instance({ culling }), instance()]);
      expect((await b.launch(tool('used'))).status).toBe(200);
      await served(b, 'used');
      const until = Date.now() + 6000;
      while (Date.now() < until) {
        expect((await b.get('used/')).status).toBe(200);
        await sleep(400);
      }
      expect(await containers()).toEqual(['used']);
      // Idle now: A culls it once the idle time passes.
      await gone();
      // The log line may trail the engine's removal (the history is forgotten first; stderr is a pipe).
      await eventually(() =>
        a.logs().some((line) => line.message === 'removed container' && line.reason === 'idle')
          ? true
          : undefined,
      );
    });

    it('an exchange in flight on B keeps A from evicting the container; once it ends A may', async () => {
      const capacity = { memoryBudgetMb: 100 };
      const [a, b] = await Promise.all([instance({ capacity }), instance({ capacity })]);
      expect((await b.launch(tool('busy', { memoryReservationMb: 64 }))).status).toBe(200);
      await served(b, 'busy');
      const slow = b.get('busy/cgi-bin/slow');
      await sleep(1500); // B says what it serves about once a second
      const refused = await a.launch(tool('newcomer', { memoryReservationMb: 64 }));
      expect(refused.body.code).toBe('CAPACITY_EXCEEDED');
      expect((await slow).status).toBe(200);
      await eventually(
        async () =>
          (await a.launch(tool('newcomer', { memoryReservationMb: 64 }))).status === 200 ? true : undefined,
        { timeoutMs: 10_000, intervalMs: 500 },
      );
      expect(await containers()).toEqual(['newcomer']);
    });

    it('an open WebSocket on B keeps A from evicting the container; once it closes A may', async () => {
      // A tool that speaks WebSocket (busybox httpd does not), labelled with the test's namespace
      // so that afterEach removes it.
      const wsImage = await buildNodeToolImage(docker, `dde-rep-ws:${namespace}`, namespace);
      const capacity = { memoryBudgetMb: 100 };
      const [a, b] = await Promise.all([instance({ capacity }, pool[0]), instance({ capacity }, pool[1])]);
      expect(
        (await b.launch({ name: 'talking', image: wsImage, port: 80, memoryReservationMb: 64 })).status,
      ).toBe(200);
      await eventually(
        async () => ((await b.get('talking/').catch(() => undefined))?.status === 200 ? true : undefined),
        {
          timeoutMs: 20_000,
          intervalMs: 100,
        },
      );
      const socket = await openWebSocket((pool[1] as Replica).port, `/${namespace}/docker/talking/ws`);
      try {
        expect((await echoOnce(socket, 'through B')).toString()).toBe('through B');
        // No HTTP request in flight: only the open WebSocket says the container is in use.
        await sleep(1500); // B says what it serves about once a second
        const refused = await a.launch(tool('newcomer', { memoryReservationMb: 64 }));
        expect(refused.body.code).toBe('CAPACITY_EXCEEDED');
        expect(await containers()).toEqual(['talking']);
        expect((await echoOnce(socket, 'still open')).toString()).toBe('still open');
      } finally {
        socket.close();
      }
      await eventually(
        async () =>
          (await a.launch(tool('newcomer', { memoryReservationMb: 64 }))).status === 200 ? true : undefined,
        { timeoutMs: 10_000, intervalMs: 500 },
      );
      expect(await containers()).toEqual(['newcomer']);
    }, 120_000);

    it('20 concurrent launches spread over three instances never exceed the budget or the per-owner limit', async () => {
      const manager = { capacity: { memoryBudgetMb: 160 }, limits: { maxPerOwner: 2 } };
      const instances = await Promise.all([instance(manager), instance(manager), instance(manager)]);
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
          (instances[index % 3] as Instance).launch(
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

    it('launches beyond maxConcurrentStarts on three instances wait: never more starting than the limit, every one starts', async () => {
      const limit = 2;
      const instances = await Promise.all(
        [0, 1, 2].map(() => instance({ limits: { maxConcurrentStarts: limit } })),
      );
      // The tool answers a second after it runs: each start holds its slot that long.
      const slow = (name: string) =>
        tool(name, { command: ['sh', '-c', 'sleep 1; exec httpd -f -p 80 -h /www'] });
      const names = Array.from({ length: 9 }, (_, index) => `queue-${index}`);
      // Starting: a container of the namespace that no instance says is ready (or failed) yet.
      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const listed = await containers();
          const settled = await Promise.all(
            listed.map(async (name) => {
              const answers = await Promise.all(
                instances.map((on) =>
                  on.get(`${name}/.dde/ready`).then(
                    (response) => response.status,
                    () => 0,
                  ),
                ),
              );
              return answers.some((status) => status === 200 || status === 502);
            }),
          );
          most = Math.max(most, settled.filter((done) => !done).length);
          await sleep(50);
        }
      })();
      const outcomes = await Promise.all(
        names.map((name, index) => (instances[index % 3] as Instance).launch(slow(name))),
      );
      await Promise.all(names.map((name, index) => served(instances[index % 3] as Instance, name)));
      sampling = false;
      await sampler;
      expect(outcomes.map((outcome) => outcome.status)).toEqual(names.map(() => 200));
      expect(await containers()).toEqual([...names].sort());
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(limit);
    });

    it('killing A (SIGKILL) mid-traffic leaves B serving, and B culls', async () => {
      const culling = { idleTimeoutMs: 3000, intervalMs: 500 };
      dedicated.push(...(await Promise.all([startReplica(), startReplica()])));
      const [a, b] = await Promise.all([
        instance({ culling }, dedicated[0]),
        instance({ culling }, dedicated[1]),
      ]);
      expect((await a.launch(tool('survivor'))).status).toBe(200);
      await Promise.all([served(a, 'survivor'), served(b, 'survivor')]);
      const traffic = Array.from({ length: 10 }, () => a.get('survivor/').catch(() => undefined));
      await (dedicated[0] as Replica).kill('SIGKILL');
      await Promise.all(traffic);
      for (let index = 0; index < 5; index++) expect((await b.get('survivor/')).status).toBe(200);
      await gone();
      // The log line may trail the engine's removal (the history is forgotten first; stderr is a pipe).
      await eventually(() =>
        b.logs().some((line) => line.message === 'removed container' && line.reason === 'idle')
          ? true
          : undefined,
      );
    });

    it('Redis lost while running: proxying goes on, launches are refused, culling pauses; all resumes when it returns', async () => {
      const culling = { idleTimeoutMs: 2000, intervalMs: 300 };
      const [a, b] = await Promise.all([instance({ culling }), instance()]);
      expect((await b.launch(tool('steady'))).status).toBe(200);
      await served(b, 'steady');
      await redis.stop();
      try {
        const refused = await a.launch(tool('refused'));
        expect(refused.status).toBe(503);
        expect(refused.body.code).toBe('STATE_UNAVAILABLE');
        // Idle well past the timeout, yet nobody culls while Redis is away.
        const until = Date.now() + 3500;
        while (Date.now() < until) {
          expect((await a.get('steady/')).status).toBe(200);
          await sleep(500);
        }
        await sleep(2500);
        expect(await containers()).toEqual(['steady']);
      } finally {
        await redis.restart();
      }
      await eventually(async () => ((await a.launch(tool('after'))).status === 200 ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 500,
      });
      // Culling resumes: both idle containers go.
      await gone();
      const lost = a.logs().filter((line) => String(line.message).startsWith('lost the connection to Redis'));
      expect(lost).toHaveLength(1);
      expect(a.logs().some((line) => String(line.message).startsWith('Redis is reachable again'))).toBe(true);
    });
  });
