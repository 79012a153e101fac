/**
 * nginx as a reverse proxy with a keep-alive upstream pool: the reference a hand-tuned C proxy
 * sets. Runs from a temporary prefix (config, pid, logs, temp paths) as the current user, on
 * 127.0.0.1, with as many worker processes as dde has (one, by default), for a fair core count.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, freePort, runChild, startChild } from '../processes.ts';
import { childProxy, tempDir } from './child-proxy.ts';
import { publicPath, type Target, type UpstreamTarget } from './types.ts';

/**
 * Settings for 100 MB bodies (the `bodies` suite): any body size; uploads streamed to the
 * upstream as they come instead of spooled to a temp file first; downloads buffered in memory
 * (64 KiB buffers, as large as Node's reads) and never on disk, so nginx's figure is its
 * proxying, not its disk.
 */
const LARGE_BODIES = `
      client_max_body_size 0;
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
      proxy_buffer_size 64k;
      proxy_buffers 8 64k;
      proxy_busy_buffers_size 128k;`;

/** The nginx config for one upstream, listening on 127.0.0.1:`port`. */
export function nginxConfig(
  dir: string,
  port: number,
  workers: number,
  target: UpstreamTarget,
  largeBodies = false,
): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`)
    .join('\n');
  return `worker_processes ${workers};
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
${temp}
  upstream tool {
    server ${target.upstream.host}:${target.upstream.port};
    keepalive 64;
  }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${port};
    location ${publicPath(target.name)} {
      proxy_pass http://tool/;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;${largeBodies ? LARGE_BODIES : ''}
    }
  }
}
`;
}

/**
 * nginx with `workers` worker processes; unavailable ("not installed") without the binary.
 * `largeBodies` tunes it for 100 MB bodies (see {@link LARGE_BODIES}).
 */
export async function nginxTarget(workers: number, largeBodies = false): Promise<Target> {
  const executable = await findExecutable('nginx');
  // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
  const banner = executable ? await runChild(executable, ['-v'], { combinedOutput: true }) : '';
  const version = /nginx\/(\S+)/.exec(banner)?.[1];
  return {
    id: 'nginx',
    label: `nginx${version ? ` ${version}` : ''} (${workers} worker${workers === 1 ? '' : 's'}, keepalive${largeBodies ? ', streaming bodies' : ''})`,
    unavailable: async () => (executable ? undefined : 'not installed'),
    async start(target) {
      if (!executable) throw new Error('nginx is not installed');
      const { dir, remove: removeDir } = await tempDir('nginx');
      const port = await freePort();
      const config = join(dir, 'nginx.conf');
      await writeFile(config, nginxConfig(dir, port, workers, target, largeBodies));
      // -e: log startup errors in the temp dir, not in /var/log/nginx (not writable as a user).
      const child = startChild(executable, ['-p', dir, '-c', config, '-e', join(dir, 'error.log')]);
      return childProxy('nginx', child, port, target, removeDir);
    },
  };
}
