import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { DdeProxy } from './create-proxy.ts';

const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

/**
 * Hands a server's `upgrade` events (WebSockets never pass through Koa or Express middleware)
 * to the proxy. Upgrades the router does not recognise are left to the server's other
 * `upgrade` listeners, or refused with 404 when there are none. Returns the function that
 * detaches the listener again.
 */
export function attachUpgrades(server: HttpServer | HttpsServer, proxy: DdeProxy): () => void {
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (proxy.handleUpgrade(req, socket, head)) return;
    if (server.listenerCount('upgrade') === 1) {
      socket.on('error', () => {});
      socket.end(NOT_FOUND);
    }
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
  };
}

/** A proxy engine and the servers it serves upgrades for: the part every framework adapter shares. */
export interface AttachableProxy {
  /**
   * Wires the server's `upgrade` event so WebSockets reach containers (upgrades never pass
   * through framework middleware). Upgrades the router does not recognise are left to other
   * `upgrade` listeners, or refused with 404 when there are none. Returns the server.
   */
  attach<S extends HttpServer | HttpsServer>(server: S): S;
  /** The underlying proxy engine. */
  readonly proxy: DdeProxy;
  /** Detaches from attached servers and closes open WebSocket sessions. */
  close(): Promise<void>;
}

/** Wraps a proxy engine with `attach` and `close`, for framework adapters to add their middleware to. */
export function attachableProxy(proxy: DdeProxy): AttachableProxy {
  const detachers: (() => void)[] = [];
  return {
    proxy,
    attach(server) {
      detachers.push(attachUpgrades(server, proxy));
      return server;
    },
    async close() {
      for (const detach of detachers.splice(0)) detach();
      await proxy.close();
    },
  };
}
