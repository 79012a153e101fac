import type Dockerode from 'dockerode';
import {
  AwsError,
  type Input,
  invalidParameter,
  optionalBoolean,
  optionalNumber,
  optionalString,
  stringList,
} from './protocol.ts';

/**
 * CloudWatch Logs over the containers' Docker logs: a container whose logConfiguration uses the
 * awslogs driver gets the stream `<awslogs-stream-prefix>/<containerName>/<taskId>` in its
 * `awslogs-group` (the container id without a prefix). A running container's events are read
 * from Docker on each call; a stopped one's are kept in memory, since the emulator removes its
 * stopped containers as ECS does while CloudWatch keeps the logs.
 */

/** One log event. */
export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
}

interface LogStream {
  readonly name: string;
  readonly createdAt: number;
  runtimeId?: string;
  /** Set once the container is gone: the events it wrote. */
  events?: readonly LogEvent[];
}

/** The log groups and their streams. */
export class LogStore {
  readonly #docker: Dockerode;
  readonly #groups = new Map<string, Map<string, LogStream>>();

  constructor(docker: Dockerode) {
    this.#docker = docker;
  }

  /** Opens the stream a container writes to (the log group is created on first use). */
  open(group: string, stream: string): LogStream {
    let streams = this.#groups.get(group);
    if (!streams) {
      streams = new Map();
      this.#groups.set(group, streams);
    }
    const record: LogStream = { name: stream, createdAt: Date.now() };
    streams.set(stream, record);
    return record;
  }

  /** Reads the events of a container still on the engine into the stream for good. */
  async keep(stream: LogStream): Promise<void> {
    if (stream.events !== undefined) return;
    stream.events = await this.#read(stream).catch(() => []);
  }

  async #read(stream: LogStream): Promise<readonly LogEvent[]> {
    if (stream.events !== undefined) return stream.events;
    if (stream.runtimeId === undefined) return [];
    const raw = (await this.#docker
      .getContainer(stream.runtimeId)
      .logs({ stdout: true, stderr: true, timestamps: true, follow: false })) as unknown as Buffer;
    return parseDockerLog(raw);
  }

  #group(input: Input): Map<string, LogStream> {
    const name =
      optionalString(input, 'logGroupName') ??
      groupFromIdentifier(optionalString(input, 'logGroupIdentifier'));
    if (name === undefined) throw invalidParameter('logGroupName or logGroupIdentifier is required.');
    const group = this.#groups.get(name);
    if (!group) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
    return group;
  }

  /** GetLogEvents: forward and backward tokens `f/<index>` and `b/<index>` over the stream's events. */
  async getLogEvents(input: Input): Promise<unknown> {
    const stream = this.#group(input).get(optionalString(input, 'logStreamName') ?? '');
    if (!stream) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    const events = inWindow(await this.#read(stream), input);
    const limit = optionalNumber(input, 'limit') ?? 10_000;
    if (limit < 1 || limit > 10_000) throw invalidParameter('limit must be between 1 and 10000.');
    const token = optionalString(input, 'nextToken');
    let start: number;
    let end: number;
    const position = token === undefined ? undefined : /^([fb])\/(\d+)$/.exec(token);
    if (token !== undefined && !position) throw invalidParameter('The specified nextToken is invalid.');
    if (position?.[1] === 'f') {
      start = Math.min(Number(position[2]), events.length);
      end = Math.min(start + limit, events.length);
    } else if (position?.[1] === 'b') {
      end = Math.min(Number(position[2]), events.length);
      start = Math.max(0, end - limit);
    } else if (optionalBoolean(input, 'startFromHead') === true) {
      start = 0;
      end = Math.min(limit, events.length);
    } else {
      end = events.length;
      start = Math.max(0, end - limit);
    }
    return {
      events: events.slice(start, end).map((event) => ({ ...event, ingestionTime: event.timestamp })),
      nextForwardToken: `f/${end}`,
      nextBackwardToken: `b/${start}`,
    };
  }

  /** FilterLogEvents: streams by name or prefix, a time window, and a filter pattern of plain terms. */
  async filterLogEvents(input: Input): Promise<unknown> {
    const group = this.#group(input);
    const names = stringList(input, 'logStreamNames');
    const prefix = optionalString(input, 'logStreamNamePrefix');
    if (names.length > 0 && prefix !== undefined) {
      throw invalidParameter('logStreamNames and logStreamNamePrefix cannot both be given.');
    }
    const matches = matcher(optionalString(input, 'filterPattern'));
    const streams = [...group.values()].filter(
      (stream) =>
        (names.length === 0 || names.includes(stream.name)) &&
        (prefix === undefined || stream.name.startsWith(prefix)),
    );
    const found: {
      logStreamName: string;
      timestamp: number;
      message: string;
      ingestionTime: number;
      eventId: string;
    }[] = [];
    for (const stream of streams) {
      for (const [index, event] of inWindow(await this.#read(stream), input).entries()) {
        if (!matches(event.message)) continue;
        found.push({
          logStreamName: stream.name,
          ...event,
          ingestionTime: event.timestamp,
          eventId: `${stream.name}/${index}`,
        });
      }
    }
    found.sort((a, b) => a.timestamp - b.timestamp);
    const limit = optionalNumber(input, 'limit') ?? 10_000;
    const token = optionalString(input, 'nextToken');
    const start = token === undefined ? 0 : Number.parseInt(token, 10);
    if (!Number.isInteger(start) || start < 0) throw invalidParameter('The specified nextToken is invalid.');
    const end = start + limit;
    return {
      events: found.slice(start, end),
      searchedLogStreams: streams.map((stream) => ({ logStreamName: stream.name, searchedCompletely: true })),
      ...(end < found.length ? { nextToken: String(end) } : {}),
    };
  }

  /** DescribeLogStreams (by prefix, in name order). */
  async describeLogStreams(input: Input): Promise<unknown> {
    const prefix = optionalString(input, 'logStreamNamePrefix') ?? '';
    const streams = [...this.#group(input).values()]
      .filter((stream) => stream.name.startsWith(prefix))
      .sort((a, b) => a.name.localeCompare(b.name));
    const described = [];
    for (const stream of streams) {
      const events = await this.#read(stream);
      described.push({
        logStreamName: stream.name,
        creationTime: stream.createdAt,
        ...(events.length > 0
          ? {
              firstEventTimestamp: events[0]?.timestamp,
              lastEventTimestamp: events.at(-1)?.timestamp,
              lastIngestionTime: events.at(-1)?.timestamp,
            }
          : {}),
      });
    }
    return { logStreams: described };
  }
}

function groupFromIdentifier(identifier: string | undefined): string | undefined {
  if (identifier === undefined) return undefined;
  const arn = /^arn:aws[\w-]*:logs:[\w-]+:\d+:log-group:([^:]+)/.exec(identifier);
  return arn?.[1] ?? identifier;
}

function inWindow(events: readonly LogEvent[], input: Input): readonly LogEvent[] {
  const startTime = optionalNumber(input, 'startTime');
  const endTime = optionalNumber(input, 'endTime');
  return events.filter(
    (event) =>
      (startTime === undefined || event.timestamp >= startTime) &&
      (endTime === undefined || event.timestamp < endTime),
  );
}

/** CloudWatch's simplest filter patterns: terms that must all appear (`"quoted phrase"` keeps spaces). */
function matcher(pattern: string | undefined): (message: string) => boolean {
  if (pattern === undefined || pattern.trim() === '') return () => true;
  const terms = [...pattern.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? '');
  return (message) => terms.every((term) => message.includes(term));
}

/**
 * Splits Docker's log answer into events: multiplexed frames (8-byte headers) for containers
 * without a TTY, each line starting with its RFC 3339 timestamp (`timestamps: true`).
 */
export function parseDockerLog(raw: Buffer): LogEvent[] {
  let text = '';
  let offset = 0;
  const framed =
    raw.length >= 8 && (raw[0] === 1 || raw[0] === 2) && raw[1] === 0 && raw[2] === 0 && raw[3] === 0;
  if (framed) {
    while (offset + 8 <= raw.length) {
      const size = raw.readUInt32BE(offset + 4);
      text += raw.subarray(offset + 8, offset + 8 + size).toString('utf8');
      offset += 8 + size;
    }
  } else {
    text = raw.toString('utf8');
  }
  const events: { key: string; event: LogEvent }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    const stamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(line.slice(0, space));
    if (space < 0 || !stamp) continue;
    const fraction = (stamp[2] ?? '').padEnd(9, '0');
    events.push({
      // Nanoseconds order the lines: stdout and stderr frames arrive in separate runs.
      key: `${stamp[1]}.${fraction}`,
      event: {
        timestamp: Date.parse(`${stamp[1]}.${fraction.slice(0, 3)}Z`),
        message: line.slice(space + 1),
      },
    });
  }
  return events.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ event }) => event);
}
