/** dde's proxy as a target of its own process (proxy-child.ts), for clean memory figures. */
import { fileURLToPath } from 'node:url';
import { freePort, startChild } from '../../processes.ts';
import { publicPath, type RunningTarget, type Target, type UpstreamTarget } from '../../targets/types.ts';

const ENTRY = fileURLToPath(new URL('./proxy-child.ts', import.meta.url));

/** A running child proxy: a target that can also be asked to collect its garbage. */
export interface RunningChildProxy extends RunningTarget {
  readonly pid: number;
  /** Two full collections in the child, then its `process.memoryUsage()`. */
  collectGarbage(): Promise<NodeJS.MemoryUsage>;
}

/** A target whose running proxy is a {@link RunningChildProxy}. */
export interface ChildProxyTarget extends Target {
  start(upstream: UpstreamTarget): Promise<RunningChildProxy>;
}

/** dde with `adapter` (Koa, or the core handler on node:http) in a child process on `namespace`. */
export function ddeChildTarget(adapter: 'koa' | 'core', namespace: string): ChildProxyTarget {
  return {
    id: `dde-${adapter}`,
    label: adapter === 'koa' ? 'dde (Koa)' : 'dde (core handler, node:http)',
    unavailable: async () => undefined,
    async start(upstream) {
      const port = await freePort();
      // A thousand client sockets plus as many to the upstream: raise the descriptor limit as far
      // as allowed (Node itself lifts its soft limit to the hard one).
      const child = startChild(
        'sh',
        [
          '-c',
          'ulimit -n 65536 2>/dev/null; exec "$@"',
          'sh',
          process.execPath,
          '--expose-gc',
          '--conditions=dev-source',
          ENTRY,
          adapter,
          namespace,
          upstream.name,
          String(port),
        ],
        { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
      );
      const reply = <T>(key: string): Promise<T> =>
        Promise.race([
          new Promise<T>((resolve) => {
            const onMessage = (message: Record<string, unknown>) => {
              if (!(key in message)) return;
              child.process.off('message', onMessage);
              resolve(message[key] as T);
            };
            child.process.on('message', onMessage);
          }),
          child.exited.then((code): never => {
            throw new Error(`the dde proxy child exited with ${code}: ${child.output()}`);
          }),
        ]);
      await reply('listening');
      const url = `http://127.0.0.1:${port}${publicPath(upstream.name)}`;
      return {
        httpUrl: url,
        wsUrl: url.replace('http:', 'ws:'),
        pid: child.process.pid ?? -1,
        collectGarbage() {
          const memory = reply<NodeJS.MemoryUsage>('memory');
          child.process.send('gc');
          return memory;
        },
        stop: child.stop,
      };
    },
  };
}
