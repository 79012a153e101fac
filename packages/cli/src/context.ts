import type { Writable } from 'node:stream';
import { DockerBackend } from '@dde/backend-docker';
import type { ContainerBackend } from '@dde/core';
import { DEFAULT_NAMESPACE, validateNamespace } from '@dde/core';

/** An output stream, a terminal or not (`isTTY`: progress is then redrawn in place). */
export type OutputStream = Writable & TerminalFlag;

/** Whether a stream is a terminal. */
export interface TerminalFlag {
  /** True on a terminal. */
  isTTY?: boolean;
}

/** Where a command writes and what it runs against: the process, or a test's stand-ins. */
export interface CliIo {
  /** Normal output. */
  readonly stdout: OutputStream;
  /** Errors and progress. */
  readonly stderr: OutputStream;
  /** Environment variables (DDE_NAMESPACE, DOCKER_HOST, ...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Stops long-running commands (`dde proxy`); the process wires it to SIGINT and SIGTERM. */
  readonly signal?: AbortSignal;
  /** Makes the backend; default: a `DockerBackend` (from @dde/backend-docker) for the namespace. */
  readonly backend?: (namespace: string) => ContainerBackend;
}

/** What every command gets: its parsed global options and the way to reach the engine. */
export interface CommandContext {
  /** The namespace chosen by --namespace or DDE_NAMESPACE. */
  readonly namespace: string;
  /** Whether --json was given. */
  readonly json: boolean;
  /** Output and environment. */
  readonly io: CliIo;
  /** Makes the backend for the namespace; `network`: the Docker network its containers join. */
  backend(options?: BackendChoice): ContainerBackend;
}

/** What a command's flags say about the backend. */
export interface BackendChoice {
  /** `--network`: the Docker network containers join (and are reached on). */
  readonly network?: string | undefined;
}

/** Builds the command context from global options. */
export function commandContext(io: CliIo, namespace: string | undefined, json: boolean): CommandContext {
  const chosen = validateNamespace(namespace ?? io.env.DDE_NAMESPACE ?? DEFAULT_NAMESPACE);
  return {
    namespace: chosen,
    json,
    io,
    backend: (options = {}) =>
      io.backend
        ? io.backend(chosen)
        : new DockerBackend({
            namespace: chosen,
            ...(options.network === undefined ? {} : { network: options.network }),
          }),
  };
}

/** Writes a line to a stream. */
export function writeLine(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}
