import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  NAMESPACE_LABEL,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliResult, runCli, startCli } from '../test/cli-process.ts';

const namespace = uniqueNamespace('clitest');
const image = `dde-cli-test:${namespace}`;

/** Starts the real `dde` binary in the test's namespace. */
function start(args: string[]): ChildProcess {
  return startCli(args, { ...process.env, DDE_NAMESPACE: namespace });
}

function dde(...args: string[]): Promise<CliResult> {
  return runCli(args, { ...process.env, DDE_NAMESPACE: namespace });
}

await describeWithDocker('dde CLI against the engine', (docker) => {
  beforeAll(async () => {
    await buildImage(docker, image, { labels: { [NAMESPACE_LABEL]: namespace } });
  });
  afterAll(async () => {
    await cleanupNamespace(docker, namespace);
  });

  it('runs a container with its input, waits until ready, and lists it', async () => {
    const run = await dde(
      'run',
      image,
      '--name',
      'web',
      '--port',
      '8080',
      '--memory-reservation',
      '16',
      '--label',
      'course=bio',
      '--input',
      '{"hello":"cli"}',
      '--deliver',
      'file:/www/input.json',
      '--readiness-path',
      '/input.json',
      '--wait',
      '--json',
      '--',
      'httpd',
      '-f',
      '-p',
      '8080',
      '-h',
      '/www',
    );
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const launched = JSON.parse(run.stdout) as { name: string; state: string; memoryReservationMb: number };
    expect(launched).toMatchObject({ name: 'web', state: 'running', memoryReservationMb: 16 });

    const listed = await dde('ls', '--json');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((container) => container.name)).toEqual([
      'web',
    ]);
    const table = await dde('ls');
    expect(table.stdout).toMatch(/^NAME\s+STATE\s+OWNER\s+MEMORY\s+AGE\s+UPSTREAM\s+IMAGE$/m);
    expect(table.stdout).toMatch(/^web\s+running\s+-\s+16 MB\s/m);
  });

  it('exits 2 with a pointer to help for usage mistakes, before touching the engine', async () => {
    const result = await dde('run', image, '--name', 'Not_A_Name');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/name "Not_A_Name" must be lowercase letters/);
    expect(result.stderr).toMatch(/Run 'dde run --help' for usage\./);
    expect((await dde('purge')).code).toBe(2);
  });

  it('refuses a taken name with exit code 1 and the CONFLICT code', async () => {
    const again = await dde('run', image, '--name', 'web', '--', 'sleep', '60');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/CONFLICT/);
  });

  it('proxies the container over HTTP and stops on SIGINT', async () => {
    const proxy = start(['proxy', '--port', '0']);
    try {
      const [chunk] = (await once(proxy.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
      const origin = chunk.toString().trim();
      expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${origin}/docker/web/input.json`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ hello: 'cli' });
      expect((await fetch(`${origin}/docker/absent/`)).status).toBe(404);
    } finally {
      proxy.kill('SIGINT');
    }
    const [code] = (await once(proxy, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('prints the proxy URL once, and stops on SIGTERM', async () => {
    const proxy = start(['proxy', '--port', '0']);
    let stdout = '';
    let stderr = '';
    proxy.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    proxy.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    await expect.poll(() => stderr, { timeout: 20_000 }).toContain('Ctrl-C stops it');
    proxy.kill('SIGTERM');
    const [code] = (await once(proxy, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\n$/);
    const origin = stdout.trim();
    // stderr says what is served where (the pattern of tool URLs), not the same URL again.
    expect(stderr).toContain(`serving namespace`);
    expect(stderr).toContain(`${origin}/docker/<name>/`);
    expect(stderr.split(origin).length - 1).toBe(1);
  });

  it('prints stdout and stderr logs separately', async () => {
    const run = await dde(
      'run',
      image,
      '--name',
      'talker',
      '--',
      'sh',
      '-c',
      'echo to-out; echo to-err >&2; sleep 600',
    );
    expect(run.code).toBe(0);
    let logs: CliResult = { code: null, stdout: '', stderr: '' };
    for (let attempt = 0; attempt < 50 && !logs.stderr.includes('to-err'); attempt++) {
      logs = await dde('logs', 'talker', '--tail', '10');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('to-out\n');
    expect(logs.stderr).toBe('to-err\n');
    const missing = await dde('logs', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^dde: NOT_FOUND: no container named nobody in namespace/);
  });

  it('purges by label, by idleness and removes by name', async () => {
    const byLabel = await dde('purge', '--label', 'course=bio', '--json');
    expect(byLabel.code).toBe(0);
    expect(JSON.parse(byLabel.stdout)).toEqual({ removed: ['web'] });

    const idle = await dde('purge', '--idle', '1h');
    expect(idle.code).toBe(0);
    expect(idle.stdout).toBe('');
    const removed = await dde('rm', 'talker');
    expect(removed).toMatchObject({ code: 0, stdout: 'talker\n' });
    const gone = await dde('rm', 'talker');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^dde: NOT_FOUND: no container named talker/);
    expect(JSON.parse((await dde('ls', '--json')).stdout)).toEqual([]);
  });

  it('purges everything with --all, the namespace network included', async () => {
    expect((await dde('run', image, '--name', 'last', '--', 'sleep', '600')).code).toBe(0);
    const network = `dde-${namespace}`;
    const named = async () =>
      (await docker.listNetworks({ filters: { name: [network] } })).filter((entry) => entry.Name === network);
    expect(await named()).toHaveLength(1);
    const all = await dde('purge', '--all', '--json');
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ removed: ['last'] });
    expect(await named()).toEqual([]);
  });

  it('purges containers idle since they started', async () => {
    expect((await dde('run', image, '--name', 'sleepy', '--', 'sleep', '600')).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const dry = await dde('purge', '--idle', '1s', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would remove sleepy \(idle \d+s\)\n$/);
    expect(dry.stderr).toMatch(/warning: without --history dde cannot see when a container was last used/);
    const idle = await dde('purge', '--idle', '1s');
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/^removed sleepy \(idle \d+s\)\n$/);
    const empty = await dde('ls');
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toMatch(
      /^dde: no containers in namespace \S+(; these namespaces have some: .* \(dde ls -n \S+;| \(-n <namespace> chooses another;)/,
    );
  });

  it('runs containers on the network --network names (the engine refusing a missing one, exit 1)', async () => {
    const result = await dde(
      'run',
      image,
      '--name',
      'netless',
      '--network',
      'nc-no-such-network',
      '--',
      'sleep',
      '60',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^dde: [A-Z_]+: .*network nc-no-such-network not found/m);
    expect(JSON.parse((await dde('ls', '--json')).stdout)).toEqual([]);
  });
});
