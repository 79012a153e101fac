import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type {
  ContainerDefinition,
  KeyValuePair,
  MountPoint,
  RegisterTaskDefinitionCommandInput,
  TaskOverride,
  Volume,
} from '@aws-sdk/client-ecs';
import type { LaunchPlan } from '@dde/core';
import { DdeError } from '@dde/core';
import { fargateSize } from './fargate.ts';
import type { ResolvedOptions } from './options.ts';

/** Name of the tool's container in every task definition. */
export const TOOL_CONTAINER = 'tool';
/** Name of the init container that writes file inputs into task volumes. */
export const INPUT_WRITER_CONTAINER = 'dde-input';
/** Where the input writer mounts the i-th input volume. */
const WRITER_ROOT = '/dde-input';
/** Environment variable of the input writer holding the i-th file's content. */
const CONTENT_VARIABLE = 'DDE_INPUT_';
/** ECS's limit on the JSON of RunTask's `overrides`, punctuation included. */
export const MAX_OVERRIDES_CHARACTERS = 8192;

// Mounting a task volume hides what the image has in that directory: these would leave the
// container without its programs, libraries or system files, so dde refuses them.
const SYSTEM_DIRECTORIES = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
  '/usr/bin',
  '/usr/lib',
  '/usr/lib64',
  '/usr/local',
  '/usr/local/bin',
  '/usr/local/lib',
  '/usr/sbin',
  '/var',
]);

/** What one launch needs: its shared task definition and its per-launch overrides. */
export interface TaskPlan {
  /** The task definition, registered once per content (its family names the content's hash). */
  readonly definition: RegisterTaskDefinitionCommandInput & { family: string };
  /** Per-launch data: environment (input included) and file contents. */
  readonly overrides: TaskOverride;
  /** CPU and memory as ECS applies them (Fargate rounds up to a valid size). */
  readonly applied: { readonly cpus: number | undefined; readonly memoryLimitMb: number | undefined };
}

/**
 * Maps a launch plan onto a task definition and overrides. Throws before anything is created:
 * `UNSUPPORTED` for a file or directory ECS cannot provide faithfully, `INVALID_SPEC` for a size
 * Fargate does not sell, `INPUT_TOO_LARGE` when the overrides exceed ECS's 8192 characters.
 */
export function planTask(plan: LaunchPlan, options: ResolvedOptions): TaskPlan {
  const { spec } = plan;
  const volumes: Volume[] = [];
  const toolMounts: MountPoint[] = [];
  const writerMounts: MountPoint[] = [];
  const writes: string[] = [];
  const writerEnv: KeyValuePair[] = [];
  const directories = new Map<string, string>();
  const mountDirectory = (directory: string, field: string, prefix: string): string => {
    if (SYSTEM_DIRECTORIES.has(directory)) {
      throw new DdeError(
        'UNSUPPORTED',
        `ECS mounts a task volume on a whole directory, which would hide the image's ${directory}: ` +
          'choose a directory of its own (e.g. /data/input.json)',
        { field },
      );
    }
    let volume = directories.get(directory);
    if (volume === undefined) {
      volume = `${prefix}${directories.size}`;
      directories.set(directory, volume);
      volumes.push({ name: volume });
      toolMounts.push({ sourceVolume: volume, containerPath: directory, readOnly: false });
    }
    return volume;
  };
  for (const [index, file] of plan.files.entries()) {
    const field = `inputs[${spec.inputs.findIndex((delivery) => delivery.description === `file ${file.path}`)}]`;
    const volume = mountDirectory(posix.dirname(file.path), field, 'dde-input-');
    if (!writerMounts.some((mount) => mount.sourceVolume === volume)) {
      writerMounts.push({ sourceVolume: volume, containerPath: `${WRITER_ROOT}/${volume}` });
    }
    const target = `${WRITER_ROOT}/${volume}/${posix.basename(file.path)}`;
    writes.push(
      `printf '%s' "$${CONTENT_VARIABLE}${index}" > ${shellQuote(target)} && chmod ${file.mode.toString(8)} ${shellQuote(target)}`,
    );
    writerEnv.push({
      name: `${CONTENT_VARIABLE}${index}`,
      value: Buffer.from(file.content).toString('utf8'),
    });
  }
  for (const [index, directory] of spec.extraDirectories.entries()) {
    if (directories.has(directory)) {
      throw new DdeError('UNSUPPORTED', `extraDirectories[${index}] is also the directory of a file input`, {
        field: `extraDirectories[${index}]`,
      });
    }
    mountDirectory(directory, `extraDirectories[${index}]`, 'dde-extra-');
  }

  const size = options.launchType === 'FARGATE' ? fargateSize(spec.cpus, memoryOf(plan)) : undefined;
  const logConfiguration =
    options.logGroup === undefined
      ? undefined
      : {
          logDriver: 'awslogs' as const,
          options: {
            'awslogs-group': options.logGroup,
            'awslogs-stream-prefix': options.logStreamPrefix,
            ...(options.region === undefined ? {} : { 'awslogs-region': options.region }),
          },
        };
  const tool: ContainerDefinition = {
    name: TOOL_CONTAINER,
    image: spec.image,
    essential: true,
    portMappings: [
      {
        containerPort: spec.port,
        // awsvpc maps the port onto the ENI; bridge lets ECS pick a free host port.
        hostPort: options.networkMode === 'awsvpc' ? spec.port : 0,
        protocol: 'tcp',
      },
    ],
    ...(spec.command === undefined ? {} : { command: [...spec.command] }),
    ...(toolMounts.length === 0 ? {} : { mountPoints: toolMounts }),
    ...(writes.length === 0
      ? {}
      : { dependsOn: [{ containerName: INPUT_WRITER_CONTAINER, condition: 'SUCCESS' }] }),
    ...(spec.memoryLimitMb === undefined ? {} : { memory: spec.memoryLimitMb }),
    ...(spec.memoryReservationMb === undefined
      ? options.launchType === 'EC2' && spec.memoryLimitMb === undefined
        ? { memoryReservation: 128 }
        : {}
      : { memoryReservation: spec.memoryReservationMb }),
    ...(spec.cpus === undefined || options.launchType !== 'EC2' ? {} : { cpu: Math.ceil(spec.cpus * 1024) }),
    ...(logConfiguration === undefined ? {} : { logConfiguration }),
  };
  const containers: ContainerDefinition[] = [tool];
  if (writes.length > 0) {
    containers.push({
      name: INPUT_WRITER_CONTAINER,
      image: options.inputWriterImage,
      essential: false,
      command: ['sh', '-c', writes.join(' && ')],
      mountPoints: writerMounts,
      memoryReservation: 16,
      ...(logConfiguration === undefined ? {} : { logConfiguration }),
    });
  }
  const content = {
    networkMode: options.networkMode,
    requiresCompatibilities: [options.launchType],
    ...(size === undefined ? {} : { cpu: String(size.cpu), memory: String(size.memoryMb) }),
    ...(options.executionRoleArn === undefined ? {} : { executionRoleArn: options.executionRoleArn }),
    ...(options.taskRoleArn === undefined ? {} : { taskRoleArn: options.taskRoleArn }),
    containerDefinitions: containers,
    ...(volumes.length === 0 ? {} : { volumes }),
  } satisfies Omit<RegisterTaskDefinitionCommandInput, 'family'>;
  const definition = { family: familyFor(options.namespace, content), ...content };

  const toolEnv = Object.entries(plan.env).map(([name, value]) => ({ name, value }));
  const containerOverrides = [];
  if (toolEnv.length > 0) containerOverrides.push({ name: TOOL_CONTAINER, environment: toolEnv });
  if (writerEnv.length > 0) containerOverrides.push({ name: INPUT_WRITER_CONTAINER, environment: writerEnv });
  const overrides: TaskOverride = { containerOverrides };
  checkOverridesSize(overrides, plan);
  return {
    definition,
    overrides,
    applied: {
      cpus: size === undefined ? spec.cpus : size.cpu / 1024,
      memoryLimitMb: size === undefined ? spec.memoryLimitMb : (spec.memoryLimitMb ?? size.memoryMb),
    },
  };
}

function memoryOf(plan: LaunchPlan): number | undefined {
  const { memoryLimitMb, memoryReservationMb } = plan.spec;
  const memory = Math.max(memoryLimitMb ?? 0, memoryReservationMb ?? 0);
  // The input writer's reservation counts against the task's memory too.
  const writer = plan.files.length > 0 ? 16 : 0;
  return memory === 0 ? undefined : memory + writer;
}

/** The task definition family for some content: `dde-<namespace>-<hash>`, so equal content shares one. */
export function familyFor(namespace: string, content: unknown): string {
  // The content is built field by field in a fixed order, so its JSON is stable.
  const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  return `dde-${namespace.replaceAll('.', '_')}-${hash}`;
}

function checkOverridesSize(overrides: TaskOverride, plan: LaunchPlan): void {
  const characters = JSON.stringify(overrides).length;
  if (characters <= MAX_OVERRIDES_CHARACTERS) return;
  const carriers = [
    ...plan.spec.inputs.filter((delivery) => delivery.kind !== 'url').map((delivery) => delivery.description),
    ...(Object.keys(plan.spec.env).length > 0 ? ['env'] : []),
  ];
  throw new DdeError(
    'INPUT_TOO_LARGE',
    `The task's overrides would be ${characters} characters of JSON, over ECS's limit of ${MAX_OVERRIDES_CHARACTERS} ` +
      `(they carry ${carriers.join(', ')}). On ECS, host the input (e.g. in S3) and pass urlInput(url) instead of ` +
      'envInput() and fileInput(), or make the input smaller',
    { field: plan.spec.inputs.some((delivery) => delivery.kind !== 'url') ? 'input' : 'env' },
  );
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
