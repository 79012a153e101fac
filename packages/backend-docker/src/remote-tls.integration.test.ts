import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendEvent } from '@dde/core';
import { ContainerManager, fileInput, MemoryHistory } from '@dde/core';
import {
  buildHttpdImage,
  buildNodeToolImage,
  cleanupNamespace,
  describeWithTestEngine,
  echoOnce,
  eventually,
  makeTestCertificates,
  openWebSocket,
  serveManager,
  startTestEngine,
  type TestEngine,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { DockerBackend, type DockerBackendOptions } from './index.ts';

const namespace = uniqueNamespace('eng-tls');
const httpdImage = `eng-httpd:${namespace}`;
const nodeImage = `eng-node:${namespace}`;

/** A backend built from `env` alone, as an application started with those variables would build it. */
function backendFromEnv(env: Record<string, string>, options: DockerBackendOptions = {}): DockerBackend {
  vi.stubEnv('DOCKER_CONTEXT', '');
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  try {
    return new DockerBackend({ namespace, ...options });
  } finally {
    vi.unstubAllEnvs();
  }
}

await describeWithTestEngine('a second Docker Engine over mutual TLS on a loopback port', (main) => {
  let engine: TestEngine | undefined;
  const certs = mkdtempSync(join(tmpdir(), 'eng-tls-'));
  let env: Record<string, string> = {};

  beforeAll(async () => {
    makeTestCertificates(certs);
    engine = await startTestEngine({
      tls: {
        ca: join(certs, 'ca.pem'),
        cert: join(certs, 'server-cert.pem'),
        key: join(certs, 'server-key.pem'),
      },
    });
    env = {
      DOCKER_HOST: `tcp://127.0.0.1:${engine.tcpPort}`,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certs,
    };
    await Promise.all([
      buildHttpdImage(main, httpdImage, namespace),
      buildNodeToolImage(main, nodeImage, namespace),
    ]);
    await engine.loadImage(httpdImage);
    await engine.loadImage(nodeImage);
  }, 180_000);
  afterAll(async () => {
    await engine?.close();
    await cleanupNamespace(main, namespace);
    rmSync(certs, { recursive: true, force: true });
  });

  it('launches there, places the input file, proxies HTTP and WebSocket through published ports, reads logs and events', async () => {
    const backend = backendFromEnv(env, { upstream: 'published' });
    expect(backend.engine).toEqual({ url: `tcp://127.0.0.1:${engine?.tcpPort}`, local: true });
    const events: BackendEvent[] = [];
    const following = new AbortController();
    const collecting = (async () => {
      for await (const event of backend.events({ signal: following.signal })) events.push(event);
    })();
    const manager = new ContainerManager({ backend, history: new MemoryHistory() });
    await manager.start();
    const served = await serveManager(manager);
    try {
      const web = `${namespace}-web`;
      const input = { over: 'mutual TLS', tracks: ['a.bam'] };
      const info = await manager.launch({
        name: web,
        image: httpdImage,
        command: ['httpd', '-f', '-v', '-p', '80', '-h', '/www'],
        input,
        inputs: [fileInput('/www/input.json')],
        port: 80,
        readiness: { path: '/', timeoutMs: 30_000 },
      });
      // Published-port addressing: the engine's port on 127.0.0.1, not the container's address.
      expect(info.upstream?.host).toBe('127.0.0.1');
      expect(info.upstream?.port).not.toBe(80);
      await manager.waitUntilReady(web, { signal: AbortSignal.timeout(30_000) });
      const answer = await served.get(`/docker/${web}/input.json`);
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual(input);

      const ws = `${namespace}-ws`;
      await manager.launch({ name: ws, image: nodeImage, port: 80 });
      await manager.waitUntilReady(ws, { signal: AbortSignal.timeout(30_000) });
      const socket = await openWebSocket(served.port, `/docker/${ws}/socket`);
      expect((await echoOnce(socket, 'over tls')).toString()).toBe('over tls');
      socket.close();

      // Only the second engine has them.
      const there = await engine?.docker.listContainers({ filters: { label: [`dde.namespace=${namespace}`] } });
      expect(there?.map((container) => container.Names[0]).sort()).toEqual([`/${web}`, `/${ws}`]);
      expect(await main.listContainers({ all: true, filters: { label: [`dde.namespace=${namespace}`] } })).toEqual(
        [],
      );

      const logs = await backend.logs(web);
      expect(logs.map((entry) => entry.text).join('\n')).toMatch(/input\.json/);
      await eventually(() =>
        [web, ws].every((name) => events.some((event) => event.type === 'started' && event.name === name))
          ? true
          : undefined,
      );
      expect(await manager.removeAll()).toEqual(expect.arrayContaining([web, ws]));
      await eventually(() =>
        events.some((event) => event.type === 'destroyed' && event.name === web) ? true : undefined,
      );
    } finally {
      following.abort();
      await collecting;
      await served.close();
      await manager.close();
      await backend.close();
    }
  });

  it('refuses a client certificate its CA did not sign with ENGINE_UNAVAILABLE naming the TLS settings', async () => {
    const other = mkdtempSync(join(tmpdir(), 'eng-tls-other-'));
    try {
      makeTestCertificates(other);
      // The engine's CA (so the engine is trusted), but a client certificate from another CA.
      copyFileSync(join(certs, 'ca.pem'), join(other, 'ca.pem'));
      const backend = backendFromEnv({ ...env, DOCKER_CERT_PATH: other });
      const error = await backend.list().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      expect((error as Error).message).toContain(`tcp://127.0.0.1:${engine?.tcpPort}`);
      expect((error as Error).message).toContain('DOCKER_CERT_PATH');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
