// One application instance for the replica tests, run as its own process:
//   node --conditions=dev-source replica-app.ts '<json config>'
// It proxies /docker/<name>/... through dde and takes orders on /control/... (launch, cull,
// routes). It prints `listening <port>` once it serves, and logs JSON lines to stderr.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DockerBackend } from '@dde/backend-docker';
import {
  attachUpgrades,
  ContainerManager,
  type ContainerManagerOptions,
  type ContainerSpec,
  createProxy,
  isDdeError,
  type Logger,
  pathRouter,
} from '@dde/core';
import { RedisStore } from '../src/index.ts';

interface Config {
  readonly redisUrl: string;
  readonly namespace: string;
  readonly manager?: Pick<ContainerManagerOptions, 'capacity' | 'limits' | 'culling' | 'reconcileIntervalMs'>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const log =
  (level: string) =>
  (fields: Record<string, unknown>, message: string): void => {
    const error = fields.error instanceof Error ? fields.error.message : fields.error;
    process.stderr.write(`${JSON.stringify({ level, message, ...fields, error })}\n`);
  };
const logger: Logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };

const store = new RedisStore({ url: config.redisUrl, namespace: config.namespace, logger });
const manager = new ContainerManager({
  backend: new DockerBackend({ namespace: config.namespace }),
  history: store.history,
  coordination: store.coordination,
  logger,
  ...config.manager,
});
try {
  await manager.start();
} catch (error) {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', code: isDdeError(error) ? error.code : undefined, message: String(error) })}\n`,
  );
  process.exit(3);
}
const proxy = createProxy({ manager, router: pathRouter({ prefix: '/docker' }) });

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString());
}

function reply(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function control(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    if (req.url === '/control/launch') {
      const info = await manager.launch((await body(req)) as ContainerSpec);
      reply(res, 200, { id: info.id, name: info.name });
    } else if (req.url === '/control/cull') {
      reply(res, 200, await manager.cull());
    } else if (req.url === '/control/routes') {
      reply(
        res,
        200,
        manager.list().map((route) => ({ name: route.name, phase: route.phase })),
      );
    } else reply(res, 404, {});
  } catch (error) {
    reply(res, isDdeError(error) ? error.httpStatus : 500, {
      code: isDdeError(error) ? error.code : undefined,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

const server = createServer((req, res) => {
  if (req.url?.startsWith('/control/')) void control(req, res);
  else proxy.handleRequest(req, res);
});
attachUpgrades(server, proxy);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void proxy
    .close()
    .then(() => manager.close())
    .then(() => process.exit(0));
});
