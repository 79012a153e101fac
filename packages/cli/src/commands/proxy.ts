import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import {
  ContainerManager,
  createProxy,
  DdeMetrics,
  FileHistory,
  hostnameRouter,
  pathRouter,
} from '@dde/core';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { UsageError, wholeNumber } from '../usage.ts';

/** `dde proxy`: serves until the context's signal aborts (Ctrl-C). */
export async function proxy(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      prefix: { type: 'string' },
      'hostname-suffix': { type: 'string' },
      history: { type: 'string' },
      metrics: { type: 'boolean' },
    },
  });
  if (positionals.length > 0)
    throw new UsageError(`proxy takes no arguments, got "${positionals.join(' ')}"`, 'proxy');
  if (values.prefix !== undefined && values['hostname-suffix'] !== undefined) {
    throw new UsageError(
      'choose --prefix (path routing) or --hostname-suffix (hostname routing), not both',
      'proxy',
    );
  }
  const port = wholeNumber('--port', values.port, 'proxy') ?? 8000;
  if (port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}`, 'proxy');
  const host = values.host ?? '127.0.0.1';
  const router = values['hostname-suffix']
    ? hostnameRouter({ suffix: values['hostname-suffix'] })
    : pathRouter({ prefix: values.prefix ?? '/docker' });
  const metrics = values.metrics ? new DdeMetrics() : undefined;
  const history = values.history === undefined ? undefined : await FileHistory.open(values.history);
  const manager = new ContainerManager({
    backend: context.backend(),
    ...(history ? { history } : {}),
    ...(metrics ? { metrics } : {}),
  });
  await manager.start();
  const handler = createProxy({ manager, router, ...(metrics ? { metrics } : {}) });
  const server = createServer((req, res) => {
    if (metrics && req.url === '/metrics') return void metrics.handler(req, res);
    handler.handleRequest(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Not found. Containers are served under ${router.publicUrl('<name>', { origin: '' })}\n`);
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const origin = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  writeLine(context.io.stderr, `dde proxy for namespace ${context.namespace} listening on ${origin}`);
  if (context.json)
    writeLine(context.io.stdout, JSON.stringify({ url: origin, namespace: context.namespace }));
  else writeLine(context.io.stdout, origin);
  const signal = context.io.signal;
  if (signal && !signal.aborted) await once(signal, 'abort');
  server.close();
  server.closeAllConnections();
  await handler.close();
  await manager.close();
  return 0;
}
