import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import {
  ContainerManager,
  closeServer,
  createProxy,
  DdeMetrics,
  FileHistory,
  hostnameRouter,
  parseDuration,
  pathRouter,
} from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { CliFailure, UsageError, wholeNumber } from '../usage.ts';

/** How long a stop waits for requests under way and WebSockets to end (nginx's graceful quit). */
const DEFAULT_DRAIN_MS = 10_000;

/** A valid container name standing for any in the not-found hint. */
const SAMPLE_NAME = 'container-name';

/** `dde proxy`: serves until the context's signal aborts (Ctrl-C). */
export async function proxy(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('proxy', args, PROXY_OPTIONS, () =>
    parseArgs({ args, allowPositionals: true, options: PROXY_OPTIONS }),
  );
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
  const drainMs = values.drain === undefined ? DEFAULT_DRAIN_MS : parseDuration(values.drain, '--drain');
  // Listen first: a busy port or an address this machine does not have fails at once, before
  // the engine is contacted and anything that would keep the process alive is started.
  const server = createServer();
  await listenOn(server, port, host);
  const metrics = values.metrics ? new DdeMetrics() : undefined;
  let history: FileHistory | undefined;
  let manager: ContainerManager | undefined;
  try {
    history = values.history === undefined ? undefined : await FileHistory.open(values.history);
    manager = new ContainerManager({
      backend: context.backend({ network: values.network }),
      ...(history ? { history } : {}),
      ...(metrics ? { metrics } : {}),
    });
    await manager.start();
  } catch (error) {
    server.close();
    await (manager ? manager.close() : history?.close());
    throw error;
  }
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
  // The URL once, on stdout (scripts read it); what it serves and how to stop it, on stderr.
  if (context.json)
    writeLine(context.io.stdout, JSON.stringify({ url: origin, namespace: context.namespace }));
  else writeLine(context.io.stdout, origin);
  writeLine(
    context.io.stderr,
    `dde proxy: serving namespace ${context.namespace} at ${router.publicUrl(SAMPLE_NAME).replace(SAMPLE_NAME, '<name>')} (Ctrl-C stops it)`,
  );
  const signal = context.io.signal;
  if (signal && !signal.aborted) await once(signal, 'abort');
  // Graceful, for rolling restarts: requests under way finish, WebSockets get a close frame
  // (1001), whatever is left is cut after the drain time. A second Ctrl-C exits at once (bin.ts).
  writeLine(context.io.stderr, `dde proxy: stopping (drains for up to ${values.drain ?? '10s'})`);
  await Promise.all([closeServer(server, { drainMs }), handler.close({ drainMs })]);
  await manager.close();
  return 0;
}

/** Listens, or fails with what to do about it: the port is taken, or the address is not this machine's. */
async function listenOn(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    server.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (code === 'EADDRINUSE')
      throw new CliFailure(
        'LISTEN_FAILED',
        `${where} is already in use: choose another port with --port (--port 0 takes any free one)`,
      );
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      throw new CliFailure(
        'LISTEN_FAILED',
        `cannot listen on ${host}: it is not an address of this machine; choose --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)`,
      );
    if (code === 'EACCES')
      throw new CliFailure(
        'LISTEN_FAILED',
        `not allowed to listen on ${where} (ports below 1024 need privileges): choose another port with --port`,
      );
    throw new CliFailure('LISTEN_FAILED', `cannot listen on ${where}: ${(error as Error).message}`);
  }
}

const PROXY_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  prefix: { type: 'string' },
  'hostname-suffix': { type: 'string' },
  history: { type: 'string' },
  metrics: { type: 'boolean' },
  network: { type: 'string' },
  drain: { type: 'string' },
} as const;
