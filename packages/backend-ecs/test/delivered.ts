import type { ECSClient } from '@aws-sdk/client-ecs';
import { DescribeTaskDefinitionCommand, DescribeTasksCommand } from '@aws-sdk/client-ecs';
import type { ContainerInfo } from '@dde/core';
import type { DeliveredInput } from '@dde/core/testing';

/**
 * What ECS was told to give a task's tool container, read back from the ECS API (the task's
 * overrides and its task definition), for engines that run no processes (moto). Files are those
 * the input writer's command writes: `printf '%s' "$DDE_INPUT_<i>" > '/dde-input/<volume>/<file>'`,
 * with the volume mounted on the tool's directory.
 */
export async function deliveredByEcs(
  ecs: ECSClient,
  cluster: string,
  info: ContainerInfo,
): Promise<DeliveredInput> {
  const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [info.id] }));
  const task = described.tasks?.[0];
  if (!task?.taskDefinitionArn) throw new Error(`ECS does not know task ${info.id}`);
  const definition = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: task.taskDefinitionArn }),
  );
  const containers = definition.taskDefinition?.containerDefinitions ?? [];
  const overrides = task.overrides?.containerOverrides ?? [];
  const envOf = (name: string) => {
    const env: Record<string, string> = {};
    const container = containers.find((candidate) => candidate.name === name);
    for (const pair of container?.environment ?? []) env[pair.name ?? ''] = pair.value ?? '';
    for (const pair of overrides.find((candidate) => candidate.name === name)?.environment ?? []) {
      env[pair.name ?? ''] = pair.value ?? '';
    }
    return env;
  };
  const tool = containers.find((container) => container.name === 'tool');
  const writer = containers.find((container) => container.name === 'dde-input');
  const files: Record<string, string> = {};
  if (writer) {
    const writerEnv = envOf('dde-input');
    const script = writer.command?.[2] ?? '';
    for (const match of script.matchAll(
      /printf '%s' "\$(DDE_INPUT_\d+)" > '\/dde-input\/([^/']+)\/([^']+)'/g,
    )) {
      const [, variable, volume, file] = match as unknown as [string, string, string, string];
      const directory = tool?.mountPoints?.find((mount) => mount.sourceVolume === volume)?.containerPath;
      if (directory !== undefined) files[`${directory}/${file}`] = writerEnv[variable] ?? '';
    }
    const waits = tool?.dependsOn?.some(
      (dependency) => dependency.containerName === 'dde-input' && dependency.condition === 'SUCCESS',
    );
    if (!waits) throw new Error('The tool does not wait for the input writer (dependsOn SUCCESS)');
  }
  return { env: envOf('tool'), files };
}
