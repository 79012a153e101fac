import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateDockerTlsCertificates,
  writeClientCertificates,
  writeServerCertificates,
} from '@dde/aws-provision';
import type { BackendEvent } from '@dde/core';
import { ContainerManager, fileInput, MemoryHistory } from '@dde/core';
import {
  buildHttpdImage,
  buildNodeToolImage,
  cleanupNamespace,
  describeWithTestEngine,
  echoOnce,
  eventually,
  openWebSocket,
  type SshServer,
  serveManager,
  startSshServer,
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

await describeWithTestEngine('a second Docker Engine, remote over mutual TLS and over SSH', (main) => {
  let engine: TestEngine | undefined;
  let ssh: SshServer | undefined;
  const certs = mkdtempSync(join(tmpdir(), 'eng-tls-'));
  let env: Record<string, string> = {};

  beforeAll(async () => {
    // The certificates dde-aws makes for a Docker host, written where dockerd and the client read them.
    const bundle = await generateDockerTlsCertificates({ ipAddresses: ['127.0.0.1'], validityDays: 1 });
    const server = await writeServerCertificates(join(certs, 'server'), bundle);
    const client = await writeClientCertificates(join(certs, 'client'), bundle);
    engine = await startTestEngine({ tls: { ca: server.ca, cert: server.cert, key: server.key } });
    // What the provision tool prints for the host.
    env = {
      DOCKER_HOST: `tcp://127.0.0.1:${engine.tcpPort}`,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: client.dir,
    };
    // The small image travels from the main engine (docker save | docker load); the large Node
    // one is built right there, which is quicker than moving it.
    await buildHttpdImage(main, httpdImage, namespace);
    await Promise.all([
      engine.loadImage(httpdImage),
      buildNodeToolImage(engine.docker, nodeImage, namespace),
    ]);
    // The SSH host runs the engine's CLI for the one command the docker CLI (and dde) sends.
    ssh = await startSshServer({
      forcedCommand: `${execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim()} -H unix://${engine.socketPath} system dial-stdio`,
    });
  }, 180_000);
  afterAll(async () => {
    await ssh?.close();
    await engine?.close();
    await cleanupNamespace(main, namespace);
    rmSync(certs, { recursive: true, force: true });
  });

  it('over TLS: launches there, places the input file, proxies HTTP and WebSocket through published ports, reads logs and events', async () => {
    const backend = backendFromEnv(env, { upstream: 'published' });
    expect(backend.engine).toEqual({ url: `tcp://127.0.0.1:${engine?.tcpPort}`, local: true });
    await exerciseFullPath(backend, 'tls');
  });

  it('over SSH with host-key checking: the same, through published ports on the SSH host', async () => {
    const backend = backendFromEnv(
      { DOCKER_HOST: `ssh://root@127.0.0.1:${ssh?.port}` },
      { publishHostIp: '127.0.0.1', sshArgs: ssh?.sshArgs },
    );
    expect(backend.engine).toEqual({ url: `ssh://root@127.0.0.1:${ssh?.port}`, local: false });
    await exerciseFullPath(backend, 'ssh');
  });

  it('refuses an SSH host whose key is not the known one, with ENGINE_UNAVAILABLE naming known_hosts', async () => {
    const wrongHosts = join(certs, 'wrong_known_hosts');
    writeFileSync(
      wrongHosts,
      `[127.0.0.1]:${ssh?.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd1U6v2g0yV1tq2bY3mXxN3n1dQ0mZyQ2o9pK3aV6cZ\n`,
    );
    const sshArgs = (ssh?.sshArgs ?? []).map((argument) =>
      argument.startsWith('UserKnownHostsFile=') ? `UserKnownHostsFile=${wrongHosts}` : argument,
    );
    const backend = backendFromEnv(
      { DOCKER_HOST: `ssh://root@127.0.0.1:${ssh?.port}` },
      { publishHostIp: '127.0.0.1', sshArgs },
    );
    const error = await backend
      .list({ signal: AbortSignal.timeout(20_000) })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect((error as Error).message).toContain(`ssh://root@127.0.0.1:${ssh?.port}`);
    expect((error as Error).message).toMatch(/Host key verification failed/);
    expect((error as Error).message).toContain('known_hosts');
  });

  it('refuses a client certificate its CA did not sign with ENGINE_UNAVAILABLE naming the TLS settings', async () => {
    const other = mkdtempSync(join(tmpdir(), 'eng-tls-other-'));
    try {
      // A client certificate from another host's bundle, with this engine's CA (so the engine is trusted).
      await writeClientCertificates(
        other,
        await generateDockerTlsCertificates({ ipAddresses: ['127.0.0.1'] }),
      );
      copyFileSync(join(env.DOCKER_CERT_PATH ?? '', 'ca.pem'), join(other, 'ca.pem'));
      const backend = backendFromEnv({ ...env, DOCKER_CERT_PATH: other });
      const error = await backend.list().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      expect((error as Error).message).toContain(`tcp://127.0.0.1:${engine?.tcpPort}`);
      expect((error as Error).message).toContain('DOCKER_CERT_PATH');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  /** Launches an httpd and a WebSocket tool through a manager on `backend`, and checks every path a user takes. */
  async function exerciseFullPath(backend: DockerBackend, label: string): Promise<void> {
    const events: BackendEvent[] = [];
    const following = new AbortController();
    const collecting = (async () => {
      for await (const event of backend.events({ signal: following.signal })) events.push(event);
    })();
    const manager = new ContainerManager({ backend, history: new MemoryHistory() });
    await manager.start();
    const served = await serveManager(manager);
    try {
      const web = `${namespace}-${label}-web`;
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

      const ws = `${namespace}-${label}-ws`;
      await manager.launch({ name: ws, image: nodeImage, port: 80 });
      await manager.waitUntilReady(ws, { signal: AbortSignal.timeout(30_000) });
      const socket = await openWebSocket(served.port, `/docker/${ws}/socket`);
      expect((await echoOnce(socket, 'over tls')).toString()).toBe('over tls');
      socket.close();

      // Only the second engine has them.
      const there = await engine?.docker.listContainers({
        filters: { label: [`dde.namespace=${namespace}`] },
      });
      expect(there?.map((container) => container.Names[0]).sort()).toEqual([`/${web}`, `/${ws}`]);
      expect(
        await main.listContainers({ all: true, filters: { label: [`dde.namespace=${namespace}`] } }),
      ).toEqual([]);

      const logs = await backend.logs(web);
      // httpd saw the proxy's requests come from its network's gateway: docker-proxy, the published port.
      const inspected = await engine?.docker.getContainer(web).inspect();
      const [gateway] = Object.values(inspected?.NetworkSettings.Networks ?? {}).map(
        (network) => network.Gateway,
      );
      expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(logs.map((entry) => entry.text).join('\n')).toContain(`${gateway}]:`);
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
      // A failed case leaves nothing for the next one to find on the shared engine.
      await manager.removeAll().catch(() => undefined);
      await manager.close();
      await backend.close();
    }
  }
});
