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

/** A valid container name standing for any in the not-found hint. */
const SAMPLE_NAME = 'container-name';

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
  const metrics = values.metrics ? new DdeMetrics() : undefined;
  const history = values.history === undefined ? undefined : await FileHistory.open(values.history);
  const manager = new ContainerManager({
    backend: context.backend(),
    ...(history ? { history } : {}),
    ...(metrics ? { metrics } : {}),
  });
  await manager.start();
  const server = createServer();
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const origin = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  // Built once the port is known (`--port 0`), so public URLs carry it.
  const router = values['hostname-suffix']
    ? hostnameRouter({ suffix: values['hostname-suffix'], port: address.port })
    : pathRouter({ prefix: values.prefix ?? '/docker', origin });
  const notFound = `Not found. Containers are served at ${router.publicUrl(SAMPLE_NAME).replace(SAMPLE_NAME, '<name>')}\n`;
  const handler = createProxy({ manager, router });
  server.on('request', (req, res) => {
    if (metrics && req.url === '/metrics') return void metrics.handler(req, res);
    handler.handleRequest(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(notFound);
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
  });
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
