import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { writeSocketResponse } from './pages.ts';
import type { DdeProxy } from './proxy-options.ts';
import type { CloseOptions } from './shutdown.ts';

type AnyServer = HttpServer | HttpsServer;
/** Node >= 24.9 decides per request whether an `Upgrade` header makes it an upgrade. */
type UpgradeDecision = (this: AnyServer, req: IncomingMessage) => boolean;
type ServerWithDecision = AnyServer & { shouldUpgradeCallback?: UpgradeDecision };

/** What is attached to one server: one `upgrade` listener serves every proxy attached to it. */
interface Attachment {
  readonly proxies: DdeProxy[];
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The server's own decision, restored on detach; undefined before Node 24.9. */
  readonly previousDecision: UpgradeDecision | undefined;
  readonly decision: UpgradeDecision | undefined;
}

const attachments = new WeakMap<AnyServer, Attachment>();

/** Whether the request asks for a WebSocket (`Upgrade` lists `websocket`). */
function asksForWebSocket(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && /(?:^|,)\s*websocket\s*(?:,|$)/i.test(upgrade);
}

/**
 * Hands a server's `upgrade` events (WebSockets never pass through Koa or Express middleware)
 * to the proxy. Upgrades no attached proxy recognises are left to the server's other
 * `upgrade` listeners, or refused with 404 when there are none. On Node >= 24.9 only WebSocket
 * upgrades a proxy recognises (and those other listeners want) are taken as upgrades: any
 * other request with an `Upgrade` header (an `h2c` offer, say) is served by the application
 * as the ordinary request it also is. Returns the function that detaches the proxy again.
 */
export function attachUpgrades(server: HttpServer | HttpsServer, proxy: DdeProxy): () => void {
  let attachment = attachments.get(server);
  if (attachment === undefined) {
    attachment = attach(server as ServerWithDecision);
    attachments.set(server, attachment);
  }
  attachment.proxies.push(proxy);
  let detached = false;
  return () => {
    if (detached) return;
    detached = true;
    const current = attachments.get(server);
    if (current === undefined) return;
    const index = current.proxies.indexOf(proxy);
    if (index !== -1) current.proxies.splice(index, 1);
    if (current.proxies.length === 0) detach(server as ServerWithDecision, current);
  };
}

function attach(server: ServerWithDecision): Attachment {
  const proxies: DdeProxy[] = [];
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    for (const proxy of proxies) if (proxy.handleUpgrade(req, socket, head)) return;
    if (server.listenerCount('upgrade') === 1) {
      socket.on('error', () => {});
      writeSocketResponse(socket, 404, 'Not found');
    }
  };
  server.on('upgrade', onUpgrade);
  const previousDecision = server.shouldUpgradeCallback;
  let decision: UpgradeDecision | undefined;
  if (typeof previousDecision === 'function') {
    decision = function (this: AnyServer, req: IncomingMessage): boolean {
      if (asksForWebSocket(req) && proxies.some((proxy) => proxy.recognises(req))) return true;
      // Other upgrade listeners (the application's own WebSockets) decide as before.
      return server.listenerCount('upgrade') > 1 && previousDecision.call(this, req);
    };
    server.shouldUpgradeCallback = decision;
  }
  return { proxies, onUpgrade, previousDecision, decision };
}

function detach(server: ServerWithDecision, attachment: Attachment): void {
  server.off('upgrade', attachment.onUpgrade);
  if (attachment.decision !== undefined && server.shouldUpgradeCallback === attachment.decision) {
    server.shouldUpgradeCallback = attachment.previousDecision;
  }
  attachments.delete(server);
}

/** A proxy engine and the servers it serves upgrades for: the part every framework adapter shares. */
export interface AttachableProxy {
  /**
   * Wires the server's `upgrade` event so WebSockets reach containers (upgrades never pass
   * through framework middleware). Upgrades the router does not recognise are left to other
   * `upgrade` listeners, or refused with 404 when there are none; several proxies may be
   * attached to one server. Returns the server.
   */
  attach<S extends HttpServer | HttpsServer>(server: S): S;
  /** The underlying proxy engine. */
  readonly proxy: DdeProxy;
  /**
   * Drains the proxy for a shutdown (see `DdeProxy.close`: new requests and upgrades get a
   * 503 with `Retry-After` and `Connection: close`, HTTP exchanges in flight finish, WebSocket
   * sessions are closed with code 1001, whatever is left after `drainMs` (default 10 s) is cut),
   * then detaches from the attached servers. The servers keep listening: close them alongside
   * with `closeServer`.
   *
   * @throws `DdeError` `INVALID_OPTION` (synchronously) naming `drainMs` when it is not a
   *   non-negative number, or an unknown field.
   */
  close(options?: CloseOptions): Promise<void>;
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
    close(options) {
      // Detached only once drained: an upgrade arriving meanwhile gets the proxy's 503.
      return proxy.close(options).then(() => {
        for (const detach of detachers.splice(0)) detach();
      });
    },
  };
}
