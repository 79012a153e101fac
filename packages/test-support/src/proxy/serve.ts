import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ContainerManager, createProxy, pathRouter } from '@dde/core';

/** A core proxy for a manager on a loopback port (see {@link serveManager}). */
export interface ServedManager {
  /** The loopback port. */
  readonly port: number;
  /** GETs `path` through the proxy (redirects not followed). */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Closes the server (open connections included) and the proxy; the manager stays yours. */
  close(): Promise<void>;
}

/**
 * Serves `manager` through core's proxy with `pathRouter()` (`/docker/<name>/...`) on a free
 * loopback port, WebSocket upgrades included: the whole request path a Koa or Express app gets.
 */
export async function serveManager(manager: ContainerManager): Promise<ServedManager> {
  const proxy = createProxy({ manager, router: pathRouter() });
  const server = createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head) || socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    get: (path, headers = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers, redirect: 'manual' }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    },
  };
}
