import type { ECSClient, RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { LABELS } from '@dde/core';
import { awsErrorName } from './errors.ts';
import { TOOL_CONTAINER } from './task-definition.ts';

/**
 * The task definitions of one backend: registered lazily, once per content (the family names
 * the content's hash, so an existing ACTIVE revision of that family is reused, even one an
 * earlier process registered), and deregistered and deleted only when this backend registered
 * them itself.
 */
export class TaskDefinitions {
  readonly #ecs: ECSClient;
  readonly #namespace: string;
  readonly #byFamily = new Map<string, Promise<string>>();
  readonly #registered = new Set<string>();
  readonly #ports = new Map<string, Promise<number | undefined>>();

  constructor(ecs: ECSClient, namespace: string) {
    this.#ecs = ecs;
    this.#namespace = namespace;
  }

  /** The ARN of an ACTIVE revision with this content, registering one if there is none. */
  ensure(
    definition: RegisterTaskDefinitionCommandInput & { family: string },
    signal?: AbortSignal,
  ): Promise<string> {
    let arn = this.#byFamily.get(definition.family);
    if (arn === undefined) {
      arn = this.#ensure(definition, signal);
      this.#byFamily.set(definition.family, arn);
      arn.catch(() => this.#byFamily.delete(definition.family));
    }
    return arn;
  }

  async #ensure(
    definition: RegisterTaskDefinitionCommandInput & { family: string },
    signal?: AbortSignal,
  ): Promise<string> {
    try {
      const existing = await this.#ecs.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: definition.family }),
        {
          abortSignal: signal,
        },
      );
      const found = existing.taskDefinition;
      if (found?.status === 'ACTIVE' && found.taskDefinitionArn) return found.taskDefinitionArn;
    } catch (error) {
      // No revision yet (ClientException "Unable to describe task definition"): register one.
      if (
        awsErrorName(error) !== 'ClientException' &&
        awsErrorName(error) !== 'TaskDefinitionNotFoundException'
      )
        throw error;
    }
    const answer = await this.#ecs.send(
      new RegisterTaskDefinitionCommand({
        ...definition,
        tags: [
          { key: LABELS.managed, value: 'true' },
          { key: LABELS.namespace, value: this.#namespace },
        ],
      }),
      { abortSignal: signal },
    );
    const arn = answer.taskDefinition?.taskDefinitionArn;
    if (!arn) throw new Error(`RegisterTaskDefinition of ${definition.family} returned no ARN`);
    this.#registered.add(arn);
    return arn;
  }

  /** The ARNs this backend registered and has not released. */
  registered(): string[] {
    return [...this.#registered];
  }

  /**
   * Deregisters (then deletes) a revision this backend registered; any other is left alone.
   * Deletion is best effort: older ECS APIs (and emulators) lack DeleteTaskDefinitions.
   */
  async release(arn: string): Promise<void> {
    if (!this.#registered.delete(arn)) return;
    for (const [family, pending] of this.#byFamily) {
      if ((await pending.catch(() => undefined)) === arn) this.#byFamily.delete(family);
    }
    await this.#ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
    try {
      await this.#ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: [arn] }));
    } catch {
      // Deregistered is enough: ECS deletes INACTIVE revisions itself eventually.
    }
  }

  /** The tool's container port in a task definition (cached), for tasks whose tags are gone. */
  port(arn: string): Promise<number | undefined> {
    let port = this.#ports.get(arn);
    if (port === undefined) {
      port = this.#ecs
        .send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }))
        .then(
          (answer) =>
            answer.taskDefinition?.containerDefinitions?.find(
              (container) => container.name === TOOL_CONTAINER,
            )?.portMappings?.[0]?.containerPort,
        );
      this.#ports.set(arn, port);
      port.catch(() => this.#ports.delete(arn));
    }
    return port;
  }
}
