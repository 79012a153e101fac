import type { CloudWatchLogsClient, OutputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { LogEntry, LogOptions } from '@dde/core';
import { TOOL_CONTAINER } from './task-definition.ts';

/** The awslogs stream of a task's tool container: `<prefix>/<container>/<task id>`. */
export function logStreamName(prefix: string, taskArn: string): string {
  return `${prefix}/${TOOL_CONTAINER}/${taskArn.slice(taskArn.lastIndexOf('/') + 1)}`;
}

/**
 * The tool's output from CloudWatch Logs. The awslogs driver merges stdout and stderr into one
 * stream, so every entry says `stdout`. `tail` reads backwards from the end; `since` starts there.
 */
export async function readLogs(
  client: CloudWatchLogsClient,
  group: string,
  stream: string,
  options: LogOptions,
): Promise<LogEntry[]> {
  const events: OutputLogEvent[] = [];
  const startTime = options.since?.getTime();
  const tail = options.tail;
  // Without tail, pages come oldest first; with it, newest first until enough lines are in.
  const forward = tail === undefined;
  let token: string | undefined;
  for (;;) {
    const page = await client.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        startFromHead: forward,
        ...(forward ? {} : { limit: Math.min(10_000, tail - events.length) }),
        ...(startTime === undefined ? {} : { startTime }),
        ...(token === undefined ? {} : { nextToken: token }),
      }),
      { abortSignal: options.signal },
    );
    const got = page.events ?? [];
    if (forward) events.push(...got);
    else events.unshift(...got);
    const next = forward ? page.nextForwardToken : page.nextBackwardToken;
    if (!next || next === token || got.length === 0 || (!forward && events.length >= tail)) break;
    token = next;
  }
  if (tail !== undefined && events.length > tail) events.splice(0, events.length - tail);
  return events.map((event) => ({
    stream: 'stdout' as const,
    time: event.timestamp === undefined ? undefined : new Date(event.timestamp),
    text: (event.message ?? '').replace(/\r?\n$/, ''),
  }));
}
