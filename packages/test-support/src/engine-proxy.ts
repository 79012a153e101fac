import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One request that went through an {@link EngineProxy}. */
export interface RecordedRequest {
  /** HTTP method. */
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** Request headers. */
  readonly headers: IncomingMessage['headers'];
  /** The request body (filled in once it has been read). */
  body: Buffer;
}

/** A recording HTTP proxy in front of a Docker Engine socket (see {@link startEngineProxy}). */
export interface EngineProxy {
  /** Unix socket to point a client at: `new Dockerode({ socketPath })`. */
  readonly socketPath: string;
  /** Every request seen, in order. */
  readonly requests: RecordedRequest[];
  /** Destroys every open connection (both sides), as an engine restart would. */
  cutConnections(): void;
  /**
   * From now on, requests matching `predicate` still reach the engine, which acts on them, but
   * the client's connection is destroyed instead of receiving the answer: the engine died
   * between acting and answering. Returns a function that stops it.
   */
  cutAnswers(predicate: (request: RecordedRequest) => boolean): () => void;
  /**
   * From now on, requests matching `predicate` are accepted and never answered nor forwarded:
   * an engine that hangs. Returns a function that stops it (held requests stay held).
   */
  hang(predicate: (request: RecordedRequest) => boolean): () => void;
  /** Stops the proxy and removes its socket. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP proxy on a fresh unix socket that forwards to the engine at `target` and
 * records each request (method, URL, headers, body). Lets tests check what reaches the engine
 * API (nothing secret in a URL) and cut streams as an engine restart would.
 */
export async function startEngineProxy(target = '/var/run/docker.sock'): Promise<EngineProxy> {
  const directory = mkdtempSync(join(tmpdir(), 'dde-engine-proxy-'));
  const socketPath = join(directory, 'docker.sock');
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const cutters = new Set<(request: RecordedRequest) => boolean>();
  const hangers = new Set<(request: RecordedRequest) => boolean>();
  const server = createServer((req, res) => {
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.alloc(0),
    };
    requests.push(recorded);
    if ([...hangers].some((hang) => hang(recorded))) return;
    const chunks: Buffer[] = [];
    const upstream = request(
      // One engine connection per request, so that cutting connections never hits a reused one.
      { socketPath: target, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        if ([...cutters].some((cut) => cut(recorded))) {
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('socket', (socket) => sockets.add(socket));
    upstream.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      recorded.body = Buffer.concat(chunks);
    });
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    socketPath,
    requests,
    cutConnections() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    cutAnswers(predicate) {
      cutters.add(predicate);
      return () => cutters.delete(predicate);
    },
    hang(predicate) {
      hangers.add(predicate);
      return () => hangers.delete(predicate);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
