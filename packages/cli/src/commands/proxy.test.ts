import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MemoryBackend } from '@dde/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../cli.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** `dde proxy ...args` in-process over an in-memory backend with one ready tool; resolves with its URL. */
async function startProxy(...args: string[]): Promise<string> {
  const tool = createServer((req, res) => res.end(`tool saw ${req.url}`));
  tool.listen(0, '127.0.0.1');
  await once(tool, 'listening');
  cleanups.push(() => new Promise((resolve) => tool.close(resolve)));
  const backend = new MemoryBackend({ namespace: 'cli-proxy' });
  backend.setUpstream('web', { host: '127.0.0.1', port: (tool.address() as AddressInfo).port });
  backend.add({ name: 'web' }, { silent: true });

  const stdout = new PassThrough();
  const stopper = new AbortController();
  const exited = main(['proxy', '--port', '0', ...args], {
    stdout,
    stderr: new PassThrough(),
    env: {},
    signal: stopper.signal,
    backend: () => backend,
  });
  cleanups.push(async () => {
    stopper.abort();
    expect(await exited).toBe(0);
  });
  const [line] = (await once(stdout, 'data')) as [Buffer];
  return line.toString().trim();
}

/** `dde proxy ...args` in-process over an empty in-memory backend, without a stop signal. */
async function proxyOnce(...args: string[]): Promise<{ code: number; stderr: string }> {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (chunk) => {
    text += chunk;
  });
  const code = await main(['proxy', ...args], {
    stdout: new PassThrough(),
    stderr,
    env: {},
    backend: (namespace) => new MemoryBackend({ namespace }),
  });
  return { code, stderr: text };
}

describe('dde proxy', () => {
  it("exits 1 at once with a hint when the port is taken or the address is not this machine's", async () => {
    const busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const port = (busy.address() as AddressInfo).port;
    const taken = await proxyOnce('--port', String(port));
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(
      `dde: LISTEN_FAILED: 127.0.0.1:${port} is already in use: choose another port with --port (--port 0 takes any free one)\n`,
    );
    // 192.0.2.1 is TEST-NET-1: never an address of this machine.
    const elsewhere = await proxyOnce('--port', '0', '--host', '192.0.2.1');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(
      /^dde: LISTEN_FAILED: cannot listen on 192\.0\.2\.1: it is not an address of this machine; choose --host 127\.0\.0\.1/,
    );
  });

  it('as a process: a taken port exits 1 at once, before any engine is contacted', async () => {
    const busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const bin = fileURLToPath(new URL('../bin.ts', import.meta.url));
    // DOCKER_HOST points nowhere: the busy port must be found before any engine is contacted.
    const env = { ...process.env, DOCKER_HOST: 'unix:///nonexistent/nc-docker.sock', NODE_OPTIONS: '' };
    const taken = spawn(
      process.execPath,
      ['--conditions=dev-source', bin, 'proxy', '--port', String((busy.address() as AddressInfo).port)],
      { env },
    );
    let stderr = '';
    taken.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code] = (await once(taken, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toMatch(/LISTEN_FAILED: .* is already in use: choose another port with --port/);
  });

  it('answers requests outside the containers with a 404 naming where they are (path routing)', async () => {
    const origin = await startProxy();
    let response = await fetch(`${origin}/docker/web/a?b=1`);
    // The tool is probed first: 503 until it answers.
    while (response.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      response = await fetch(`${origin}/docker/web/a?b=1`);
    }
    expect(await response.text()).toBe('tool saw /a?b=1');
    for (const path of ['/', '/favicon.ico']) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status).toBe(404);
      expect(await response.text()).toBe(`Not found. Containers are served at ${origin}/docker/<name>/\n`);
    }
  });

  it('answers other hosts with a 404 naming the hostnames, with the port (hostname routing)', async () => {
    const origin = await startProxy('--hostname-suffix', 'docker.localhost');
    const { port } = new URL(origin);
    const response = await fetch(`${origin}/`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe(
      `Not found. Containers are served at http://<name>.docker.localhost:${port}/\n`,
    );
  });
});
