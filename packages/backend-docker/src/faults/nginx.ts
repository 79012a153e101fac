import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dde/test-support';

/** An nginx reverse proxy in front of one upstream, for differential tests. */
export interface Nginx {
  readonly port: number;
  stop(): Promise<void>;
}

const NGINX_PATHS = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'];

/** The nginx binary, if installed. */
export function nginxBinary(): string | undefined {
  return NGINX_PATHS.find((path) => existsSync(path));
}

/**
 * Starts nginx as the current user from a temporary prefix, proxying everything on a loopback
 * port to `upstream` with keep-alive, as a portal would put it in front of a tool.
 */
export async function startNginx(binary: string, upstream: { host: string; port: number }): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'dde-pf-nginx-'));
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`)
    .join('\n');
  const config = join(dir, 'nginx.conf');
  await writeFile(
    config,
    `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} crit;
events { worker_connections 256; }
http {
  access_log off;
${temp}
  upstream tool {
    server ${upstream.host}:${upstream.port};
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 5s;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(binary, ['-p', dir, '-c', config, '-e', join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`nginx exited with ${child.exitCode}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/ok`);
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error('nginx did not start listening within 10 s');
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { port, stop };
}
