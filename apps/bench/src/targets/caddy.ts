/**
 * Caddy (Debian's `caddy`) as a reverse proxy: a Go proxy of the same class as Traefik, the
 * one Sablier plugs into. Runs from a temporary directory with a JSON config written there: no
 * admin API, no config autosave, no TLS or automatic HTTPS, storage and HOME inside the
 * directory, on 127.0.0.1, with GOMAXPROCS set (one by default: as many cores as a Node
 * process or one nginx worker uses). WebSocket upgrades are proxied by `reverse_proxy` itself.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, freePort, runChild, startChild } from '../processes.ts';
import { childProxy, tempDir } from './child-proxy.ts';
import { publicPath, type Target, type UpstreamTarget } from './types.ts';

/** The Caddy JSON config for one upstream, listening on 127.0.0.1:`port`. */
export function caddyConfig(dir: string, port: number, target: UpstreamTarget): object {
  const prefix = publicPath(target.name).replace(/\/$/, '');
  return {
    admin: { disabled: true, config: { persist: false } },
    logging: { logs: { default: { level: 'ERROR' } } },
    storage: { module: 'file_system', root: join(dir, 'storage') },
    apps: {
      http: {
        servers: {
          bench: {
            listen: [`127.0.0.1:${port}`],
            automatic_https: { disable: true },
            routes: [
              {
                match: [{ path: [`${prefix}/*`] }],
                handle: [
                  // As nginx's `proxy_pass http://tool/`: the upstream sees the path under the prefix.
                  { handler: 'rewrite', strip_path_prefix: prefix },
                  {
                    handler: 'reverse_proxy',
                    upstreams: [{ dial: `${target.upstream.host}:${target.upstream.port}` }],
                    // A keep-alive pool as large as nginx's `keepalive 64`.
                    transport: { protocol: 'http', keep_alive: { max_idle_conns_per_host: 64 } },
                  },
                ],
              },
            ],
          },
        },
      },
    },
  };
}

/** Caddy with GOMAXPROCS=`procs`; unavailable ("not installed") without the binary. */
export async function caddyTarget(procs: number): Promise<Target> {
  const executable = await findExecutable('caddy');
  // `caddy version` prints "2.6.2" (Debian) or "v2.7.6 h1:..." (upstream builds).
  const banner = executable ? await runChild(executable, ['version'], { anyExitCode: true }) : '';
  const version = /v?(\d+\.\d+\.\d+)/.exec(banner)?.[1];
  return {
    id: 'caddy',
    label: `caddy${version ? ` ${version}` : ''} (GOMAXPROCS=${procs}, keepalive)`,
    unavailable: async () => (executable ? undefined : 'not installed'),
    async start(target) {
      if (!executable) throw new Error('caddy is not installed');
      const { dir, remove: removeDir } = await tempDir('caddy');
      const port = await freePort();
      const config = join(dir, 'caddy.json');
      await writeFile(config, JSON.stringify(caddyConfig(dir, port, target)));
      // HOME and the XDG paths: Caddy writes nothing outside its directory.
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CONFIG_HOME: join(dir, 'config'),
        GOMAXPROCS: String(procs),
      };
      const child = startChild(executable, ['run', '--config', config], { env });
      return childProxy('caddy', child, port, target, removeDir);
    },
  };
}
