import type { IncomingMessage } from 'node:http';
import type Dockerode from 'dockerode';

/** One Docker Engine API request, as docker-modem sends it. */
export interface EngineRequest {
  /** Method. */
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Path, without the query. */
  readonly path: string;
  /** Query parameters; objects are sent as JSON (e.g. `filters`). */
  readonly query?: Readonly<Record<string, unknown>>;
  /** JSON request body. */
  readonly body?: unknown;
  /** Raw request body (a tar archive). */
  readonly file?: Buffer;
  /** Registry credentials, sent in the `X-Registry-Auth` header. */
  readonly auth?: Readonly<Record<string, string>>;
  /** Cancels the request (and its response stream). */
  readonly signal?: AbortSignal | undefined;
}

// 2xx answers are results; every other status rejects with docker-modem's error, whose
// `statusCode` and `json` the error mapping reads.
const OK_STATUSES = { 200: true, 201: true, 204: true };

/**
 * Sends a request through dockerode's modem and resolves with the parsed JSON answer.
 *
 * Query and body travel separately (`_query`/`_body`): dockerode's own `createContainer`
 * copies every option into the URL, which would put environment variables (secrets) in
 * engine and proxy access logs.
 */
export function engineCall<T>(docker: Dockerode, request: EngineRequest): Promise<T> {
  return dial<T>(docker, request, false);
}

/** Like {@link engineCall}, for endpoints that answer with a stream (logs, events, pulls). */
export function engineStream(docker: Dockerode, request: EngineRequest): Promise<IncomingMessage> {
  return dial<IncomingMessage>(docker, request, true);
}

function dial<T>(docker: Dockerode, request: EngineRequest, isStream: boolean): Promise<T> {
  const query = request.query ?? {};
  const hasQuery = Object.keys(query).length > 0;
  return new Promise<T>((resolve, reject) => {
    docker.modem.dial(
      {
        path: hasQuery ? `${request.path}?` : request.path,
        method: request.method,
        // docker-modem builds the query from `_query` and the JSON body from `_body`.
        options: { _query: query, _body: request.body ?? {} },
        ...(request.file === undefined ? {} : { file: request.file }),
        ...(request.auth === undefined ? {} : { authconfig: request.auth }),
        ...(request.signal === undefined ? {} : { abortSignal: request.signal }),
        isStream,
        statusCodes: OK_STATUSES,
      },
      (error, result) => {
        if (error) reject(error);
        else resolve(result as T);
      },
    );
  });
}

/** Reads a whole response stream into one buffer. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
