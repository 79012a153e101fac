import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { type CloseOptions, drainTime } from './shutdown.ts';

/** How often idle keep-alive connections are closed while a server drains, in ms. */
const SWEEP_MS = 100;

/**
 * Closes a Node HTTP(S) server gracefully, as http-terminator or nginx's graceful quit do: it
 * stops accepting connections at once, closes idle keep-alive connections (and those that turn
 * idle later, as their responses end), answers requests that still arrive on open connections
 * with `Connection: close`, and waits for active requests up to `drainMs` (default 10 s), then
 * closes every connection left. Resolves once the server is closed, or when the drain time ran
 * out. Upgraded connections (WebSockets) are not the server's to end: close the proxy alongside
 * (its `close()` ends its sessions with code 1001).
 *
 * @example
 * ```ts
 * process.once('SIGTERM', async () => {
 *   await Promise.all([closeServer(server, { drainMs: 10_000 }), proxy.close({ drainMs: 10_000 })]);
 *   await manager.close();
 * });
 * ```
 *
 * @throws {@link DdeError} `INVALID_OPTION` (synchronously) naming `drainMs` when it is not a
 *   non-negative number, or an unknown field.
 */
export function closeServer(server: HttpServer | HttpsServer, options?: CloseOptions): Promise<void> {
  const drainMs = drainTime(options, 'closeServer()');
  // Runs before the application's own listener: its response, whenever it comes, ends the
  // connection, so the client opens its next one elsewhere.
  const lastOnConnection = (_req: IncomingMessage, res: ServerResponse): void => {
    res.shouldKeepAlive = false;
  };
  server.prependListener('request', lastOnConnection);
  return new Promise((resolve) => {
    let sweep: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearInterval(sweep);
      clearTimeout(deadline);
      server.off('request', lastOnConnection);
      resolve();
    };
    // Node closes the connections idle now; the sweep takes those whose responses end later.
    server.close(done);
    sweep = setInterval(() => server.closeIdleConnections(), SWEEP_MS);
    deadline = setTimeout(() => {
      server.closeAllConnections();
      done();
    }, drainMs);
  });
}
