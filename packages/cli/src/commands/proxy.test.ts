import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
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

describe('dde proxy', () => {
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
