import { once } from 'node:events';
import type { EcsEmulator } from '@dde/test-support';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  NAMESPACE_LABEL,
  removeEcsEmulatorLeftovers,
  startEcsEmulator,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startCli } from '../test/cli-process.ts';

const label = uniqueNamespace('ecsb');
const namespace = uniqueNamespace('ecsb');

// `dde --backend ecs` end to end: the real binary, the ECS emulator's API, real containers.
await describeWithDocker('dde CLI with --backend ecs (ECS emulator)', (docker) => {
  let emulator: EcsEmulator;
  let image: string;

  /** `dde`'s environment: AWS settings from the environment, as a user would set them. */
  const env = () => ({
    ...process.env,
    DDE_NAMESPACE: namespace,
    AWS_ENDPOINT_URL: emulator.endpoint,
    AWS_REGION: emulator.region,
    AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
    DDE_ECS_EXECUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/ecsb-execution',
    DDE_ECS_LOG_GROUP: '/ecsb/cli',
    DDE_ECS_INPUT_WRITER_IMAGE: image,
  });
  const start = (...args: string[]) => startCli(args, env());
  const dde = (...args: string[]) => runCli(args, env());
  const ecsFlags = () => [
    '--backend',
    'ecs',
    '--cluster',
    emulator.cluster,
    ...emulator.subnets.flatMap((subnet) => ['--subnet', subnet]),
    '--security-group',
    emulator.securityGroups[0] as string,
  ];

  beforeAll(async () => {
    emulator = await startEcsEmulator({ docker, label });
    image = await buildImage(docker, `${label}-busybox:1`, { labels: { [NAMESPACE_LABEL]: label } });
  }, 180_000);
  afterAll(async () => {
    await emulator?.close();
    await removeEcsEmulatorLeftovers(label, docker);
    await cleanupNamespace(docker, label);
  }, 120_000);

  it('runs, lists, shows the logs of and removes a task', async () => {
    const run = await dde(
      ...ecsFlags(),
      'run',
      image,
      '--name',
      'web',
      '--port',
      '8080',
      '--input',
      '{"hello":"ecs"}',
      '--deliver',
      'file:/www/input.json',
      '--readiness-path',
      '/input.json',
      '--wait',
      '--json',
      '--',
      'sh',
      '-c',
      'echo serving; exec httpd -f -p 8080 -h /www',
    );
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const launched = JSON.parse(run.stdout) as { name: string; state: string; id: string; upstream: string };
    expect(launched).toMatchObject({
      name: 'web',
      state: 'running',
      id: expect.stringMatching(/^arn:aws:ecs:/),
    });
    // The task's ENI address: the container's bridge IP on this engine.
    const served = await fetch(`http://${launched.upstream}/input.json`);
    expect(await served.json()).toEqual({ hello: 'ecs' });

    const listed = await dde('ls', '--json', ...ecsFlags());
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((container) => container.name)).toEqual([
      'web',
    ]);

    let logs = await dde(...ecsFlags(), 'logs', 'web');
    for (let attempt = 0; attempt < 30 && !logs.stdout.includes('serving'); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      logs = await dde(...ecsFlags(), 'logs', 'web');
    }
    expect(logs.stdout).toContain('serving');

    const removed = await dde(...ecsFlags(), 'rm', 'web');
    expect(removed.code).toBe(0);
    const after = await dde('ls', '--json', ...ecsFlags());
    expect(JSON.parse(after.stdout)).toEqual([]);
    // Docker stays the default: this namespace has nothing there.
    expect(JSON.parse((await dde('ls', '--json')).stdout)).toEqual([]);
  });

  it('serves a launched task through dde proxy, and stops cleanly on SIGINT leaving the task running', async () => {
    const run = await dde(
      ...ecsFlags(),
      'run',
      image,
      '--name',
      'site',
      '--port',
      '8080',
      '--readiness-path',
      '/index.html',
      '--wait',
      '--',
      'sh',
      '-c',
      'mkdir -p /www && echo served-by-ecs > /www/index.html && exec httpd -f -p 8080 -h /www',
    );
    expect(run.code).toBe(0);
    const proxy = start(...ecsFlags(), 'proxy', '--port', '0');
    let stderr = '';
    proxy.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    try {
      const [chunk] = (await once(proxy.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
      const origin = chunk.toString().trim();
      expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // The proxy adopts the task from ECS (ListTasks + DescribeTasks), then probes it.
      await expect
        .poll(async () => (await fetch(`${origin}/docker/site/index.html`)).status, { timeout: 30_000 })
        .toBe(200);
      expect(await (await fetch(`${origin}/docker/site/index.html`)).text()).toBe('served-by-ecs\n');
      expect((await fetch(`${origin}/docker/absent/`)).status).toBe(404);
    } finally {
      proxy.kill('SIGINT');
    }
    // The poller and the AWS clients stop with it: the process exits by itself, with 0.
    const [code] = (await once(proxy, 'exit')) as [number | null];
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const listed = await dde('ls', '--json', ...ecsFlags());
    expect((JSON.parse(listed.stdout) as { name: string; state: string }[]).map((task) => task.name)).toEqual(
      ['site'],
    );
    expect((await dde(...ecsFlags(), 'rm', 'site')).code).toBe(0);
  });

  it('purges every task of the namespace with purge --all', async () => {
    const ids: string[] = [];
    for (const name of ['first', 'second']) {
      const run = await dde(...ecsFlags(), 'run', image, '--name', name, '--json', '--', 'sleep', '3600');
      expect(run.code).toBe(0);
      ids.push((JSON.parse(run.stdout) as { id: string }).id);
    }
    const stopsBefore = emulator.calls.filter((call) => call.operation === 'StopTask').length;
    const purged = await dde(...ecsFlags(), 'purge', '--all', '--json');
    expect(purged.stderr).not.toMatch(/error/i);
    expect(purged.code).toBe(0);
    expect((JSON.parse(purged.stdout) as { removed: string[] }).removed.sort()).toEqual(['first', 'second']);
    const stopped = emulator.calls
      .filter((call) => call.operation === 'StopTask')
      .slice(stopsBefore)
      .map((call) => (call.input as { task: string }).task);
    expect(stopped.sort()).toEqual([...ids].sort());
    expect(JSON.parse((await dde('ls', '--json', ...ecsFlags())).stdout)).toEqual([]);
    const again = await dde(...ecsFlags(), 'purge', '--all');
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`nothing to purge in namespace ${namespace}`);
  });

  it("reaches tasks at their ENI's public IP with DDE_ECS_UPSTREAM_ADDRESS=public", async () => {
    const publicEnv = { DDE_ECS_ASSIGN_PUBLIC_IP: 'true', DDE_ECS_UPSTREAM_ADDRESS: 'public' };
    const lookups = emulator.calls.filter((call) => call.operation === 'DescribeNetworkInterfaces').length;
    const run = await runCli(
      [
        ...ecsFlags(),
        'run',
        image,
        '--name',
        'outside',
        '--port',
        '8080',
        '--json',
        '--',
        'sh',
        '-c',
        'mkdir -p /www && echo public > /www/index.html && exec httpd -f -p 8080 -h /www',
      ],
      { ...env(), ...publicEnv },
    );
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const { upstream } = JSON.parse(run.stdout) as { upstream: string };
    expect(
      emulator.calls.filter((call) => call.operation === 'DescribeNetworkInterfaces').length,
    ).toBeGreaterThan(lookups);
    await expect
      .poll(async () => (await fetch(`http://${upstream}/`).catch(() => undefined))?.status)
      .toBe(200);
    expect(await (await fetch(`http://${upstream}/`)).text()).toBe('public\n');
    expect((await dde(...ecsFlags(), 'rm', 'outside')).code).toBe(0);
  });

  it('refuses ECS settings that cannot work as usage errors, before any call', async () => {
    const calls = emulator.calls.length;
    const missing = await dde('--backend', 'ecs', 'ls');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--backend ecs needs --cluster/);
    const noSubnet = await dde('--backend', 'ecs', '--cluster', emulator.cluster, 'ls');
    expect(noSubnet.code).toBe(2);
    expect(noSubnet.stderr).toMatch(/subnets must name at least one subnet/);
    expect((await dde('--cluster', 'x', 'ls')).stderr).toMatch(/--cluster applies to --backend ecs only/);
    expect((await dde('--backend', 'kubernetes', 'ls')).code).toBe(2);
    expect(emulator.calls.length).toBe(calls);
  });
});
