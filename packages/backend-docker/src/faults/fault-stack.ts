import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import {
  ContainerManager,
  type ContainerSpec,
  createProxy,
  MemoryHistory,
  type ProxyOptions,
  pathRouter,
  type UpstreamPoolOptions,
} from '@dde/core';
import { DockerBackend } from '../docker-backend.ts';

/** A manager on the real engine with the proxy in front of it on a loopback port. */
export interface FaultStack {
  readonly manager: ContainerManager;
  readonly port: number;
  /** Launches a fault tool container and waits until it is ready. */
  launch(name: string): Promise<void>;
  close(): Promise<void>;
}

/** The spec of a container running the fault tool image. */
export function faultTool(name: string, image: string): ContainerSpec {
  return { name, image, port: 80, readiness: { path: '/ok', timeoutMs: 20_000 } };
}

export async function faultStack(
  namespace: string,
  image: string,
  proxyOptions: Partial<ProxyOptions> = {},
  pool?: UpstreamPoolOptions,
): Promise<FaultStack> {
  const manager = new ContainerManager({
    backend: new DockerBackend({ namespace }),
    history: new MemoryHistory(),
    ...(pool && { pool }),
  });
  await manager.start();
  const proxy = createProxy({ manager, router: pathRouter(), ...proxyOptions });
  const server: Server = createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head) || socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    manager,
    port,
    async launch(name) {
      await manager.launch(faultTool(name, image));
      await manager.waitUntilReady(name, { signal: AbortSignal.timeout(20_000) });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
      await manager.close();
    },
  };
}

/** What a raw exchange with the proxy brought back. */
export interface RawReply {
  /** Every byte the proxy sent. */
  readonly bytes: Buffer;
  /** The proxy closed the connection (rather than the wait running out). */
  readonly closed: boolean;
  /** When it closed (or the wait ran out), in ms since the request was written. */
  readonly ms: number;
}

/**
 * Writes `request` as is to the proxy and collects what comes back until the proxy closes, or
 * `until` says enough, or `timeoutMs` passes.
 */
export function rawExchange(
  port: number,
  request: string | Buffer,
  options: { timeoutMs?: number; until?: (bytes: Buffer) => boolean } = {},
): Promise<RawReply> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (options.until?.(Buffer.concat(chunks))) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(request);
  });
}

/** Whether a response head has arrived whole. */
export function headRead(bytes: Buffer): boolean {
  return bytes.includes('\r\n\r\n');
}

/** A GET of `path` under the container, HTTP/1.1 unless `version` says otherwise. */
export function getRequest(name: string, path: string, version = '1.1', extra = ''): string {
  return `GET /docker/${name}${path} HTTP/${version}\r\nHost: localhost\r\n${extra}\r\n`;
}

/** The path that makes the fault tool send `bytes` exactly. */
export function rawPath(bytes: string, close = false): string {
  return `/${close ? 'raw-close' : 'raw'}/${Buffer.from(bytes, 'latin1').toString('base64url')}`;
}

/**
 * Starts a download that never ends and reads it slowly (so it is in flight when a fault hits);
 * `fast()` reads at full speed from then on, so what was already under way drains at once and
 * `cut` tells when the proxy closed the connection.
 */
export function openDownload(
  port: number,
  name: string,
): Promise<{ socket: Socket; cut: Promise<number>; fast: () => void }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    let slow = true;
    const cut = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
    const fast = (): void => {
      slow = false;
      socket.resume();
    };
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (slow && received > 256 * 1024) {
        socket.pause();
        setTimeout(() => slow && socket.resume(), 20);
      }
      if (received === chunk.length) resolve({ socket, cut, fast });
    });
    socket.once('close', () => {
      if (received === 0) reject(new Error('the download was refused'));
    });
    socket.write(getRequest(name, '/big'));
  });
}

/** Opens a WebSocket session (the fault tool echoes raw bytes) and reports when it closes. */
export function openTunnel(port: number, name: string): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let head = '';
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
    socket.on('error', () => {});
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve({ socket, closed });
      else reject(new Error(`the upgrade was refused: ${head.slice(0, 40)}`));
    };
    socket.on('data', onData);
    socket.write(
      getRequest(
        name,
        '/ws',
        '1.1',
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
      ),
    );
  });
}
