import { readdirSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  buildFaultToolImage,
  cleanupNamespace,
  describeWithDocker,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type FaultStack,
  faultStack,
  getRequest,
  headRead,
  openDownload,
  openTunnel,
  rawExchange,
} from './fault-stack.ts';

// Containers that die, freeze, go or lose their network while serving: clients are cut at once
// (not left hanging on a dead socket) and the route serves again as soon as the container does.
const namespace = uniqueNamespace('pf');
const image = `dde-pf-fault:${namespace}`;
/** How soon after a fault the proxy must have acted: events take a few ms, an inspect a few more. */
const PROMPT_MS = 3_000;

await describeWithDocker('fault suite: container faults', (docker) => {
  let stack: FaultStack;
  const names = {
    kill: `${namespace}-kill`,
    rm: `${namespace}-rm`,
    pause: `${namespace}-pause`,
    remove: `${namespace}-remove`,
    network: `${namespace}-net`,
    stall: `${namespace}-stall`,
  };

  beforeAll(async () => {
    await buildFaultToolImage(docker, image, namespace);
    stack = await faultStack(namespace, image, { upstreamIdleTimeoutMs: 1_500 });
    await Promise.all(Object.values(names).map((name) => stack.launch(name)));
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
    await cleanupNamespace(docker, namespace);
  }, 60_000);

  const container = (name: string) => docker.getContainer(name);
  /** The container's id and the network the proxy reaches it on (whichever the backend chose). */
  const attachment = async (name: string) => {
    const info = await container(name).inspect();
    const networkName = Object.keys(info.NetworkSettings.Networks)[0] ?? 'bridge';
    return { id: info.Id, network: docker.getNetwork(networkName) };
  };

  it.each([
    ['docker kill', 'kill'],
    ['docker rm -f', 'rm'],
    ['manager.remove()', 'remove'],
  ] as const)('%s cuts a download and a WebSocket session in flight at once', async (_fault, key) => {
    const name = names[key];
    const download = await openDownload(stack.port, name);
    const tunnel = await openTunnel(stack.port, name);
    const started = Date.now();
    if (key === 'kill') await container(name).kill();
    else if (key === 'rm') await container(name).remove({ force: true });
    else await stack.manager.remove(name);
    download.fast();
    const [cutAt, closedAt] = await Promise.all([download.cut, tunnel.closed]);
    expect(cutAt - started).toBeLessThan(PROMPT_MS);
    expect(closedAt - started).toBeLessThan(PROMPT_MS);
    // New requests are answered, not left waiting.
    const reply = await rawExchange(stack.port, getRequest(name, '/ok'), {
      timeoutMs: PROMPT_MS,
      until: headRead,
    });
    expect(reply.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 (404|502)/);
  });

  it('docker pause cuts what is in flight at once; unpause serves again at once', async () => {
    const name = names.pause;
    const download = await openDownload(stack.port, name);
    const tunnel = await openTunnel(stack.port, name);
    const started = Date.now();
    await container(name).pause();
    download.fast();
    try {
      const [cutAt, closedAt] = await Promise.all([download.cut, tunnel.closed]);
      expect(cutAt - started).toBeLessThan(PROMPT_MS);
      expect(closedAt - started).toBeLessThan(PROMPT_MS);
      const paused = await rawExchange(stack.port, getRequest(name, '/ok'), {
        timeoutMs: PROMPT_MS,
        until: headRead,
      });
      expect(paused.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502/);
    } finally {
      await container(name).unpause();
    }
    const unpausedAt = Date.now();
    await servesAgain(name, unpausedAt);
  });

  it('a network disconnect cuts what is in flight; a reconnect serves again at once', async () => {
    const name = names.network;
    const { id, network } = await attachment(name);
    const download = await openDownload(stack.port, name);
    const started = Date.now();
    await network.disconnect({ Container: id });
    download.fast();
    expect((await download.cut) - started).toBeLessThan(PROMPT_MS);
    const cut = await rawExchange(stack.port, getRequest(name, '/ok'), {
      timeoutMs: PROMPT_MS,
      until: headRead,
    });
    expect(cut.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502/);
    await network.connect({ Container: id });
    await servesAgain(name, Date.now());
  });

  it('a body that stalls is cut after upstreamIdleTimeoutMs; a server-sent event stream is not', async () => {
    const name = names.stall;
    const stalled = await rawExchange(stack.port, getRequest(name, '/stall'), { timeoutMs: 10_000 });
    expect(stalled.closed).toBe(true);
    expect(stalled.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200[\s\S]*0123456789$/);
    expect(stalled.ms).toBeGreaterThanOrEqual(1_400);
    expect(stalled.ms).toBeLessThan(5_000);
    const events = await rawExchange(stack.port, getRequest(name, '/sse'), { timeoutMs: 3_500 });
    expect(events.closed).toBe(false);
    expect(events.bytes.toString('latin1')).toContain('data: 1');
  });

  /** The route answers 200 again within PROMPT_MS of `since`. */
  async function servesAgain(name: string, since: number): Promise<void> {
    for (;;) {
      const reply = await rawExchange(stack.port, getRequest(name, '/ok'), {
        timeoutMs: 1_000,
        until: headRead,
      });
      if (reply.bytes.toString('latin1').startsWith('HTTP/1.1 200')) break;
      if (Date.now() - since > PROMPT_MS)
        throw new Error(`${name} did not serve again within ${PROMPT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(Date.now() - since).toBeLessThan(PROMPT_MS);
  }

  // A bounded soak: load on two healthy containers and a third faulted every 1.5 s.
  it('serves healthy containers without a failure while another is killed, paused and cut off', async () => {
    const healthy = [`${namespace}-a`, `${namespace}-b`];
    const victim = `${namespace}-victim`;
    await Promise.all([...healthy, victim].map((name) => stack.launch(name)));
    const SOAK_MS = 45_000;
    const WARM_UP_MS = 15_000;
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const stats = {
      healthyRequests: 0,
      healthyFailures: 0,
      wrongBodies: 0,
      victimRequests: 0,
      victimOk: 0,
      faults: 0,
    };
    const fds = () => readdirSync('/proc/self/fd').length;
    const baselineFds = fds();
    let stop = false;
    const started = Date.now();

    const client = async (worker: number): Promise<void> => {
      for (let sequence = 0; !stop; sequence++) {
        const id = `w${worker}-${sequence}`;
        const name = sequence % 4 === 3 ? victim : (healthy[sequence % 2] as string);
        const result = await get(agent, stack.port, `/docker/${name}/id/${id}`);
        if (name === victim) {
          stats.victimRequests++;
          if (result.status === 200) stats.victimOk++;
        } else {
          stats.healthyRequests++;
          if (result.status !== 200) stats.healthyFailures++;
        }
        if (result.status === 200 && result.body !== id) stats.wrongBodies++;
      }
    };
    const faults = async (): Promise<void> => {
      const container = docker.getContainer(victim);
      const { id, network } = await attachment(victim);
      for (let round = 0; !stop; round++) {
        const kind = round % 3;
        if (kind === 0) await container.kill();
        else if (kind === 1) await container.pause();
        else await network.disconnect({ Container: id });
        stats.faults++;
        await sleep(700);
        if (kind === 0) await container.start();
        else if (kind === 1) await container.unpause();
        else await network.connect({ Container: id });
        await sleep(800);
      }
    };
    // Memory is compared at the end of the warm-up and at the end, each time after the
    // memory-reducing full collection V8 runs under memory pressure (its `last-resort` flavour).
    // A plain gc() leaves V8's young generation as large as the load grew it: under a burst of
    // short-lived allocations its two semi-spaces grow from 1 to 2 x 32 MiB here, and their pages
    // stay resident until V8's memory reducer releases them, seconds to minutes later. That, not a
    // leak, made RSS after gc() vary by +28..35 % (heap, external memory, sockets and descriptors
    // flat; glibc arenas ruled out with MALLOC_ARENA_MAX=2; the same soak run for 5 min outside
    // vitest stays within a few % once measured this way). The memory-reducing collection shrinks
    // the young generation and gives its pages back, so what RSS still holds is what the process
    // retains: a leak of JS objects, native buffers or sockets still shows (64 KiB of Buffers kept
    // per 10 requests failed it at +18 % RSS while the heap moved 0.8 %), and the bound holds
    // however many requests a loaded machine manages.
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as (options: Record<string, string>) => void;
    const collected = (): NodeJS.MemoryUsage => {
      collectGarbage({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      return process.memoryUsage();
    };
    let warm: NodeJS.MemoryUsage | undefined;
    const warmed = setTimeout(() => {
      warm = collected();
    }, WARM_UP_MS);
    const running = [...Array.from({ length: 8 }, (_, worker) => client(worker)), faults()];
    await sleep(SOAK_MS);
    stop = true;
    await Promise.all(running);
    clearTimeout(warmed);
    agent.destroy();
    // Idle pooled connections close after the pool's keep-alive time (4 s).
    await sleep(5_000);
    const end = collected();
    const pooled = [...healthy, victim].reduce(
      (sum, name) => sum + (stack.manager.get(name)?.pool?.stats.connections ?? 0),
      0,
    );
    const endFds = fds();
    const youngMiB =
      (getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20;
    if (warm === undefined) throw new Error('the soak ended before its warm-up did');
    const heapGrowth = (end.heapUsed - warm.heapUsed) / warm.heapUsed;
    const rssGrowth = (end.rss - warm.rss) / warm.rss;
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    await Promise.all([...healthy, victim].map((name) => stack.manager.remove(name)));
    const soaked = new Set([...healthy, victim].map((name) => `/${name}`));
    const left = (await docker.listContainers({ all: true })).filter((info) =>
      info.Names.some((name) => soaked.has(name)),
    );
    process.stdout.write(
      `soak ${Math.round((Date.now() - started) / 1000)} s: healthy ${stats.healthyRequests} requests, ` +
        `${stats.healthyFailures} failures; ${stats.wrongBodies} wrong-client bodies; victim ` +
        `${stats.victimOk}/${stats.victimRequests} ok through ${stats.faults} faults; after warm-up: ` +
        `after memory-reducing GCs: heap ${mib(warm.heapUsed)} -> ${mib(end.heapUsed)} ` +
        `(${(heapGrowth * 100).toFixed(1)} %), RSS ${mib(warm.rss)} -> ${mib(end.rss)} ` +
        `(${(rssGrowth * 100).toFixed(1)} %), external ${mib(warm.external)} -> ${mib(end.external)}, ` +
        `young generation ${youngMiB.toFixed(1)} MiB; ` +
        `fds ${baselineFds} -> ${endFds}; upstream sockets left ${pooled}; containers left ${left.length}\n`,
    );
    expect(stats.healthyRequests).toBeGreaterThan(1_000);
    expect(stats.healthyFailures).toBe(0);
    expect(stats.wrongBodies).toBe(0);
    expect(stats.victimOk).toBeGreaterThan(0);
    expect(heapGrowth).toBeLessThan(0.1);
    expect(rssGrowth).toBeLessThan(0.1);
    expect(pooled).toBe(0);
    expect(endFds).toBeLessThanOrEqual(baselineFds + 2);
    expect(left).toEqual([]);
  }, 120_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A GET through a keep-alive agent: the status (0 when the connection failed) and the body. */
function get(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const request = httpGet({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.complete ? (res.statusCode ?? 0) : 0, body }));
    });
    request.on('error', () => resolve({ status: 0, body: '' }));
    request.on('timeout', () => request.destroy());
  });
}
