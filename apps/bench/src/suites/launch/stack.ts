/**
 * dde as an application runs it: a ContainerManager over a real DockerBackend and the Koa proxy
 * serving its routes at `/docker/<name>/`, both in this process.
 */
import { createServer } from 'node:http';
import { DockerBackend } from '@dde/backend-docker';
import { ContainerManager, type ContainerManagerOptions, pathRouter } from '@dde/core';
import { koaProxy } from '@dde/proxy-koa';
import type Docker from 'dockerode';
import Koa from 'koa';
import { onCleanup } from '../../cleanup.ts';
import { serve } from '../../dde.ts';
import { publicPath } from '../../targets/types.ts';

/** A running manager with its proxy. */
export interface DdeStack {
  readonly manager: ContainerManager;
  readonly backend: DockerBackend;
  /** The proxy's URL of a container's root. */
  url(name: string): string;
  /** Closes the proxy and the manager (containers keep running). */
  close(): Promise<void>;
}

/** Starts a manager (and its proxy) over `namespace`; `docker` lets a suite count engine calls. */
export async function startStack(options: {
  namespace: string;
  docker?: Docker;
  manager?: Omit<ContainerManagerOptions, 'backend'>;
  /** Serve a proxy too. Default true. */
  proxy?: boolean;
}): Promise<DdeStack> {
  const backend = new DockerBackend({
    namespace: options.namespace,
    ...(options.docker ? { docker: options.docker } : {}),
  });
  const manager = new ContainerManager({ backend, ...options.manager });
  const closeManager = onCleanup('closing a container manager', () => manager.close());
  await manager.start();
  let port = 0;
  let stopProxy = async (): Promise<void> => {};
  if (options.proxy !== false) {
    const app = new Koa();
    const proxy = koaProxy({ manager, router: pathRouter({ prefix: '/docker' }) });
    app.use(proxy.middleware);
    const server = createServer(app.callback());
    proxy.attach(server);
    ({ port, stop: stopProxy } = await serve(server));
  }
  return {
    manager,
    backend,
    url: (name) => `http://127.0.0.1:${port}${publicPath(name)}`,
    async close() {
      await stopProxy();
      await closeManager();
    },
  };
}
