import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { abortError, DdeError } from '@dde/core';
import { awsError, call } from './aws.ts';
import { KIND_WORDS, type StackKind, stackNameOf } from './tags.ts';

/** One step of a stack's creation or deletion, as CloudFormation reports it. */
export interface StackProgress {
  /** The stack. */
  readonly stackName: string;
  /** When CloudFormation recorded it. */
  readonly time: Date;
  /** The template's name for the resource (the stack's own name for the stack). */
  readonly logicalId: string;
  /** The resource type (`AWS::EC2::Instance`). */
  readonly resourceType: string;
  /** Its new status (`CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `CREATE_FAILED`...). */
  readonly status: string;
  /** CloudFormation's reason, for failures mostly. */
  readonly reason?: string;
}

/** How a stack operation reports and paces itself. */
export interface StackWatch {
  /** Called with each new stack event, oldest first. */
  readonly onProgress?: ((progress: StackProgress) => void) | undefined;
  /** How often to ask CloudFormation, in ms. Default 5000. */
  readonly pollIntervalMs?: number | undefined;
}

/** How a create or delete reports its progress: the options every create and delete takes. */
export interface StackWatchOptions {
  /** Called with each stack event. */
  readonly onProgress?: (progress: StackProgress) => void;
  /** How often to poll CloudFormation, in ms. Default 5000. */
  readonly pollIntervalMs?: number;
}

/** A stack as dde-aws reads it. */
export interface StackState {
  readonly stackId: string;
  readonly status: string;
  readonly outputs: Readonly<Record<string, string>>;
  readonly parameters: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
}

/** The body of one of the package's templates (`docker-host` or `ecs`). */
export async function templateBody(name: 'docker-host' | 'ecs'): Promise<string> {
  return readFile(new URL(`../templates/${name}.yaml`, import.meta.url), 'utf8');
}

/** The stack, or undefined when there is none of that name. */
export async function describeStack(
  cfn: CloudFormationClient,
  stackName: string,
): Promise<StackState | undefined> {
  let stack: Stack | undefined;
  try {
    const answer = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    stack = answer.Stacks?.[0];
  } catch (error) {
    const mapped = awsError(error, `describing stack ${stackName}`);
    if (mapped.code === 'NOT_FOUND') return undefined;
    throw mapped;
  }
  if (stack === undefined || stack.StackStatus === 'DELETE_COMPLETE') return undefined;
  const record = <T>(
    items: T[] | undefined,
    key: (item: T) => string | undefined,
    value: (item: T) => string | undefined,
  ) => Object.fromEntries((items ?? []).map((item) => [key(item) ?? '', value(item) ?? '']));
  return {
    stackId: stack.StackId ?? stackName,
    status: stack.StackStatus ?? 'UNKNOWN',
    outputs: record(
      stack.Outputs,
      (o) => o.OutputKey,
      (o) => o.OutputValue,
    ),
    parameters: record(
      stack.Parameters,
      (p) => p.ParameterKey,
      (p) => p.ResolvedValue ?? p.ParameterValue,
    ),
    tags: record(
      stack.Tags,
      (t) => t.Key,
      (t) => t.Value,
    ),
  };
}

/** The stack of a host or setup; `NOT_FOUND`, saying how to create it, when there is none. */
export async function requireStack(
  cfn: CloudFormationClient,
  kind: StackKind,
  name: string,
): Promise<{ stackName: string; stack: StackState }> {
  const stackName = stackNameOf(kind, name);
  const stack = await describeStack(cfn, stackName);
  if (stack === undefined) {
    const { title, command } = KIND_WORDS[kind];
    throw new DdeError(
      'NOT_FOUND',
      `No ${title} ${name} (no stack ${stackName}); create it: dde-aws ${command} create ${name}`,
    );
  }
  return { stackName, stack };
}

/** Refuses, with `CONFLICT` saying how to delete it, a host or setup whose stack exists. */
export async function refuseExistingStack(
  cfn: CloudFormationClient,
  kind: StackKind,
  name: string,
): Promise<string> {
  const stackName = stackNameOf(kind, name);
  if ((await describeStack(cfn, stackName)) !== undefined) {
    const { title, command } = KIND_WORDS[kind];
    throw new DdeError(
      'CONFLICT',
      `${title} ${name} exists already (stack ${stackName}); delete it first: dde-aws ${command} delete ${name}`,
    );
  }
  return stackName;
}

/** What {@link createStack} sends. */
export interface CreateStackInput extends StackWatch {
  readonly stackName: string;
  readonly templateBody: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly tags: ReadonlyArray<{ Key: string; Value: string }>;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Creates a stack and waits until it is complete, reporting its events. A failed creation is
 * rolled back and deleted by CloudFormation (`OnFailure: DELETE`) and rejects with
 * `LAUNCH_FAILED` carrying the first failure's reason. An abort starts the stack's deletion and
 * rejects with `ABORTED`/`TIMEOUT`.
 */
export async function createStack(cfn: CloudFormationClient, input: CreateStackInput): Promise<StackState> {
  const since = new Date(Date.now() - 1000);
  await call(`creating stack ${input.stackName}`, () =>
    cfn.send(
      new CreateStackCommand({
        StackName: input.stackName,
        TemplateBody: input.templateBody,
        Parameters: Object.entries(input.parameters).map(([ParameterKey, ParameterValue]) => ({
          ParameterKey,
          ParameterValue,
        })),
        Tags: [...input.tags],
        Capabilities: ['CAPABILITY_IAM'],
        OnFailure: 'DELETE',
      }),
    ),
  );
  try {
    return await waitForStack(cfn, input.stackName, 'create', since, input);
  } catch (error) {
    if (input.signal?.aborted) {
      await call(`deleting stack ${input.stackName}`, () =>
        cfn.send(new DeleteStackCommand({ StackName: input.stackName })),
      );
    }
    throw error;
  }
}

/** Deletes a stack and waits until it is gone; false when there was none. */
export async function deleteStack(
  cfn: CloudFormationClient,
  stackName: string,
  watch: StackWatch & { signal?: AbortSignal | undefined } = {},
): Promise<boolean> {
  const existing = await describeStack(cfn, stackName);
  if (existing === undefined) return false;
  const since = new Date(Date.now() - 1000);
  await call(`deleting stack ${stackName}`, () =>
    cfn.send(new DeleteStackCommand({ StackName: existing.stackId })),
  );
  // Deleted stacks are found by id only, so the wait follows the id.
  await waitForStack(cfn, existing.stackId, 'delete', since, watch);
  return true;
}

async function waitForStack(
  cfn: CloudFormationClient,
  stackName: string,
  operation: 'create' | 'delete',
  since: Date,
  watch: StackWatch & { signal?: AbortSignal | undefined },
): Promise<StackState> {
  const seen = new Set<string>();
  const failures: StackProgress[] = [];
  const interval = watch.pollIntervalMs ?? 5000;
  for (;;) {
    if (watch.signal?.aborted) throw abortError(watch.signal, `${operation} of stack ${stackName}`);
    for (const event of await newEvents(cfn, stackName, since, seen)) {
      if (event.status.endsWith('_FAILED') && event.reason !== undefined) failures.push(event);
      watch.onProgress?.(event);
    }
    // An abort wins even over a stack that just completed: the caller asked for nothing to stay.
    if (watch.signal?.aborted) throw abortError(watch.signal, `${operation} of stack ${stackName}`);
    const state = await describeStack(cfn, stackName);
    const status = state?.status ?? 'DELETE_COMPLETE';
    if (operation === 'create' && status === 'CREATE_COMPLETE' && state !== undefined) return state;
    if (operation === 'delete' && status === 'DELETE_COMPLETE') return state ?? emptyState(stackName, status);
    if (!status.endsWith('_IN_PROGRESS')) {
      const reason = failures.find(
        (failure) => !/cancelled|resource creation cancelled/i.test(failure.reason ?? ''),
      );
      const detail = reason ? `${reason.logicalId} (${reason.resourceType}): ${reason.reason}` : status;
      throw new DdeError(
        operation === 'create' ? 'LAUNCH_FAILED' : 'ENGINE_ERROR',
        `${operation} of stack ${stackName} failed with ${status}: ${detail}`,
      );
    }
    try {
      await sleep(interval, undefined, watch.signal ? { signal: watch.signal } : undefined);
    } catch {
      // The abort is reported at the top of the loop.
    }
  }
}

/** Stack events newer than `since` and not yet in `seen`, oldest first. */
async function newEvents(
  cfn: CloudFormationClient,
  stackName: string,
  since: Date,
  seen: Set<string>,
): Promise<StackProgress[]> {
  const fresh: StackEvent[] = [];
  let token: string | undefined;
  // Events come newest first; stop paging at the first one already seen or too old.
  pages: do {
    const page = await call(`reading events of stack ${stackName}`, () =>
      cfn.send(new DescribeStackEventsCommand({ StackName: stackName, NextToken: token })),
    );
    for (const event of page.StackEvents ?? []) {
      const id = event.EventId ?? '';
      if (seen.has(id) || (event.Timestamp !== undefined && event.Timestamp < since)) break pages;
      fresh.push(event);
    }
    token = page.NextToken;
  } while (token !== undefined);
  return fresh.reverse().map((event) => {
    seen.add(event.EventId ?? '');
    return {
      stackName: event.StackName ?? stackName,
      time: event.Timestamp ?? new Date(),
      logicalId: event.LogicalResourceId ?? '',
      resourceType: event.ResourceType ?? '',
      status: event.ResourceStatus ?? '',
      ...(event.ResourceStatusReason === undefined ? {} : { reason: event.ResourceStatusReason }),
    };
  });
}

function emptyState(stackId: string, status: string): StackState {
  return { stackId, status, outputs: {}, parameters: {}, tags: {} };
}
