import type { ContainerSpec } from '@dde/core';
import { envInput, fileInput, planLaunch, urlInput } from '@dde/core';
import { describe, expect, it } from 'vitest';
import type { EcsBackendOptions } from './options.ts';
import { validateOptions } from './options.ts';
import { MAX_OVERRIDES_CHARACTERS, planTask } from './task-definition.ts';

const FARGATE = validateOptions({ cluster: 'tools', namespace: 'my.app', subnets: ['subnet-1'] });
const CAPABILITIES = {
  placesFiles: true,
  pushesEvents: false,
  volumes: true,
  logs: false,
  pullsImages: false,
};

function plan(spec: Partial<ContainerSpec>, options: EcsBackendOptions | undefined = undefined) {
  const resolved = options === undefined ? FARGATE : validateOptions(options);
  return planTask(
    planLaunch(
      { name: 'alice-viewer', image: 'tool:1', port: 8080, ...spec },
      { namespace: resolved.namespace, capabilities: CAPABILITIES },
    ),
    resolved,
  );
}

describe('planTask', () => {
  it('puts what defines the tool in the task definition and per-launch data in the overrides', () => {
    const task = plan({
      input: { a: 1 },
      inputs: [envInput(), urlInput('https://x.example/a.json')],
      env: { MODE: 'x' },
      command: ['serve'],
    });
    expect(task.definition).toMatchObject({
      family: expect.stringMatching(/^dde-my_app-[0-9a-f]{16}$/),
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        {
          name: 'tool',
          image: 'tool:1',
          essential: true,
          command: ['serve'],
          portMappings: [{ containerPort: 8080, hostPort: 8080, protocol: 'tcp' }],
        },
      ],
    });
    expect(task.overrides).toEqual({
      containerOverrides: [
        {
          name: 'tool',
          environment: [
            { name: 'MODE', value: 'x' },
            { name: 'INPUT_JSON', value: '{"a":1}' },
            { name: 'INPUT_JSON_URL', value: 'https://x.example/a.json' },
          ],
        },
      ],
    });
    // The input is per launch: another input shares the task definition.
    expect(
      plan({
        input: { a: 2 },
        inputs: [envInput(), urlInput('https://x.example/a.json')],
        env: { MODE: 'y' },
        command: ['serve'],
      }).definition.family,
    ).toBe(task.definition.family);
    expect(plan({ command: ['other'] }).definition.family).not.toBe(task.definition.family);
  });

  it("writes file inputs with an init container into a volume on the file's directory", () => {
    const task = plan({
      input: { a: 1 },
      inputs: [fileInput('/data/in/input.json', { mode: 0o600 }), fileInput('/data/in/copy.json')],
    });
    const [tool, writer] = task.definition.containerDefinitions ?? [];
    expect(task.definition.volumes).toEqual([{ name: 'dde-input-0' }]);
    expect(tool).toMatchObject({
      mountPoints: [{ sourceVolume: 'dde-input-0', containerPath: '/data/in', readOnly: false }],
      dependsOn: [{ containerName: 'dde-input', condition: 'SUCCESS' }],
    });
    expect(writer).toMatchObject({
      name: 'dde-input',
      essential: false,
      mountPoints: [{ sourceVolume: 'dde-input-0', containerPath: '/dde-input/dde-input-0' }],
      command: [
        'sh',
        '-c',
        `printf '%s' "$DDE_INPUT_0" > '/dde-input/dde-input-0/input.json' && chmod 600 '/dde-input/dde-input-0/input.json' && ` +
          `printf '%s' "$DDE_INPUT_1" > '/dde-input/dde-input-0/copy.json' && chmod 644 '/dde-input/dde-input-0/copy.json'`,
      ],
    });
    expect(task.overrides.containerOverrides).toEqual([
      {
        name: 'dde-input',
        environment: [
          { name: 'DDE_INPUT_0', value: '{"a":1}' },
          { name: 'DDE_INPUT_1', value: '{"a":1}' },
        ],
      },
    ]);
    // The writer's reservation counts: 512 + 16 no longer fits 0.25 vCPU's 512 MiB.
    expect(
      plan({ input: {}, inputs: [fileInput('/d/i.json')], memoryReservationMb: 512 }).definition.memory,
    ).toBe('1024');
  });

  it("refuses a file whose directory would hide the image's system files", () => {
    expect(() => plan({ input: {}, inputs: [fileInput('/etc/input.json')] })).toThrow(
      expect.objectContaining({
        code: 'UNSUPPORTED',
        field: 'inputs[0]',
        message: expect.stringContaining("hide the image's /etc"),
      }),
    );
    expect(() => plan({ input: {}, inputs: [fileInput('/input.json')] })).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED' }),
    );
    expect(() => plan({ extraDirectories: ['/usr'] })).toThrow(
      expect.objectContaining({ field: 'extraDirectories[0]' }),
    );
  });

  it('backs extra directories with task volumes', () => {
    expect(plan({ extraDirectories: ['/scratch'] }).definition).toMatchObject({
      volumes: [{ name: 'dde-extra-0' }],
      containerDefinitions: [{ mountPoints: [{ sourceVolume: 'dde-extra-0', containerPath: '/scratch' }] }],
    });
  });

  it("measures the overrides against ECS's 8192 characters before anything is created", () => {
    const fits = 'x'.repeat(MAX_OVERRIDES_CHARACTERS - 200);
    expect(() => plan({ input: fits })).not.toThrow();
    const error = (() => {
      try {
        plan({
          input: 'x'.repeat(MAX_OVERRIDES_CHARACTERS / 2),
          inputs: [envInput(), fileInput('/data/i.json')],
        });
      } catch (caught) {
        return caught as { code: string; field: string; message: string };
      }
      throw new Error('accepted');
    })();
    expect(error).toMatchObject({ code: 'INPUT_TOO_LARGE', field: 'input' });
    expect(error.message).toContain("over ECS's limit of 8192");
    expect(error.message).toContain('env INPUT_JSON, file /data/i.json');
    expect(error.message).toContain('urlInput(url)');
    expect(() => plan({ env: { BIG: '"'.repeat(5000) } })).toThrow(
      expect.objectContaining({ code: 'INPUT_TOO_LARGE', field: 'env' }),
    );
  });

  it('maps EC2 bridge tasks onto dynamic host ports and container-level limits', () => {
    const task = plan(
      { cpus: 0.5, memoryLimitMb: 256 },
      { cluster: 'c', launchType: 'EC2', networkMode: 'bridge' },
    );
    expect(task.definition).not.toHaveProperty('cpu');
    expect(task.definition.containerDefinitions?.[0]).toMatchObject({
      portMappings: [{ containerPort: 8080, hostPort: 0 }],
      cpu: 512,
      memory: 256,
    });
    expect(task.applied).toEqual({ cpus: 0.5, memoryLimitMb: 256 });
  });

  it('configures awslogs when a log group is set', () => {
    const task = plan(
      {},
      {
        cluster: 'c',
        subnets: ['subnet-1'],
        region: 'eu-west-1',
        logGroup: '/dde/tools',
        executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
      },
    );
    expect(task.definition).toMatchObject({
      executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
      containerDefinitions: [
        {
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': '/dde/tools',
              'awslogs-stream-prefix': 'dde',
              'awslogs-region': 'eu-west-1',
            },
          },
        },
      ],
    });
  });
});
