import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MemoryBackend } from '@dde/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../cli.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A `dde proxy` running in-process. */
interface RunningProxy {
  /** Its URL, as printed on stdout. */
  origin: string;
  /** What it printed on stderr so far. */
  stderr(): string;
  /** Ctrl-C: aborts its signal and resolves with its exit code. */
  stop(): Promise<number>;
}

/**
 * `dde proxy ...args` in-process over an in-memory backend with one ready tool (`/slow` answers
 * after 300 ms, a WebSocket upgrade is accepted and held open).
 */
async function startProxy(...args: string[]): Promise<RunningProxy> {
  const tool = createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow answer'), 300);
    else res.end(`tool saw ${req.url}`);
  });
  const upgraded = new Set<Duplex>();
  tool.on('upgrade', (_req, socket: Duplex) => {
    upgraded.add(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('error', () => socket.destroy());
  });
  tool.listen(0, '127.0.0.1');
  await once(tool, 'listening');
  cleanups.push(() => {
    tool.closeAllConnections();
    for (const socket of upgraded) socket.destroy();
    return new Promise((resolve) => tool.close(resolve));
  });
  const backend = new MemoryBackend({ namespace: 'cli-proxy' });
  backend.setUpstream('web', { host: '127.0.0.1', port: (tool.address() as AddressInfo).port });
  backend.add({ name: 'web' }, { silent: true });

  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let stderrText = '';
  stderr.on('data', (chunk) => {
    stderrText += chunk;
  });
  const stopper = new AbortController();
  const exited = main(['proxy', '--port', '0', ...args], {
    stdout,
    stderr,
    env: {},
    signal: stopper.signal,
    backend: () => backend,
  });
  const stop = (): Promise<number> => {
    stopper.abort();
    return exited;
  };
  cleanups.push(async () => expect(await stop()).toBe(0));
  const [line] = (await once(stdout, 'data')) as [Buffer];
  return { origin: line.toString().trim(), stderr: () => stderrText, stop };
}

/** Fetches until the tool answers (the proxy probes it first: 503 until then). */
async function fetchReady(url: string): Promise<Response> {
  let response = await fetch(url);
  while (response.status === 503) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    response = await fetch(url);
  }
  return response;
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
    const { origin } = await startProxy();
    const response = await fetchReady(`${origin}/docker/web/a?b=1`);
    expect(await response.text()).toBe('tool saw /a?b=1');
    for (const path of ['/', '/favicon.ico']) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status).toBe(404);
      expect(await response.text()).toBe(`Not found. Containers are served at ${origin}/docker/<name>/\n`);
    }
  });

  it('answers other hosts with a 404 naming the hostnames, with the port (hostname routing)', async () => {
    const { origin } = await startProxy('--hostname-suffix', 'docker.localhost');
    const { port } = new URL(origin);
    const response = await fetch(`${origin}/`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe(
      `Not found. Containers are served at http://<name>.docker.localhost:${port}/\n`,
    );
  });

  it('stops gracefully on Ctrl-C: a request under way finishes, a WebSocket gets 1001, then it exits 0', async () => {
    const proxy = await startProxy('--drain', '5s');
    await fetchReady(`${proxy.origin}/docker/web/`);
    const { port } = new URL(proxy.origin);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(
      'GET /docker/web/ws HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
    );
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    while (!received.includes('\r\n\r\n')) await once(socket, 'data');
    const slow = fetch(`${proxy.origin}/docker/web/slow`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    const code = await proxy.stop();
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await (await slow).text()).toBe('slow answer');
    // The close frame dde sent the client: FIN + close opcode, code 1001 (0x03e9).
    const frames = received.subarray(received.indexOf('\r\n\r\n') + 4);
    expect(frames.subarray(0, 1)[0]).toBe(0x88);
    expect(frames.readUInt16BE(2)).toBe(1001);
    expect(proxy.stderr()).toMatch(/stopping \(drains for up to 5s\)/);
    socket.destroy();
  });

  it('refuses a --drain that is not a duration, before listening', async () => {
    const refused = await proxyOnce('--port', '0', '--drain', 'soon');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--drain.*"soon" is not a duration/);
  });
});
