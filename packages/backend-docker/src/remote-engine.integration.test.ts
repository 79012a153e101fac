import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { fileInput } from '@dde/core';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  localEngineSocket,
  makeTestCertificates,
  NAMESPACE_LABEL,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { resolveEngine } from './engine.ts';
import { DockerBackend } from './index.ts';

await describeWithDocker(
  'DockerBackend on a TCP engine with TLS (DOCKER_HOST, DOCKER_TLS_VERIFY)',
  (docker) => {
    const namespace = uniqueNamespace('bdtest');
    const engine = resolveEngine();
    const socketPath = localEngineSocket(engine.endpoint);
    const certs = mkdtempSync(join(tmpdir(), 'dde-tls-'));
    let server: Server;
    let port = 0;
    const sockets = new Set<Socket>();

    beforeAll(async () => {
      makeTestCertificates(certs);
      // A TLS front for the local engine that insists on a client certificate signed by the CA.
      server = createServer(
        {
          key: readFileSync(join(certs, 'server-key.pem')),
          cert: readFileSync(join(certs, 'server-cert.pem')),
          ca: readFileSync(join(certs, 'ca.pem')),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (client) => {
          const upstream = connect(socketPath ?? '/var/run/docker.sock');
          sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          client.on('error', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      vi.unstubAllEnvs();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      rmSync(certs, { recursive: true, force: true });
      await cleanupNamespace(docker, namespace);
    });

    it.skipIf(socketPath === undefined)('lists and launches through the TLS endpoint', async () => {
      vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${port}`);
      vi.stubEnv('DOCKER_TLS_VERIFY', '1');
      vi.stubEnv('DOCKER_CERT_PATH', certs);
      vi.stubEnv('DOCKER_CONTEXT', '');
      const backend = new DockerBackend({ namespace });
      expect(backend.engine).toEqual({ url: `tcp://127.0.0.1:${port}`, local: true });
      expect(await backend.list()).toEqual([]);
      const image = await buildImage(docker, `${namespace}-busybox:1`, {
        labels: { [NAMESPACE_LABEL]: namespace },
      });
      const info = await backend.launch({
        name: `${namespace}-tls`,
        image,
        command: ['sleep', '3600'],
        input: { over: 'tls' },
        inputs: [fileInput('/input.json')],
      });
      expect(info.state).toBe('running');
      expect(await backend.remove(info.name)).toBe(true);
      await backend.close();
    });

    it.skipIf(socketPath === undefined)(
      'refuses an engine whose certificate the CA did not sign',
      async () => {
        const other = mkdtempSync(join(tmpdir(), 'dde-tls-other-'));
        try {
          makeTestCertificates(other);
          vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${port}`);
          vi.stubEnv('DOCKER_TLS_VERIFY', '1');
          vi.stubEnv('DOCKER_CERT_PATH', other);
          const backend = new DockerBackend({ namespace });
          const error = await backend.list().catch((caught: unknown) => caught);
          expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
          expect((error as Error).message).toContain(`tcp://127.0.0.1:${port}`);
          expect((error as Error).message).toContain('DOCKER_CERT_PATH');
        } finally {
          rmSync(other, { recursive: true, force: true });
        }
      },
    );

    it.skipIf(socketPath === undefined)(
      'reports a missing client certificate as ENGINE_UNAVAILABLE',
      async () => {
        const caOnly = mkdtempSync(join(tmpdir(), 'dde-tls-ca-'));
        try {
          writeFileSync(join(caOnly, 'ca.pem'), readFileSync(join(certs, 'ca.pem')));
          vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${port}`);
          vi.stubEnv('DOCKER_TLS_VERIFY', '1');
          vi.stubEnv('DOCKER_CERT_PATH', caOnly);
          const backend = new DockerBackend({ namespace });
          const error = await backend.list().catch((caught: unknown) => caught);
          expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
          expect((error as Error).message).toContain(`tcp://127.0.0.1:${port}`);
        } finally {
          rmSync(caOnly, { recursive: true, force: true });
        }
      },
    );
  },
);
