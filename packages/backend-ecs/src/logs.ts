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
  if (options.tail !== undefined) {
    // Backwards from the end: pages come newest first until enough lines are in.
    let token: string | undefined;
    while (events.length < options.tail) {
      const page = await client.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: stream,
          startFromHead: false,
          limit: Math.min(10_000, options.tail - events.length),
          ...(startTime === undefined ? {} : { startTime }),
          ...(token === undefined ? {} : { nextToken: token }),
        }),
        { abortSignal: options.signal },
      );
      events.unshift(...(page.events ?? []));
      if (!page.nextBackwardToken || page.nextBackwardToken === token || (page.events ?? []).length === 0)
        break;
      token = page.nextBackwardToken;
    }
    if (events.length > options.tail) events.splice(0, events.length - options.tail);
  } else {
    let token: string | undefined;
    for (;;) {
      const page = await client.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: stream,
          startFromHead: true,
          ...(startTime === undefined ? {} : { startTime }),
          ...(token === undefined ? {} : { nextToken: token }),
        }),
        { abortSignal: options.signal },
      );
      events.push(...(page.events ?? []));
      if (!page.nextForwardToken || page.nextForwardToken === token || (page.events ?? []).length === 0)
        break;
      token = page.nextForwardToken;
    }
  }
  return events.map((event) => ({
    stream: 'stdout' as const,
    time: event.timestamp === undefined ? undefined : new Date(event.timestamp),
    text: (event.message ?? '').replace(/\r?\n$/, ''),
  }));
}
