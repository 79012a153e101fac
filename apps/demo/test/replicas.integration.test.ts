/**
 * Two instances of the demo (child processes, as `npm run demo -- --redis <url>` starts them) on
 * two ports, against one Docker Engine and one Redis: a tool launched through the first is served
 * through the second (HTTP and WebSocket), and what the second serves shows in the first's
 * request history, read from Redis.
 */
import { rm } from 'node:fs/promises';
import {
  describeWithDocker,
  openWebSocket,
  redisAvailable,
  startRedis,
  type TestRedis,
} from '@dde/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { DemoProcess } from './harness.ts';
import { dataDir, freePort, removeEverything, runId, startDemoProcess } from './harness.ts';

const id = runId();
const namespace = `dr-demo-${id}`;
const imagePrefix = `dr-demo-${id}`;
const tool = `live-${id}`;

/** Polls `check` until it returns a value; fails with the last thing seen. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The next text message of a WebSocket that `accept` takes. */
function nextMessage(socket: WebSocket, accept: (message: { type?: string; text?: string }) => boolean) {
  return new Promise<{ type?: string; text?: string }>((resolve, reject) => {
    const onMessage = (data: Buffer): void => {
      const message = JSON.parse(data.toString()) as { type?: string; text?: string };
      if (!accept(message)) return;
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
    socket.once('error', reject);
  });
}

const TITLE = 'two demo instances sharing one namespace through Redis';
if (!redisAvailable())
  describe.skip(TITLE, () => it('needs redis-server (apt-get install redis-server)', () => {}));
else
  await describeWithDocker(TITLE, (docker) => {
    let redis: TestRedis;
    const dirs: string[] = [];
    const demos: DemoProcess[] = [];

    /** One demo instance of the namespace on a port of its own, with its own data directory. */
    const instance = async (redisUrl: string): Promise<DemoProcess> => {
      const dir = await dataDir();
      dirs.push(dir);
      const demo = await startDemoProcess([
        '--port',
        String(await freePort()),
        '--namespace',
        namespace,
        '--image-prefix',
        imagePrefix,
        '--data-dir',
        dir,
        '--redis',
        redisUrl,
      ]);
      demos.push(demo);
      return demo;
    };

    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await Promise.all(demos.map((demo) => demo.stop()));
      await redis?.stop();
      await removeEverything(docker, [namespace], imagePrefix);
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    });

    it('refuses to start when Redis cannot be reached, saying where and what to fix', async () => {
      const refused = await instance('redis://127.0.0.1:1').then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/exited with code 1 before listening/);
      expect(refused).toMatch(/cannot start: Cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*fix --redis/s);
    });

    it('refuses a malformed --redis URL before doing anything', async () => {
      const refused = await instance('http://127.0.0.1:6379').then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/exited with code 2 before listening/);
      expect(refused).toMatch(/--redis must be a redis:\/\/ or rediss:\/\/ URL/);
    });

    it('serves through instance 2 (HTTP and WebSocket) a tool launched through instance 1; 1 shows what 2 served', async () => {
      const [one, two] = await Promise.all([instance(redis.url), instance(redis.url)]);
      expect(one.output()).toMatch(/sharing activity, admission and culling of namespace .* through Redis/);

      const form = new FormData();
      form.set('tool', 'live');
      form.set('delivery', 'env');
      form.set('name', tool);
      form.set('live.greeting', 'Hello from instance 1');
      const launched = await fetch(`${one.url}/launch`, { method: 'POST', body: form, redirect: 'manual' });
      expect(launched.status).toBe(303);
      expect(launched.headers.get('location')).toBe(`/containers/${tool}/launch`);
      // The first launch builds the tool images of this run's prefix.
      await until(
        'the tool is ready on instance 1',
        async () => {
          const status = (await (await fetch(`${one.url}/containers/${tool}/status`)).json()) as {
            phase?: string;
            failure?: string;
          };
          if (status.phase === 'failed') throw new Error(`the launch failed: ${status.failure}`);
          return status.phase === 'ready' ? true : undefined;
        },
        180_000,
      );

      // Instance 2 never launched it: it learns the route from the engine.
      const page = await until(
        'instance 2 serves the tool',
        async () => {
          const response = await fetch(`${two.url}/docker/${tool}/served-by-two`);
          return response.status === 200 ? response.text() : undefined;
        },
        20_000,
      );
      expect(page).toContain('Hello from instance 1');

      const socket = await openWebSocket(two.port, `/docker/${tool}/ws`, {
        host: new URL(two.url).host,
      });
      try {
        const state = nextMessage(socket, (message) => message.type === 'state');
        const echo = nextMessage(socket, (message) => message.type === 'echo');
        socket.send(JSON.stringify({ type: 'say', text: 'through instance 2' }));
        expect(await state).toMatchObject({ type: 'state' });
        expect(await echo).toMatchObject({ type: 'echo', text: 'through instance 2' });
      } finally {
        socket.close();
      }

      // Instance 1's container page lists the request and the WebSocket that instance 2 served.
      const history = await until(
        "instance 2's activity shows in instance 1's history",
        async () => {
          const html = await (await fetch(`${one.url}/containers/${tool}`)).text();
          return html.includes('/served-by-two') && html.includes('WebSocket open') ? html : undefined;
        },
        15_000,
      );
      expect(history).toMatch(/<code>\/ws<\/code>/);
    }, 240_000);
  });
