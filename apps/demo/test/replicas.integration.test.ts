/**
 * Two instances of the demo (child processes, as `npm run demo -- --redis <url>` starts them) on
 * two ports, against one Docker Engine and one Redis: a tool launched through the first is served
 * through the second (HTTP and WebSocket), and what the second serves shows in the first's
 * request history, read from Redis.
 */
import { rm } from 'node:fs/promises';
import { describeWithDockerAndRedis, eventually, openWebSocket } from '@dde/test-support';
import { afterAll, expect, it } from 'vitest';
import type { DemoProcess } from './harness.ts';
import {
  dataDir,
  freePort,
  removeEverything,
  reportDemoOutputOnFailure,
  runId,
  startDemoProcess,
} from './harness.ts';

const id = runId();
const namespace = `dr-demo-${id}`;
const imagePrefix = `dr-demo-${id}`;
const tool = `live-${id}`;

type WebSocket = Awaited<ReturnType<typeof openWebSocket>>;
/** A message of the demo's live tool. */
type Message = { type?: string; text?: string; count?: number };

/**
 * The next text message of a WebSocket that `accept` takes, within 10 s. Call it before sending
 * what provokes the message: one that arrived earlier is not seen.
 */
function nextMessage(socket: WebSocket, accept: (message: Message) => boolean) {
  return new Promise<Message>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error('no matching WebSocket message within 10 s'));
    }, 10_000);
    const onMessage = (data: Buffer): void => {
      const message = JSON.parse(data.toString()) as Message;
      if (!accept(message)) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
    socket.once('error', reject);
  });
}

await describeWithDockerAndRedis(
  'two demo instances sharing one namespace through Redis',
  (docker, redis) => {
    const dirs: string[] = [];
    const demos: DemoProcess[] = [];
    reportDemoOutputOnFailure(demos);

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

    afterAll(async () => {
      await Promise.all(demos.map((demo) => demo.stop()));
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
      const [one, two] = await Promise.all([instance(redis().url), instance(redis().url)]);
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
      await eventually(
        async () => {
          const status = (await (await fetch(`${one.url}/containers/${tool}/status`)).json()) as {
            phase?: string;
            failure?: string;
          };
          if (status.phase === 'failed') throw new Error(`the launch failed: ${status.failure}`);
          return status.phase === 'ready' ? true : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 250 },
      );

      // Instance 2 never launched it: it learns the route from the engine.
      const page = await eventually(
        async () => {
          const response = await fetch(`${two.url}/docker/${tool}/served-by-two`);
          return response.status === 200 ? response.text() : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      expect(page).toContain('Hello from instance 1');

      const socket = await openWebSocket(two.port, `/docker/${tool}/ws`, {
        host: new URL(two.url).host,
      });
      try {
        // The tool sends its state as the socket opens, possibly before a listener is on: ask
        // for it again (an increment broadcasts it) rather than race for the first one.
        const state = nextMessage(socket, (message) => message.type === 'state' && message.count === 1);
        socket.send(JSON.stringify({ type: 'increment' }));
        expect(await state).toMatchObject({ type: 'state', count: 1 });
        const echo = nextMessage(socket, (message) => message.type === 'echo');
        socket.send(JSON.stringify({ type: 'say', text: 'through instance 2' }));
        expect(await echo).toMatchObject({ type: 'echo', text: 'through instance 2' });
      } finally {
        socket.close();
      }

      // Instance 1's container page lists the request and the WebSocket that instance 2 served.
      const history = await eventually(
        async () => {
          const html = await (await fetch(`${one.url}/containers/${tool}`)).text();
          return html.includes('/served-by-two') && html.includes('WebSocket open') ? html : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      expect(history).toMatch(/<code>\/ws<\/code>/);
    }, 240_000);
  },
);
