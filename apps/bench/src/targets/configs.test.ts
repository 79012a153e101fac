import { describe, expect, it } from 'vitest';
import { caddyConfig } from './caddy.ts';
import { nginxConfig } from './nginx.ts';

const target = { name: 'bench-1-up', upstream: { host: '172.17.0.9', port: 80 } };

describe('peer configs', () => {
  it('runs Caddy on loopback with no admin API, no autosave, no TLS, the prefix stripped', () => {
    const config = caddyConfig('/tmp/c', 4321, target) as {
      admin: unknown;
      storage: { root: string };
      apps: {
        http: { servers: { bench: { listen: string[]; automatic_https: unknown; routes: unknown[] } } };
      };
    };
    expect(config.admin).toEqual({ disabled: true, config: { persist: false } });
    expect(config.storage.root).toBe('/tmp/c/storage');
    const server = config.apps.http.servers.bench;
    expect(server.listen).toEqual(['127.0.0.1:4321']);
    expect(server.automatic_https).toEqual({ disable: true });
    expect(server.routes).toEqual([
      {
        match: [{ path: ['/docker/bench-1-up/*'] }],
        handle: [
          { handler: 'rewrite', strip_path_prefix: '/docker/bench-1-up' },
          expect.objectContaining({ handler: 'reverse_proxy', upstreams: [{ dial: '172.17.0.9:80' }] }),
        ],
      },
    ]);
  });

  it('tunes nginx for large bodies only when asked', () => {
    const plain = nginxConfig('/tmp/n', 4321, 1, target);
    const bodies = nginxConfig('/tmp/n', 4321, 1, target, true);
    for (const line of [
      'client_max_body_size 0;',
      'proxy_request_buffering off;',
      'proxy_max_temp_file_size 0;',
    ]) {
      expect(plain).not.toContain(line);
      expect(bodies).toContain(line);
    }
  });
});
