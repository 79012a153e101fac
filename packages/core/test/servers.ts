// Test helpers for core's own tests (core cannot use @dde/test-support, which depends on it).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** What a test file made, undone newest first after each test. */
export interface TestCleanups {
  /** Runs `undo` after the current test. */
  push(undo: () => unknown): void;
  /** Listens on a free loopback port; after the test, cuts the server's connections and closes it. */
  listen(server: Server): Promise<number>;
}

/** Registers the `afterEach` that runs what the file's tests pushed. Call once per file. */
export function testCleanups(): TestCleanups {
  const undos: (() => unknown)[] = [];
  afterEach(async () => {
    while (undos.length > 0) await undos.pop()?.();
  });
  return {
    push: (undo) => {
      undos.push(undo);
    },
    async listen(server) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      undos.push(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      );
      return (server.address() as AddressInfo).port;
    },
  };
}
