import { describe, expect, it } from 'vitest';
import { echo, html, json, proxyFixtures, send } from '../../test/proxy-fixtures.ts';
import { hostnameRouter } from '../routing/hostname-router.ts';
import { pathRouter } from '../routing/path-router.ts';
import { createProxy } from './create-proxy.ts';

const { tool, setup } = proxyFixtures();

describe('createProxy: starting and failed containers', () => {
  it('shows the please-wait page to browsers, with Retry-After and a polling script', async () => {
    const { port, backend } = await setup({
      pleaseWait: {
        title: 'Warming up <tool>',
        body: '<p id="custom">Custom body</p>',
        retryAfterSeconds: 7,
      },
    });
    backend.add({ name: 'starting', state: 'created' });
    const reply = await send(port, { path: '/docker/starting/', headers: html });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('7');
    expect(reply.headers['content-type']).toMatch(/text\/html/);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.text).toContain('<title>Warming up &#60;tool&#62;</title>');
    expect(reply.text).toContain('<p id="custom">Custom body</p>');
    expect(reply.text).toContain('"/docker/starting/.dde/ready"');
    // A spinner and the time since the container was created, counted on by the script.
    expect(reply.text).toContain('<span class="spinner" aria-hidden="true"></span>');
    expect(reply.text).toMatch(/waiting <span id="dde-elapsed">\d+ s<\/span>/);
  });

  it('says where a launch waiting for a start slot is in line, on the page and in JSON', async () => {
    const { port, backend, manager } = await setup({}, pathRouter(), { limits: { maxConcurrentStarts: 1 } });
    backend.setUpstream('holds', { host: '127.0.0.1', port: 1 }); // never ready: holds the slot
    await manager.launch({ name: 'holds', image: 'tool:1', readiness: { timeoutMs: 60_000 } });
    const queued = manager.launch({ name: 'queued', image: 'tool:1' });
    queued.catch(() => {});
    while (manager.get('queued')?.phase !== 'queued') await new Promise((resolve) => setTimeout(resolve, 5));
    const page = await send(port, { path: '/docker/queued/', headers: html });
    expect(page.status).toBe(503);
    expect(page.text).toContain('<span id="dde-phase">queued (number 1 in line)</span>');
    const ready = await send(port, { path: '/docker/queued/.dde/ready' });
    expect(JSON.parse(ready.text)).toEqual({
      name: 'queued',
      status: 'starting',
      phase: 'queued',
      queuePosition: 1,
    });
    const api = await send(port, { path: '/docker/queued/api', headers: json });
    expect(JSON.parse(api.text)).toMatchObject({ status: 'starting', phase: 'queued', queuePosition: 1 });
    await manager.remove('holds');
    await queued;
    expect(manager.get('queued')?.queuePosition).toBeUndefined();
  });

  it('answers API clients and non-GET requests with JSON 503', async () => {
    const { port, backend } = await setup();
    backend.add({ name: 'starting', state: 'created' });
    const api = await send(port, { path: '/docker/starting/api', headers: json });
    expect(api.status).toBe(503);
    expect(api.headers['retry-after']).toBe('2');
    expect(JSON.parse(api.text)).toEqual({
      status: 'starting',
      name: 'starting',
      phase: 'starting',
      retryAfter: 2,
    });
    const post = await send(port, { method: 'POST', path: '/docker/starting/api', headers: html, body: 'x' });
    expect(post.status).toBe(503);
    expect(JSON.parse(post.text)).toMatchObject({ status: 'starting' });
  });

  it('serves the readiness endpoint: 503 while starting, 200 once ready, never forwarded', async () => {
    const { port, backend, manager } = await setup();
    const seen: string[] = [];
    const started = await tool((req, res) => {
      seen.push(req.url ?? '');
      res.end('ok');
    });
    backend.add({ name: 'tool', state: 'created' });
    await manager.lookup('tool');
    const starting = await send(port, { path: '/docker/tool/.dde/ready' });
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.text)).toEqual({ name: 'tool', status: 'starting', phase: 'starting' });
    backend.drop('tool');
    while (manager.get('tool') !== undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    backend.setUpstream('tool', started.upstream);
    backend.add({ name: 'tool' });
    await manager.waitUntilReady('tool');
    const ready = await send(port, { path: '/docker/tool/.dde/ready' });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready' });
    expect((await send(port, { path: '/docker/tool/.dde/other' })).status).toBe(404);
    expect(seen.some((path) => path.startsWith('/.dde'))).toBe(false);
  });

  it('shows a failed container’s exit code and last log lines, escaped', async () => {
    const { port, backend, manager } = await setup();
    backend.add({ name: 'crashed' });
    backend.writeLogs('crashed', ['starting up', 'fatal: <script>alert(1)</script> & more']);
    backend.exit('crashed', 3);
    await manager.lookup('crashed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const page = await send(port, { path: '/docker/crashed/', headers: html });
    expect(page.status).toBe(502);
    expect(page.text).toContain('Exit code: <strong>3</strong>');
    expect(page.text).toContain('fatal: &#60;script&#62;alert(1)&#60;/script&#62; &#38; more');
    expect(page.text).not.toContain('<script>alert(1)');
    const api = await send(port, { path: '/docker/crashed/', headers: json });
    expect(JSON.parse(api.text)).toMatchObject({
      status: 'failed',
      phase: 'failed',
      reason: 'exited',
      exitCode: 3,
      logs: ['starting up', 'fatal: <script>alert(1)</script> & more'],
    });
    expect((await send(port, { path: '/docker/crashed/.dde/ready' })).status).toBe(502);
  });
});

describe('createProxy: authorization and logs', () => {
  it('lets the hook decide, from the container’s owner', async () => {
    const contexts: string[] = [];
    const { port, addTool } = await setup({
      authorize: async ({ req, container, name }) => {
        contexts.push(`${name}:${container.owner}`);
        return req.headers['x-user'] === container.owner;
      },
    });
    await addTool('owned', echo, 'alice');
    expect((await send(port, { path: '/docker/owned/', headers: { 'x-user': 'alice' } })).status).toBe(200);
    const denied = await send(port, { path: '/docker/owned/', headers: { 'x-user': 'bob' } });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe('Forbidden\n');
    expect(contexts).toEqual(['owned:alice', 'owned:alice']);
  });

  it('starts a container on demand only for a request the hook allows', async () => {
    const contexts: string[] = [];
    const { port, backend, manager } = await setup(
      {
        authorize: ({ req, container, route }) => {
          contexts.push(`${container.name}:${container.owner}:${route.phase}`);
          return req.headers['x-user'] === container.owner;
        },
        denyStatus: 404,
      },
      pathRouter(),
      {
        onDemand: (name) =>
          name.startsWith('tool-') ? { name, image: 'tool:1', port: 80, owner: 'alice' } : undefined,
        limits: { maxPerOwner: 1 },
      },
    );
    backend.add({ name: 'alice-other', owner: 'alice' });
    await manager.lookup('alice-other');
    backend.resetCalls();
    const denied = await send(port, { path: '/docker/tool-a/', headers: { 'x-user': 'mallory' } });
    const missing = await send(port, { path: '/docker/nothing/', headers: { 'x-user': 'mallory' } });
    // No launch, and no LIMIT_EXCEEDED (429) telling the name is declared: the same 404.
    expect(denied.status).toBe(404);
    expect(denied.text).toBe(missing.text);
    expect(backend.calls.launch).toBe(0);
    expect(manager.get('tool-a')).toBeUndefined();
    expect(contexts).toEqual(['tool-a:alice:creating']);
    contexts.length = 0;
    // The owner may start it (here alice's limit refuses it: so the start was attempted).
    const allowed = await send(port, { path: '/docker/tool-a/', headers: { 'x-user': 'alice', ...json } });
    expect(allowed.status).toBe(429);
    expect(contexts).toEqual(['tool-a:alice:creating']);
  });

  it('can deny with a 404 identical to a missing container', async () => {
    const { port, addTool } = await setup({ authorize: () => false, denyStatus: 404 });
    await addTool('hidden', echo);
    const denied = await send(port, { path: '/docker/hidden/' });
    const missing = await send(port, { path: '/docker/missing/' });
    expect(denied.status).toBe(404);
    expect(denied.text).toBe(missing.text);
    expect(denied.headers['content-type']).toBe(missing.headers['content-type']);
  });

  it('denies with 500 when the hook throws, and hides the state of starting containers', async () => {
    const { port, backend } = await setup({
      authorize: ({ req }) => {
        if (req.headers['x-boom']) throw new Error('boom');
        return false;
      },
    });
    backend.add({ name: 'starting', state: 'created' });
    expect((await send(port, { path: '/docker/starting/', headers: { 'x-boom': '1' } })).status).toBe(500);
    const denied = await send(port, { path: '/docker/starting/.dde/ready' });
    expect(denied.status).toBe(403);
  });

  it('serves the logs view when enabled, behind authorization', async () => {
    const { port, backend, manager } = await setup({
      logsPath: '.dde/logs',
      authorize: ({ req }) => req.headers['x-user'] === 'admin',
    });
    backend.add({ name: 'logged', state: 'created' });
    backend.writeLogs('logged', ['one', 'two', 'three']);
    await manager.lookup('logged');
    const logs = await send(port, {
      path: '/docker/logged/.dde/logs?tail=2',
      headers: { 'x-user': 'admin' },
    });
    expect(logs.status).toBe(200);
    expect(logs.headers['content-type']).toMatch(/text\/plain/);
    expect(logs.headers['x-content-type-options']).toBe('nosniff');
    expect(logs.text).toBe('two\nthree\n');
    expect((await send(port, { path: '/docker/logged/.dde/logs' })).status).toBe(403);

    const off = await setup();
    off.backend.add({ name: 'logged', state: 'created' });
    expect((await send(off.port, { path: '/docker/logged/.dde/logs' })).status).toBe(404);
  });

  it('validates its options', async () => {
    const { manager } = await setup();
    expect(() => createProxy({ manager, router: pathRouter(), logsPath: 'logs' })).toThrow(/logsPath/);
    expect(() => createProxy({ manager, router: pathRouter(), denyStatus: 401 as never })).toThrow(
      /denyStatus/,
    );
    expect(() => createProxy({ manager, router: pathRouter(), upstreamTimeoutMs: 0 })).toThrow(
      /upstreamTimeoutMs/,
    );
    expect(() => createProxy({ manager } as never)).toThrow(/router/);
    // A misspelt option would otherwise be ignored and its default used.
    expect(() => createProxy({ manager, router: pathRouter(), upstreamTimeoutMS: 5 } as never)).toThrow(
      /Invalid option: upstreamTimeoutMS is not a field of the proxy: did you mean upstreamTimeoutMs\?/,
    );
    expect(() =>
      createProxy({ manager, router: pathRouter(), pleaseWait: { retryAfter: 1 } } as never),
    ).toThrow(
      /pleaseWait\.retryAfter is not a field of pleaseWait \(known: title, body, retryAfterSeconds\)/,
    );
    expect(() => pathRouter({ prefixes: '/x' } as never)).toThrow(/prefixes is not a field of pathRouter/);
    expect(() => hostnameRouter({ suffix: 'a.b', host: 'x' } as never)).toThrow(
      /host is not a field of hostnameRouter/,
    );
  });
});
