/**
 * The demo's Koa application over HTTP, without an engine: a real `ContainerManager` on core's
 * `MemoryBackend`, the real pages, forms and proxy, on a loopback port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerManager, DdeMetrics, pathRouter } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { Sessions } from '../auth/session.ts';
import { Signer } from '../auth/signer.ts';
import { parseConfig } from '../config.ts';
import { DataFiles } from '../data/files.ts';
import { DataServer } from '../data/server.ts';
import { ImageBuilder } from '../images/builder.ts';
import { Launcher } from '../launch/launcher.ts';
import { RemovalLog } from '../launch/removals.ts';
import { ToolImages } from '../tools/images.ts';
import { allowedHost, createApp } from './app.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The demo's app with `args` as its flags; resolves with its base URL on 127.0.0.1. */
async function startApp(args: string[] = []) {
  const dataDir = await mkdtemp(join(tmpdir(), 'dde-demo-app-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const config = parseConfig(['--data-dir', dataDir, ...args], {});
  const manager = new ContainerManager({
    backend: new MemoryBackend({ namespace: `app-${randomBytes(3).toString('hex')}` }),
    reconcileIntervalMs: 0,
    metrics: new DdeMetrics(),
  });
  await manager.start();
  cleanups.push(() => manager.close());
  const files = await DataFiles.open({
    samplesDir: fileURLToPath(new URL('../../samples/', import.meta.url)),
    uploadDir: join(dataDir, 'uploads'),
    maxUploadBytes: config.maxUploadBytes,
  });
  const signer = new Signer(randomBytes(32));
  const router = pathRouter({ prefix: '/docker', origin: config.publicOrigin });
  const launcher = new Launcher({
    manager,
    // No engine answers here: launches fail at the image build.
    images: new ToolImages(
      new ImageBuilder(new Dockerode({ socketPath: join(dataDir, 'no-engine.sock') })),
      'dde-demo-test',
    ),
    files,
    data: new DataServer(files, signer),
    router,
    publicOrigin: config.publicOrigin,
  });
  const { app, proxy } = createApp({
    config,
    manager,
    launcher,
    removals: new RemovalLog(manager),
    files,
    sessions: new Sessions(signer),
    router,
    footer: 'test',
  });
  const server = createServer(app.callback());
  proxy.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await proxy.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, config, manager };
}

/** A request with the `Host` header of our choosing (fetch will not send one). */
function send(
  url: string,
  options: { host: string; method?: string; headers?: Record<string, string> },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: { ...options.headers, host: options.host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.method === 'POST' ? '' : undefined);
  });
}

describe("the demo's pages", () => {
  it('may not be framed, sniffed or run scripts from elsewhere', async () => {
    const { url } = await startApp();
    for (const path of ['/', '/dashboard', '/nothing-here', '/containers/nope', '/assets/app.css']) {
      const response = await fetch(`${url}${path}`, { redirect: 'manual' });
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toMatch(/script-src 'self'[^;]*;/);
      expect(csp, path).toContain("object-src 'none'");
    }
  });
});

describe('hosts', () => {
  it("refuses other sites' names for this machine (DNS rebinding): no pages, no forms, no tools", async () => {
    const { url, manager } = await startApp();
    await manager.launch({ name: 'guest-live-ab12', image: 'tool:1', port: 8080, owner: 'guest' });
    const evil = 'rebind.evil.example:8000';
    const page = await send(`${url}/dashboard`, { host: evil });
    expect(page.status).toBe(421);
    expect(page.body).not.toContain('guest-live-ab12');
    expect(page.body).toContain('This demo is served at http://localhost:8000');
    const kill = await send(`${url}/containers/guest-live-ab12/remove`, {
      host: evil,
      method: 'POST',
      headers: { origin: `http://${evil}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(kill.status).toBe(421);
    expect(manager.get('guest-live-ab12')).toBeDefined();
    expect((await send(`${url}/docker/guest-live-ab12/`, { host: evil })).status).toBe(421);
    for (const host of ['localhost:8000', '127.0.0.1:8000', '[::1]:8000']) {
      expect((await send(`${url}/dashboard`, { host })).status, host).toBe(200);
    }
  });

  it("are the public host, localhost, IP addresses, and the tools' hosts in hostname mode", () => {
    const path = allowedHost({ publicOrigin: 'https://demo.example.org', routing: 'path', domain: 'x' });
    expect(['demo.example.org', 'demo.example.org:443', 'localhost:8000', '10.0.0.5:80'].map(path)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(
      ['evil.example', 'demo.example.org.evil.example', 'a.demo.example.org', '', undefined].map(path),
    ).toEqual([false, false, false, false, false]);
    const hostname = allowedHost({
      publicOrigin: 'http://docker.example.org',
      routing: 'hostname',
      domain: 'docker.example.org',
    });
    expect(hostname('alice-live-ab12.docker.example.org')).toBe(true);
    expect(hostname('docker.example.org.evil.example')).toBe(false);
  });
});
