import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { freePort } from '@dde/test-support';
import { describe, expect, it } from 'vitest';
import { DockerBackend } from './docker-backend.ts';
import { createDockerClient } from './engine.ts';

const hasSsh = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v ssh'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function sshProcessesFor(port: number): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        return [];
      }
    })
    .filter((argv) => argv[0] === 'ssh' && argv.includes(String(port)))
    .map((argv) => argv.join(' '));
}

describe.skipIf(!hasSsh && process.env.CI !== 'true')('ssh:// engines through the system ssh', () => {
  it('reports an SSH connection that fails as ENGINE_UNAVAILABLE quoting ssh', async () => {
    const port = await freePort(); // nothing listens there
    const docker = createDockerClient(
      { kind: 'ssh', host: '127.0.0.1', port, username: 'nobody' },
      { sshArgs: ['-F', '/dev/null', '-o', 'ConnectTimeout=5'] },
    );
    const backend = new DockerBackend({ docker, publishHostIp: '127.0.0.1' });
    expect(backend.engine).toEqual({ url: `ssh://nobody@127.0.0.1:${port}`, local: false });
    const error = await backend.list().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect((error as Error).message).toContain(`ssh://nobody@127.0.0.1:${port}`);
    expect((error as Error).message).toMatch(/Connection refused/);
    expect((error as Error).message).toContain('known_hosts');
  });

  it('ends the ssh process when a call is aborted', async () => {
    // A black hole: ssh waits for a banner that never comes, until the signal aborts the call.
    const { createServer } = await import('node:net');
    const server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const docker = createDockerClient(
        { kind: 'ssh', host: '127.0.0.1', port, username: undefined },
        { sshArgs: ['-F', '/dev/null'] },
      );
      const backend = new DockerBackend({ docker, publishHostIp: '127.0.0.1' });
      const started = Date.now();
      const error = await backend
        .list({ signal: AbortSignal.timeout(500) })
        .catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(3_000);
      // No ssh process is left dialling that port.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sshProcessesFor(port)).toEqual([]);
    } finally {
      server.close();
    }
  });
});
