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

// docker-modem gets every status as a success and hands over the raw response: statuses are
// checked here, so that error answers are read with the same care as results.
const ANY_STATUS: Readonly<Record<number, boolean>> = Object.fromEntries(
  Array.from({ length: 500 }, (_, index) => [index + 100, true]),
);

/** An error answer of the engine: what docker-modem would have thrown, with the parsed `json`. */
export interface EngineResponseError extends Error {
  /** The HTTP status. */
  readonly statusCode: number;
  /** The answer's body, parsed when it is JSON (`{"message": ...}`), else the raw bytes. */
  readonly json: unknown;
}

/**
 * Sends a request through dockerode's modem and resolves with the parsed JSON answer
 * (undefined for an empty one). Any status but 2xx rejects with an {@link EngineResponseError}.
 *
 * Query and body travel separately (`_query`/`_body`): dockerode's own `createContainer`
 * copies every option into the URL, which would put environment variables (secrets) in
 * engine and proxy access logs.
 */
export async function engineCall<T>(docker: Dockerode, request: EngineRequest): Promise<T> {
  // docker-modem's own buffering of answers listens for neither `error` nor `close` on the
  // response: an engine that dies in the middle of an answer (a restart) would leave the call
  // pending forever. Reading the answer as a stream rejects with ECONNRESET instead.
  const body = await readAll(await engineStream(docker, request));
  return parseBody(body) as T;
}

/** Like {@link engineCall}, for endpoints that answer with a stream (logs, events, pulls). */
export async function engineStream(docker: Dockerode, request: EngineRequest): Promise<IncomingMessage> {
  const response = await dial(docker, request);
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return response;
  const json = parseBody(await readAll(response));
  const message =
    json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string'
      ? (json as { message: string }).message
      : Buffer.isBuffer(json)
        ? json.toString('utf8').trim()
        : String(json ?? '');
  throw Object.assign(new Error(`(HTTP code ${status}) ${message}`), { statusCode: status, json });
}

function parseBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
}

function dial(docker: Dockerode, request: EngineRequest): Promise<IncomingMessage> {
  const query = request.query ?? {};
  const hasQuery = Object.keys(query).length > 0;
  return new Promise<IncomingMessage>((resolve, reject) => {
    docker.modem.dial(
      {
        path: hasQuery ? `${request.path}?` : request.path,
        method: request.method,
        // docker-modem builds the query from `_query` and the JSON body from `_body`.
        options: { _query: query, _body: request.body ?? {} },
        ...(request.file === undefined ? {} : { file: request.file }),
        ...(request.auth === undefined ? {} : { authconfig: request.auth }),
        ...(request.signal === undefined ? {} : { abortSignal: request.signal }),
        isStream: true,
        statusCodes: ANY_STATUS,
      },
      (error, result) => {
        if (error) reject(error);
        else resolve(result as IncomingMessage);
      },
    );
  });
}

/** Reads a whole response stream into one buffer; rejects when the connection drops before its end. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
