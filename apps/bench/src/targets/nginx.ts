/**
 * nginx as a reverse proxy with a keep-alive upstream pool: the reference a hand-tuned C proxy
 * sets. Runs from a temporary prefix (config, pid, logs, temp paths) as the current user, on
 * 127.0.0.1, with as many worker processes as dde has (one, by default), for a fair core count.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../cleanup.ts';
import { processTreeCpuTime } from '../cpu.ts';
import { findExecutable, freePort, runChild, startChild, waitForHttp } from '../processes.ts';
import { publicPath, type Target, type UpstreamTarget } from './types.ts';

/** The nginx config for one upstream, listening on 127.0.0.1:`port`. */
export function nginxConfig(dir: string, port: number, workers: number, target: UpstreamTarget): string {
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
      proxy_set_header Connection $connection_upgrade;
    }
  }
}
`;
}

/** nginx with `workers` worker processes; unavailable ("not installed") without the binary. */
export async function nginxTarget(workers: number): Promise<Target> {
  const executable = await findExecutable('nginx');
  // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
  const banner = executable ? await runChild(executable, ['-v'], { combinedOutput: true }) : '';
  const version = /nginx\/(\S+)/.exec(banner)?.[1];
  return {
    id: 'nginx',
    label: `nginx${version ? ` ${version}` : ''} (${workers} worker${workers === 1 ? '' : 's'}, keepalive)`,
    unavailable: async () => (executable ? undefined : 'not installed'),
    async start(target) {
      if (!executable) throw new Error('nginx is not installed');
      const dir = await mkdtemp(join(tmpdir(), 'dde-bench-nginx-'));
      const removeDir = onCleanup(`removing ${dir}`, () => rm(dir, { recursive: true, force: true }));
      const port = await freePort();
      const config = join(dir, 'nginx.conf');
      await writeFile(config, nginxConfig(dir, port, workers, target));
      // -e: log startup errors in the temp dir, not in /var/log/nginx (not writable as a user).
      const child = startChild(executable, ['-p', dir, '-c', config, '-e', join(dir, 'error.log')]);
      const url = `http://127.0.0.1:${port}${publicPath(target.name)}`;
      await Promise.race([
        waitForHttp(url),
        child.exited.then((code) => {
          throw new Error(`nginx exited with ${code}: ${child.output()}`);
        }),
      ]);
      return {
        httpUrl: url,
        wsUrl: url.replace('http:', 'ws:'),
        pid: child.process.pid,
        cpuTime: () => processTreeCpuTime(child.process.pid ?? -1),
        stop: async () => {
          await child.stop();
          await removeDir();
        },
      };
    },
  };
}
