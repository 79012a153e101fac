import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** What a test file made, undone after each test: see {@link cleanupsAfterEach}. */
export interface Cleanups {
  /** Runs `undo` after the current test (the latest registered first, awaited one by one). */
  push(undo: () => unknown): void;
  /**
   * Waits until `server` listens and resolves with its port; after the test, its connections
   * are cut and it is closed.
   */
  listening(server: Server): Promise<number>;
}

/**
 * Registers an `afterEach` that undoes, newest first, whatever the file's tests registered:
 * servers, managers, proxies. Call once at the top of a test file.
 *
 * @example
 * ```ts
 * const cleanups = cleanupsAfterEach();
 * const port = await cleanups.listening(app.listen(0, '127.0.0.1'));
 * cleanups.push(() => manager.close());
 * ```
 */
export function cleanupsAfterEach(): Cleanups {
  const undos: (() => unknown)[] = [];
  afterEach(async () => {
    while (undos.length > 0) await undos.pop()?.();
  });
  return {
    push(undo) {
      undos.push(undo);
    },
    async listening(server) {
      if (!server.listening) await once(server, 'listening');
      undos.push(() => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      });
      return (server.address() as AddressInfo).port;
    },
  };
}
