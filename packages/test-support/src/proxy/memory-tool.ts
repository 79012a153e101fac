import type { Server } from 'node:http';
import { ContainerManager } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import type { Cleanups } from '../cleanups.ts';

/**
 * A manager over an in-memory backend whose one container, `tool`, is served by `tool` (a local
 * server, started here on 127.0.0.1): resolves once the route is ready. Server and manager are
 * closed after the test.
 */
export async function toolManager(
  cleanups: Cleanups,
  tool: Server,
  namespace: string,
): Promise<ContainerManager> {
  const port = await cleanups.listening(tool.listen(0, '127.0.0.1'));
  const backend = new MemoryBackend({ namespace });
  backend.setUpstream('tool', { host: '127.0.0.1', port });
  backend.add({ name: 'tool' }, { silent: true });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0 });
  cleanups.push(() => manager.close());
  await manager.start();
  await manager.waitUntilReady('tool');
  return manager;
}
