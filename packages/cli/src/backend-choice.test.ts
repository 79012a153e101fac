import { describe, expect, it } from 'vitest';
import { chooseBackend } from './backend-choice.ts';

describe('chooseBackend', () => {
  it('keeps Docker the default and leaves other arguments alone', async () => {
    const choice = await chooseBackend(['ls', '--json', '--', '--cluster', 'x'], {});
    expect(choice).toEqual({ argv: ['ls', '--json', '--', '--cluster', 'x'], backend: undefined });
  });

  it('builds an EcsBackend from flags wherever they stand, for the namespace asked', async () => {
    const choice = await chooseBackend(
      [
        '--backend=ecs',
        'run',
        'img',
        '--cluster',
        'tools',
        '--subnet',
        'subnet-1',
        '--subnet=subnet-2',
        '--security-group',
        'sg-1',
      ],
      { AWS_REGION: 'eu-west-1' },
    );
    expect(choice.argv).toEqual(['run', 'img']);
    const backend = choice.backend?.('my-app');
    expect(backend).toMatchObject({ kind: 'ecs', namespace: 'my-app' });
    await backend?.close();
  });

  it('takes the ECS settings from the environment when flags are absent', async () => {
    const choice = await chooseBackend(['ls'], {
      DDE_BACKEND: 'ecs',
      DDE_ECS_CLUSTER: 'tools',
      DDE_ECS_SUBNETS: 'subnet-1, subnet-2',
      DDE_ECS_LOG_GROUP: '/dde/tools',
      DDE_ECS_EXECUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/exec',
    });
    const backend = choice.backend?.('default');
    expect(backend?.capabilities.logs).toBe(true);
    await backend?.close();
  });

  it('refuses what cannot work, naming the flag or variable', async () => {
    await expect(chooseBackend(['--backend', 'ecs', 'ls'], {})).rejects.toThrow(
      /needs --cluster <name> \(or DDE_ECS_CLUSTER\)/,
    );
    await expect(chooseBackend(['--backend', 'podman'], {})).rejects.toThrow(/docker or ecs/);
    await expect(chooseBackend(['--subnet', 'subnet-1', 'ls'], {})).rejects.toThrow(
      /--subnet applies to --backend ecs only/,
    );
    await expect(chooseBackend(['ls', '--cluster'], { DDE_BACKEND: 'ecs' })).rejects.toThrow(
      /--cluster needs a value/,
    );
    await expect(
      chooseBackend(['ls'], { DDE_BACKEND: 'ecs', DDE_ECS_CLUSTER: 'tools', DDE_ECS_SUBNETS: 'vpc-1' }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTION', field: 'subnets[0]' });
    const ecs = { DDE_BACKEND: 'ecs', DDE_ECS_CLUSTER: 'tools', DDE_ECS_SUBNETS: 'subnet-1' };
    await expect(chooseBackend(['ls'], { ...ecs, DDE_ECS_UPSTREAM_ADDRESS: 'public' })).rejects.toMatchObject(
      {
        code: 'INVALID_OPTION',
        field: 'upstreamAddress',
        message: expect.stringContaining('assignPublicIp'),
      },
    );
    await expect(
      chooseBackend(['ls'], { ...ecs, DDE_ECS_UPSTREAM_ADDRESS: 'elastic' }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      field: 'upstreamAddress',
    });
  });
});
