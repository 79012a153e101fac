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
import { ContainerManager, DdeMetrics } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { Sessions } from '../auth/session.ts';
import { Signer } from '../auth/signer.ts';
import { parseConfig } from '../config.ts';
import { DataFiles } from '../data/files.ts';
import { DataServer } from '../data/server.ts';
import { makeRouter } from '../demo.ts';
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
  const router = makeRouter(config);
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    config,
    manager,
    files,
    launcher,
  };
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

/** The launch form as a browser posts it, with an upload. */
function launchForm(fileName: string, content = 'a,b\n1,2\n'): FormData {
  const form = new FormData();
  form.set('tool', 'viewer');
  form.set('delivery', 'env');
  form.set('name', '');
  form.set('upload', new Blob([content], { type: 'text/csv' }), fileName);
  return form;
}

describe('uploads', () => {
  it('answers a refused file name with the form error at once (the request used to hang)', async () => {
    const { url } = await startApp();
    for (const [name, message] of [
      ['data.xlsx', '&quot;data.xlsx&quot; is not a CSV file: upload a file ending in .csv, .tsv or .txt'],
      ['.hidden.csv', 'is not an accepted file name'],
    ] as const) {
      const response = await fetch(`${url}/launch`, {
        method: 'POST',
        body: launchForm(name, 'x,y\n'.repeat(20_000)),
        signal: AbortSignal.timeout(5000),
      });
      expect(response.status, name).toBeGreaterThanOrEqual(400);
      expect(await response.text(), name).toContain(message);
    }
  });

  it('accepts ordinary names (spaces, "(1)", accents), stored under a generated id and shown as given', async () => {
    const { url, files } = await startApp();
    for (const name of ['data (1).csv', 'données.csv', 'My results 2024.tsv']) {
      const response = await fetch(`${url}/launch`, {
        method: 'POST',
        body: launchForm(name),
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      });
      expect(response.status, name).toBe(303);
      const stored = files.list('guest').find((file) => file.name === name);
      expect(stored?.path, name).toMatch(/\/u-[0-9a-f]{12}\.data$/);
    }
    const page = await (await fetch(`${url}/`)).text();
    expect(page).toContain('données.csv');
    expect(page).toContain('data (1).csv');
  });
});

describe('gone containers', () => {
  it('a tool URL whose container was removed shows what became of it, as a demo page', async () => {
    const { url, manager } = await startApp();
    await manager.launch({ name: 'guest-live-ab12', image: 'tool:1', port: 8080, owner: 'guest' });
    await manager.remove('guest-live-ab12', { reason: 'manual' });
    const page = await fetch(`${url}/docker/guest-live-ab12/notebook?x=1`, {
      headers: { accept: 'text/html' },
    });
    expect(page.status).toBe(404);
    const body = await page.text();
    expect(body).toContain('<title>guest-live-ab12 is gone · dde demo</title>');
    expect(body).toContain('guest-live-ab12 was removed on request');
    // Launched behind the demo's back: nothing to relaunch it from.
    expect(body).not.toContain('data-action="relaunch"');
    const api = await fetch(`${url}/docker/guest-live-ab12/api`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ code: 'NOT_FOUND' });
    const never = await (
      await fetch(`${url}/docker/never-was/`, { headers: { accept: 'text/html' } })
    ).text();
    expect(never).toContain('There is no container called never-was.');
    // The details page of a removed container is "Not found", not "Check the form".
    const details = await (await fetch(`${url}/containers/guest-live-ab12`)).text();
    expect(details).toContain('<title>Not found · dde demo</title>');
  });
});

describe('the favicon', () => {
  it('is served instead of a 404 on every page', async () => {
    const { url } = await startApp();
    const response = await fetch(`${url}/favicon.ico`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/svg+xml');
    expect(await response.text()).toMatch(/^<svg /);
    expect(await (await fetch(`${url}/`)).text()).toContain('<link rel="icon" href="/favicon.ico"');
  });
});

describe('hostname mode', () => {
  it("frames tools from their own hosts only, and takes a relaunch posted from the gone tool's own host", async () => {
    const { url } = await startApp(['--routing', 'hostname', '--port', '8000']);
    const page = await fetch(`${url}/`, { redirect: 'manual' });
    expect(page.headers.get('content-security-policy')).toContain(
      "frame-src 'self' http://*.docker.localhost:8000",
    );
    const relaunch = (origin: string, name: string) =>
      send(`${url}/containers/${name}/relaunch`, {
        host: 'docker.localhost:8000',
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      });
    // Its own host gets past the origin check (and is told there is nothing to relaunch)...
    const own = await relaunch('http://guest-live-ab12.docker.localhost:8000', 'guest-live-ab12');
    expect(own.status, own.body).toBe(404);
    expect(own.body).toContain('cannot be relaunched');
    // ...another tool's host, or another site, does not.
    expect((await relaunch('http://other-tool.docker.localhost:8000', 'guest-live-ab12')).status).toBe(403);
    expect((await relaunch('http://evil.example', 'guest-live-ab12')).status).toBe(403);
  });
});
