// One application process for the replica tests:
//   node --conditions=dev-source replica-app.ts
// It prints `listening <port>` once it serves and logs JSON lines to stderr. Each test opens
// its own namespace in it (POST /control/open {namespace, redisUrl, manager}): a RedisStore, a
// ContainerManager on the Docker Engine and a proxy for /<namespace>/docker/<name>/..., driven
// through /control/<namespace>/(launch|cull|close).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DockerBackend } from '@dde/backend-docker';
import {
  attachUpgrades,
  ContainerManager,
  type ContainerManagerOptions,
  type ContainerSpec,
  closeServer,
  createProxy,
  type DdeProxy,
  isDdeError,
  type Logger,
  pathRouter,
} from '@dde/core';
import { RedisStore } from '../src/index.ts';

interface OpenRequest {
  readonly namespace: string;
  readonly redisUrl: string;
  readonly manager?: Pick<ContainerManagerOptions, 'capacity' | 'limits' | 'culling' | 'reconcileIntervalMs'>;
}

function loggerFor(namespace: string): Logger {
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      const error = fields.error instanceof Error ? fields.error.message : fields.error;
      process.stderr.write(`${JSON.stringify({ level, namespace, message, ...fields, error })}\n`);
    };
  return { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
}

const opened = new Map<string, { manager: ContainerManager; proxy: DdeProxy; detach: () => void }>();

async function open(request: OpenRequest): Promise<void> {
  const logger = loggerFor(request.namespace);
  const store = new RedisStore({ url: request.redisUrl, namespace: request.namespace, logger });
  const manager = new ContainerManager({
    backend: new DockerBackend({ namespace: request.namespace }),
    history: store.history,
    coordination: store.coordination,
    logger,
    ...request.manager,
  });
  try {
    await manager.start();
  } catch (error) {
    await manager.close();
    throw error;
  }
  const proxy = createProxy({ manager, router: pathRouter({ prefix: `/${request.namespace}/docker` }) });
  opened.set(request.namespace, { manager, proxy, detach: attachUpgrades(server, proxy) });
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString());
}

function reply(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value ?? null));
}

async function control(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const [, , namespace = '', what = ''] = (req.url ?? '').split('/');
    if (namespace === 'open') {
      await open((await body(req)) as OpenRequest);
      return reply(res, 200, {});
    }
    const entry = opened.get(namespace);
    if (entry === undefined) return reply(res, 404, { message: `${namespace} is not open` });
    if (what === 'launch') {
      const info = await entry.manager.launch((await body(req)) as ContainerSpec);
      reply(res, 200, { id: info.id, name: info.name });
    } else if (what === 'cull') {
      reply(res, 200, await entry.manager.cull());
    } else if (what === 'close') {
      opened.delete(namespace);
      entry.detach();
      await entry.proxy.close();
      await entry.manager.close();
      reply(res, 200, {});
    } else reply(res, 404, {});
  } catch (error) {
    reply(res, isDdeError(error) ? error.httpStatus : 500, {
      code: isDdeError(error) ? error.code : undefined,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

const server = createServer((req, res) => {
  if (req.url?.startsWith('/control/')) {
    void control(req, res);
    return;
  }
  const namespace = (req.url ?? '').split('/')[1] ?? '';
  const entry = opened.get(namespace);
  if (entry === undefined) reply(res, 404, { message: `${namespace} is not open` });
  else entry.proxy.handleRequest(req, res);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
// The rolling-restart recipe of the root README: stop accepting and drain the server and every
// proxy (in-flight requests finish, WebSockets get 1001), then close the managers.
process.on('SIGTERM', () => {
  const drainMs = 10_000;
  void Promise.all([
    closeServer(server, { drainMs }),
    ...[...opened.values()].map(({ proxy, manager }) => proxy.close({ drainMs }).then(() => manager.close())),
  ]).then(() => process.exit(0));
});
