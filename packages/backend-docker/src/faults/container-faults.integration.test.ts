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
    const id = (await container(name).inspect()).Id;
    const download = await openDownload(stack.port, name);
    const started = Date.now();
    await docker.getNetwork('bridge').disconnect({ Container: id });
    expect((await download.cut) - started).toBeLessThan(PROMPT_MS);
    const cut = await rawExchange(stack.port, getRequest(name, '/ok'), {
      timeoutMs: PROMPT_MS,
      until: headRead,
    });
    expect(cut.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502/);
    await docker.getNetwork('bridge').connect({ Container: id });
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
});
