import { createHash } from 'node:crypto';
import type { ContainerBackend, ContainerSpec, ProxyOptions, Router } from '@dde/core';
import { ContainerManager, hostnameRouter, pathRouter } from '@dde/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNamespace, describeWithDocker, NAMESPACE_LABEL, uniqueNamespace } from '../docker.ts';
import { echoOnce, openWebSocket, type Reply, send } from './client.ts';
import { buildHttpdImage, buildNodeToolImage } from './tool-images.ts';

/** A running parent application with the proxy mounted. */
export interface ScenarioApp {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** Stops the application (and its proxy). */
  close(): Promise<void>;
}

/** How {@link describeProxyScenarios} drives one framework adapter. */
export interface ProxyAdapter {
  /** Shown in test titles, e.g. `koa`. */
  readonly name: string;
  /** The backend for the run's namespace (a real engine: `new DockerBackend({ namespace })`). */
  createBackend(namespace: string): ContainerBackend;
  /**
   * Starts a parent application on 127.0.0.1 (port 0) that answers `GET /app/hello` with
   * `hello from the app` itself, mounts the adapter's middleware made from `options`, and
   * attaches WebSocket upgrades to its server.
   */
  startApp(options: ProxyOptions): Promise<ScenarioApp>;
}

const SUFFIX = 'docker.localhost';
const HTML = { accept: 'text/html,application/xhtml+xml' };
const JSON_ACCEPT = { accept: 'application/json' };
const READY = { signal: (): AbortSignal => AbortSignal.timeout(60_000) };

/**
 * The proxy's end-to-end scenarios against real containers, for one adapter and both routers:
 * every method with bodies and query strings, a 10 MB download, a chunked upload, WebSocket
 * echo, redirects and cookies, please-wait on a slow container, the failure page of one that
 * exits at once, an unmanaged container answered like a missing one, authorization on HTTP and
 * WebSocket, path escapes and malformed Hosts. Builds its images (busybox httpd, and Node for
 * WebSockets) and removes everything it created, failed or not. Call at the top level of a
 * test file with `await`.
 */
export async function describeProxyScenarios(adapter: ProxyAdapter): Promise<void> {
  await describeWithDocker(`${adapter.name} proxy with real containers`, (docker) => {
    const namespace = uniqueNamespace('pxtest');
    const id = namespace.slice('pxtest-'.length);
    const images = { httpd: `${namespace}-httpd:1`, node: `${namespace}-node:1` };
    const names = {
      web: `web-${id}`,
      tool: `tool-${id}`,
      unmanaged: `unmanaged-${id}`,
      absent: `absent-${id}`,
    };
    let manager: ContainerManager | undefined;
    const apps: Partial<Record<'path' | 'hostname', ScenarioApp>> = {};

    const proxyOptions = (router: Router): ProxyOptions => ({
      manager: manager as ContainerManager,
      router,
      authorize: ({ req }) => req.headers['x-user'] !== 'mallory',
      logsPath: '.dde/logs',
      pleaseWait: { title: 'Starting your tool', retryAfterSeconds: 2 },
      userOf: (req) => {
        const user = req.headers['x-user'];
        return typeof user === 'string' ? user : undefined;
      },
    });

    beforeAll(async () => {
      await Promise.all([
        buildHttpdImage(docker, images.httpd, namespace),
        buildNodeToolImage(docker, images.node, namespace),
      ]);
      manager = new ContainerManager({
        backend: adapter.createBackend(namespace),
        reconcileIntervalMs: 5000,
      });
      await manager.start();
      await Promise.all([
        manager.launch(httpd(names.web, images.httpd)),
        manager.launch({ name: names.tool, image: images.node, port: 80 }),
      ]);
      // Same engine, same namespace label (for cleanup), but no dde labels: not managed.
      const unmanaged = await docker.createContainer({
        name: names.unmanaged,
        Image: images.httpd,
        Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'],
        Labels: { [NAMESPACE_LABEL]: namespace },
      });
      await unmanaged.start();
      apps.path = await adapter.startApp(proxyOptions(pathRouter({ prefix: '/docker' })));
      apps.hostname = await adapter.startApp(proxyOptions(hostnameRouter({ suffix: SUFFIX })));
      await Promise.all([
        manager.waitUntilReady(names.web, { signal: READY.signal() }),
        manager.waitUntilReady(names.tool, { signal: READY.signal() }),
      ]);
    }, 300_000);

    afterAll(async () => {
      await Promise.allSettled([apps.path?.close(), apps.hostname?.close()]);
      await manager?.close();
      await cleanupNamespace(docker, namespace);
    }, 120_000);

    describe.each(['path', 'hostname'] as const)('%s router', (kind) => {
      const port = (): number => (apps[kind] as ScenarioApp).port;
      /** Where a container's `path` is, for this router: request target and Host. */
      const at = (name: string, path: string): { path: string; host: string } =>
        kind === 'path'
          ? { path: `/docker/${name}${path}`, host: `127.0.0.1:${port()}` }
          : { path, host: `${name}.${SUFFIX}:${port()}` };
      const get = (name: string, path: string, headers: Record<string, string> = {}): Promise<Reply> =>
        send(port(), { ...at(name, path), headers });

      it('serves the tool, and leaves the rest of the application alone', async () => {
        const page = await get(names.web, '/index.html');
        expect(page.status).toBe(200);
        expect(page.text).toContain('dde busybox tool');
        const app = await send(port(), { path: '/app/hello', host: `127.0.0.1:${port()}` });
        expect(app.text).toBe('hello from the app');
      });

      it.each(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])(
        'forwards %s with its query string to a busybox CGI script',
        async (method) => {
          const reply = await send(port(), {
            method,
            ...at(names.web, '/cgi-bin/echo?x=1&y=a%20b'),
            headers: { cookie: 'parent=session' },
            ...(method === 'POST' ? { body: 'form=value' } : {}),
          });
          expect(reply.status).toBe(200);
          if (method === 'HEAD') {
            expect(reply.body.length).toBe(0);
            return;
          }
          expect(reply.text).toContain(`method=${method}`);
          expect(reply.text).toContain('query=x=1&y=a%20b');
          expect(reply.text).toContain('cookie=parent=session');
          expect(reply.text).toContain('x-forwarded-for=127.0.0.1');
          expect(reply.text).toContain('x-forwarded-proto=http');
          if (method === 'POST') expect(reply.text).toContain('body=form=value');
        },
      );

      it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('forwards the body of %s', async (method) => {
        const body = Buffer.from(`${method} body ${'x'.repeat(5000)}`);
        const reply = await send(port(), { method, ...at(names.tool, '/submit?q=1'), body });
        expect(JSON.parse(reply.text)).toMatchObject({
          method,
          url: '/submit?q=1',
          length: body.length,
          sha256: sha256(body),
        });
      });

      it('streams a 10 MB download intact', async () => {
        const expected = (await get(names.web, '/big.sha256')).text.split(' ')[0];
        const download = await get(names.web, '/big.bin');
        expect(download.status).toBe(200);
        expect(download.body.length).toBe(10 * 1024 * 1024);
        expect(sha256(download.body)).toBe(expected);
      });

      it('streams a chunked upload intact', async () => {
        const parts = Array.from({ length: 64 }, (_, index) => Buffer.alloc(64 * 1024, index));
        const reply = await send(port(), { method: 'POST', ...at(names.tool, '/upload'), body: parts });
        const seen = JSON.parse(reply.text);
        expect(seen.headers['transfer-encoding']).toBe('chunked');
        expect(seen.length).toBe(64 * 64 * 1024);
        expect(seen.sha256).toBe(sha256(Buffer.concat(parts)));
      });

      it('proxies WebSocket echo both ways', async () => {
        const target = at(names.tool, '/socket?room=7');
        const socket = await openWebSocket(port(), target.path, { host: target.host });
        try {
          expect((await echoOnce(socket, 'hello')).toString()).toBe('hello');
          const big = Buffer.alloc(200_000, 3);
          expect((await echoOnce(socket, big)).equals(big)).toBe(true);
        } finally {
          socket.close();
        }
        const records = await (manager as ContainerManager).history.query(names.tool);
        expect(records.some((record) => record.type === 'websocket' && record.event === 'open')).toBe(true);
      });

      it('passes redirects and cookies, rewritten under a path prefix', async () => {
        const reply = await send(port(), { ...at(names.tool, '/redirect'), headers: { cookie: 'app=1' } });
        expect(reply.status).toBe(302);
        if (kind === 'path') {
          expect(reply.headers.location).toBe(`/docker/${names.tool}/target?from=redirect`);
          expect(reply.headers['set-cookie']).toEqual([
            `tool=1; Path=/docker/${names.tool}`,
            `scoped=2; Path=/docker/${names.tool}/app; HttpOnly`,
          ]);
          const bare = await send(port(), { path: `/docker/${names.web}?x=1`, host: `127.0.0.1:${port()}` });
          expect(bare.status).toBe(301);
          expect(bare.headers.location).toBe(`/docker/${names.web}/?x=1`);
        } else {
          expect(reply.headers.location).toBe('/target?from=redirect');
          expect(reply.headers['set-cookie']).toEqual(['tool=1; Path=/', 'scoped=2; Path=/app; HttpOnly']);
        }
        const echoed = JSON.parse(
          (await get(names.tool, '/cookies', { cookie: 'parent=abc; other=2' })).text,
        );
        expect(echoed.headers.cookie).toBe('parent=abc; other=2');
      });

      it('shows please-wait while a container starts slowly, then proxies it', async () => {
        const name = `slow-${kind.slice(0, 4)}-${id}`;
        const m = manager as ContainerManager;
        await m.launch(
          httpd(name, images.httpd, ['sh', '-c', 'sleep 3; exec httpd -f -p 80 -h /www'], {
            timeoutMs: 60_000,
          }),
        );
        const page = await get(name, '/', HTML);
        expect(page.status).toBe(503);
        expect(page.headers['retry-after']).toBe('2');
        expect(page.text).toContain('<title>Starting your tool</title>');
        expect(page.text).toContain(kind === 'path' ? `"/docker/${name}/.dde/ready"` : '"/.dde/ready"');
        const api = await get(name, '/api', JSON_ACCEPT);
        expect(api.status).toBe(503);
        expect(JSON.parse(api.text)).toMatchObject({ status: 'starting', retryAfter: 2 });
        expect((await get(name, '/.dde/ready')).status).toBe(503);
        await m.waitUntilReady(name, { signal: READY.signal() });
        expect((await get(name, '/.dde/ready')).status).toBe(200);
        expect((await get(name, '/index.html', HTML)).text).toContain('dde busybox tool');
        await m.remove(name);
      });

      it('shows the failure, exit code and escaped logs of a container that exits at once', async () => {
        const name = `crash-${kind.slice(0, 4)}-${id}`;
        const m = manager as ContainerManager;
        await m.launch(
          httpd(name, images.httpd, [
            'sh',
            '-c',
            "echo 'starting <tool>'; echo 'fatal: missing input' >&2; exit 3",
          ]),
        );
        await expect(m.waitUntilReady(name, { signal: READY.signal() })).rejects.toMatchObject({
          code: 'LAUNCH_FAILED',
        });
        const page = await get(name, '/', HTML);
        expect(page.status).toBe(502);
        expect(page.text).toContain('Exit code: <strong>3</strong>');
        expect(page.text).toContain('starting &#60;tool&#62;');
        expect(page.text).toContain('fatal: missing input');
        const api = JSON.parse((await get(name, '/', JSON_ACCEPT)).text);
        expect(api).toMatchObject({ status: 'failed', exitCode: 3 });
        expect(api.logs).toEqual(expect.arrayContaining(['starting <tool>', 'fatal: missing input']));
        const logs = await get(name, '/.dde/logs');
        expect(logs.text).toContain('fatal: missing input');
        await m.remove(name);
      });

      it('answers an unmanaged container exactly like a missing one', async () => {
        const unmanaged = await get(names.unmanaged, '/index.html');
        const absent = await get(names.absent, '/index.html');
        expect(unmanaged.status).toBe(404);
        expect(absent.status).toBe(404);
        expect(unmanaged.text).toBe(absent.text);
        expect(unmanaged.headers['content-type']).toBe(absent.headers['content-type']);
        const target = at(names.unmanaged, '/');
        await expect(openWebSocket(port(), target.path, { host: target.host })).rejects.toThrow('status 404');
      });

      it('denies by the authorization hook on HTTP and WebSocket', async () => {
        expect((await get(names.web, '/index.html', { 'x-user': 'mallory' })).status).toBe(403);
        expect((await get(names.web, '/index.html', { 'x-user': 'alice' })).status).toBe(200);
        const target = at(names.tool, '/socket');
        await expect(
          openWebSocket(port(), target.path, { host: target.host, headers: { 'x-user': 'mallory' } }),
        ).rejects.toThrow('status 403');
      });

      it('refuses path escapes and malformed hosts with 400', async () => {
        if (kind === 'path') {
          for (const path of [
            `/docker/${names.web}/..%2F${names.tool}/`,
            `/docker/${names.web}/%2e%2e/${names.tool}/`,
            `/docker/${names.web}/a\\..\\b`,
          ]) {
            const reply = await send(port(), { path, host: `127.0.0.1:${port()}` });
            expect(reply.status, path).toBe(400);
          }
        } else {
          for (const host of [`a..${SUFFIX}`, `${names.web}.${SUFFIX}:http`, `we_b.${SUFFIX}`]) {
            expect((await send(port(), { path: '/', host })).status, host).toBe(400);
          }
          // A host outside the suffix is the application's.
          expect((await send(port(), { path: '/app/hello', host: 'example.org' })).text).toBe(
            'hello from the app',
          );
        }
      });

      it('records activity per container', async () => {
        await get(names.web, '/index.html', { 'x-user': `recorder-${kind}` });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const records = await (manager as ContainerManager).history.query(names.web, { limit: 5 });
        expect(records.at(-1)).toMatchObject({
          type: 'http',
          method: 'GET',
          path: '/index.html',
          status: 200,
        });
        expect(records.some((record) => record.user === `recorder-${kind}`)).toBe(true);
        expect((manager as ContainerManager).history.lastActivity(names.web)).toBeDefined();
      });
    });
  });
}

function httpd(
  name: string,
  image: string,
  command: string[] = ['httpd', '-f', '-p', '80', '-h', '/www'],
  readiness: { timeoutMs?: number } = {},
): ContainerSpec {
  return { name, image, command, port: 80, readiness: { path: '/', ...readiness } };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
