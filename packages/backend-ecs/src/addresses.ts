import type { EC2Client } from '@aws-sdk/client-ec2';
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import type { DescribeContainerInstancesCommandOutput, ECSClient, Task } from '@aws-sdk/client-ecs';
import { DescribeContainerInstancesCommand } from '@aws-sdk/client-ecs';
import type { Upstream } from '@dde/core';
import type { NetworkMode, UpstreamAddress } from './options.ts';
import { TOOL_CONTAINER } from './task-definition.ts';

/** What {@link AddressResolver} needs. */
export interface AddressSettings {
  readonly cluster: string;
  readonly networkMode: NetworkMode;
  readonly upstreamAddress: UpstreamAddress;
  readonly ecs: ECSClient;
  /** Built on first use: only bridge mode and public addresses need EC2. */
  readonly ec2: () => EC2Client;
}

/** The ENI detail that holds a value, e.g. `privateIPv4Address` or `networkInterfaceId`. */
export function eniDetail(task: Task, name: string): string | undefined {
  for (const attachment of task.attachments ?? []) {
    if (attachment.type !== 'ElasticNetworkInterface') continue;
    const value = attachment.details?.find((detail) => detail.name === name)?.value;
    if (value) return value;
  }
  return undefined;
}

/**
 * Finds where the proxy reaches a task's tool: the task ENI's private address (awsvpc) or its
 * public one (looked up in EC2), or for bridge networking the host port ECS mapped plus the
 * private address of the EC2 instance behind the container instance. Instance and ENI lookups
 * are cached: they never change for a given ARN or id.
 */
export class AddressResolver {
  readonly #settings: AddressSettings;
  readonly #instanceHosts = new Map<string, Promise<string | undefined>>();
  readonly #publicHosts = new Map<string, Promise<string | undefined>>();

  constructor(settings: AddressSettings) {
    this.#settings = settings;
  }

  /** The tool's address, or undefined while the task has none yet. */
  async upstream(task: Task, port: number, signal?: AbortSignal): Promise<Upstream | undefined> {
    if (this.#settings.networkMode === 'awsvpc') {
      const host =
        this.#settings.upstreamAddress === 'public'
          ? await this.#publicHost(eniDetail(task, 'networkInterfaceId'), signal)
          : (eniDetail(task, 'privateIPv4Address') ??
            toolContainer(task)?.networkInterfaces?.[0]?.privateIpv4Address);
      return host === undefined ? undefined : { host, port };
    }
    const binding = toolContainer(task)?.networkBindings?.find(
      (candidate) => candidate.containerPort === port && candidate.hostPort !== undefined,
    );
    if (binding?.hostPort === undefined || task.containerInstanceArn === undefined) return undefined;
    const host = await this.#instanceHost(task.containerInstanceArn, signal);
    return host === undefined ? undefined : { host, port: binding.hostPort };
  }

  #instanceHost(arn: string, signal?: AbortSignal): Promise<string | undefined> {
    let host = this.#instanceHosts.get(arn);
    if (host === undefined) {
      host = (async () => {
        const described: DescribeContainerInstancesCommandOutput = await this.#settings.ecs.send(
          new DescribeContainerInstancesCommand({
            cluster: this.#settings.cluster,
            containerInstances: [arn],
          }),
          { abortSignal: signal },
        );
        const instanceId = described.containerInstances?.[0]?.ec2InstanceId;
        if (instanceId === undefined) return undefined;
        const instances = await this.#settings
          .ec2()
          .send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
        return instances.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress;
      })();
      this.#instanceHosts.set(arn, host);
      // A failed lookup is not cached: the next poll tries again.
      host.then(
        (value) => value === undefined && this.#instanceHosts.delete(arn),
        () => this.#instanceHosts.delete(arn),
      );
    }
    return host;
  }

  #publicHost(eni: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    if (eni === undefined) return Promise.resolve(undefined);
    let host = this.#publicHosts.get(eni);
    if (host === undefined) {
      host = this.#settings
        .ec2()
        .send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] }), { abortSignal: signal })
        .then((answer) => answer.NetworkInterfaces?.[0]?.Association?.PublicIp);
      this.#publicHosts.set(eni, host);
      host.then(
        (value) => value === undefined && this.#publicHosts.delete(eni),
        () => this.#publicHosts.delete(eni),
      );
    }
    return host;
  }
}

/** The tool's container in a described task (moto reports the first container only). */
export function toolContainer(task: Task): NonNullable<Task['containers']>[number] | undefined {
  return task.containers?.find((container) => container.name === TOOL_CONTAINER) ?? task.containers?.[0];
}
