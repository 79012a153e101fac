// The proxy under test for core's createProxy tests: a ContainerManager on a MemoryBackend, the
// proxy mounted on a plain Node server, local HTTP servers standing in for tools, and clients.
import { createHash } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect as connectTcp } from 'node:net';
import type { Upstream } from '../src/backend.ts';
import { MemoryHistory } from '../src/history/memory-history.ts';
import { ContainerManager, type ContainerManagerOptions } from '../src/manager/container-manager.ts';
import { createProxy } from '../src/proxy/create-proxy.ts';
import type { ProxyOptions } from '../src/proxy/proxy-options.ts';
import { pathRouter } from '../src/routing/path-router.ts';
import type { Router } from '../src/routing/router.ts';
import { MemoryBackend } from '../src/testing/memory-backend.ts';
import { type TestCleanups, testCleanups } from './servers.ts';

/** A tool's request handler. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Sends `request` on a raw connection; resolves with everything received until the proxy closes it. */
export function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received += data;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(request, 'latin1');
  });
}

/** Echoes what the tool saw: method, url, headers and body digest. */
export const echo: Handler = (req, res) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        length,
        sha256: hash.digest('hex'),
      }),
    );
  });
};

/** A proxy under test, on its own port. */
export interface Setup {
  backend: MemoryBackend;
  manager: ContainerManager;
  history: MemoryHistory;
  port: number;
  /** Adds a running container whose tool is `handler`, and waits until it is ready. */
  addTool(
    name: string,
    handler: Handler,
    owner?: string,
  ): Promise<{ upstream: Upstream; connections: () => number }>;
}

/** What a test file uses: each call registers the file's clean-up after each test. */
export interface ProxyFixtures {
  /** Undone after the current test, newest first. */
  readonly cleanups: TestCleanups;
  /** Listens on a free loopback port until the test ends. */
  listen(server: Server): Promise<number>;
  /** A local HTTP server standing in for a container's tool. */
  tool(handler: Handler): Promise<{ upstream: Upstream; server: Server; connections: () => number }>;
  /** A manager on a MemoryBackend and the proxy in front of it, on a plain Node server. */
  setup(
    options?: Partial<ProxyOptions>,
    router?: Router,
    managerOptions?: Partial<ContainerManagerOptions> & { history?: MemoryHistory },
  ): Promise<Setup>;
}

/** Registers the `afterEach` clean-up and returns the fixtures bound to it. Call once per file. */
export function proxyFixtures(): ProxyFixtures {
  const cleanups = testCleanups();
  const listen = (server: Server): Promise<number> => cleanups.listen(server);

  async function tool(
    handler: Handler,
  ): Promise<{ upstream: Upstream; server: Server; connections: () => number }> {
    let connections = 0;
    const server = createServer(handler);
    server.on('connection', () => connections++);
    const port = await listen(server);
    return { upstream: { host: '127.0.0.1', port }, server, connections: () => connections };
  }

  async function setup(
    options: Partial<ProxyOptions> = {},
    router: Router = pathRouter(),
    managerOptions: Partial<ContainerManagerOptions> & { history?: MemoryHistory } = {},
  ): Promise<Setup> {
    const backend = new MemoryBackend({ namespace: 'proxy-unit' });
    const history = managerOptions.history ?? new MemoryHistory();
    const manager = new ContainerManager({
      backend,
      reconcileIntervalMs: 0,
      negativeCacheMs: 0,
      ...managerOptions,
      history,
    });
    cleanups.push(() => manager.close());
    await manager.start();
    const proxy = createProxy({ manager, router, ...options });
    cleanups.push(() => proxy.close());
    const server = createServer((req, res) =>
      proxy.handleRequest(req, res, () => {
        res.setHeader('x-app', 'parent');
        res.end('parent app');
      }),
    );
    server.on('upgrade', (req, socket, head) => {
      if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
    });
    const port = await listen(server);
    return {
      backend,
      manager,
      history,
      port,
      async addTool(name, handler, owner) {
        const started = await tool(handler);
        backend.setUpstream(name, started.upstream);
        backend.add({ name, owner });
        await manager.waitUntilReady(name, { signal: AbortSignal.timeout(3000) });
        return started;
      },
    };
  }

  return { cleanups, listen, tool, setup };
}

/** A reply as a client saw it. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

/** Sends one request without keep-alive; resolves with the whole reply. */
export function send(
  port: number,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string | Buffer[];
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (Array.isArray(options.body)) {
      // Written piecewise without a length: sent chunked.
      for (const part of options.body) req.write(part);
      req.end();
    } else {
      if (options.body !== undefined) req.setHeader('content-length', Buffer.byteLength(options.body));
      req.end(options.body);
    }
  });
}

/** Headers of a browser navigation. */
export const html = { accept: 'text/html,application/xhtml+xml' };
/** Headers of an API client. */
export const json = { accept: 'application/json' };
