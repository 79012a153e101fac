import { createServer, type Server } from 'node:http';
import { type AttachableProxy, type ContainerManager, closeServer } from '@dde/core';
import { expect } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Cleanups } from '../cleanups.ts';
import { echoOnce, openWebSocket, send } from './client.ts';
import { toolManager } from './memory-tool.ts';

/** An adapter's application for {@link expectGracefulShutdown}: its server, listening, and proxy. */
export interface ShutdownApp {
  readonly server: Server;
  readonly port: number;
  readonly proxy: AttachableProxy;
}

/** The container `tool`: `/slow` answers after 500 ms, anything else at once; WebSockets echo. */
function slowTool(cleanups: Cleanups, namespace: string): Promise<ContainerManager> {
  const tool = createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow and complete'), 500);
    else res.end('quick');
  });
  const wss = new WebSocketServer({ server: tool });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  return toolManager(cleanups, tool, namespace);
}

/**
 * Runs the SIGTERM recipe of the adapters' READMEs on an application mounting the proxy under
 * `/docker` (`build` makes it around the manager) and checks what its clients see: an open
 * WebSocket gets close code 1001, a request in flight gets its whole response, a request during
 * the drain gets a 503 with `Connection: close` and `Retry-After`, and the server stops listening.
 */
export async function expectGracefulShutdown(
  cleanups: Cleanups,
  namespace: string,
  build: (manager: ContainerManager) => Promise<ShutdownApp>,
): Promise<void> {
  const manager = await slowTool(cleanups, namespace);
  const { server, port, proxy } = await build(manager);

  const socket = await openWebSocket(port, '/docker/tool/ws');
  expect((await echoOnce(socket, 'before')).toString()).toBe('before');
  const code = new Promise<number>((resolve) => (socket as WebSocket).once('close', resolve));
  const inFlight = send(port, { path: '/docker/tool/slow' });
  await new Promise((resolve) => setTimeout(resolve, 100));

  // The recipe: stop accepting and drain the server, drain the proxy, then close the manager.
  const shutdown = Promise.all([closeServer(server, { drainMs: 5000 }), proxy.close({ drainMs: 5000 })]).then(
    () => manager.close(),
  );
  expect(await code).toBe(1001);
  const reply = await inFlight;
  expect(reply.status).toBe(200);
  expect(reply.text).toBe('slow and complete');
  expect(reply.headers.connection).toBe('close');
  await shutdown;
  expect(server.listening).toBe(false);
  await expect(send(port, { path: '/docker/tool/' })).rejects.toThrow(/ECONNREFUSED/);
}

/**
 * Checks that a request reaching the proxy while it drains (on a connection opened before) gets
 * a 503 with `Retry-After` and `Connection: close`, while another request is still in flight.
 */
export async function expectRefusedWhileDraining(
  cleanups: Cleanups,
  namespace: string,
  build: (manager: ContainerManager) => Promise<ShutdownApp>,
): Promise<void> {
  const manager = await slowTool(cleanups, namespace);
  const { port, proxy } = await build(manager);
  const inFlight = send(port, { path: '/docker/tool/slow' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closing = proxy.close({ drainMs: 5000 });
  const refused = await send(port, { path: '/docker/tool/', headers: { accept: 'application/json' } });
  expect(refused.status).toBe(503);
  expect(refused.headers.connection).toBe('close');
  expect(refused.headers['retry-after']).toBeDefined();
  expect(JSON.parse(refused.text)).toMatchObject({ code: 'SHUTTING_DOWN' });
  expect((await inFlight).text).toBe('slow and complete');
  await closing;
  expect(() => proxy.close({ drainMs: -1 })).toThrow(expect.objectContaining({ field: 'drainMs' }));
}
