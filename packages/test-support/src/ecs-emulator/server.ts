import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ec2ErrorXml } from './ec2.ts';
import { AwsError, type Input } from './protocol.ts';

/**
 * The HTTP front of the emulator: AWS JSON 1.1 for ECS (`AmazonEC2ContainerServiceV20141113.*`)
 * and CloudWatch Logs (`Logs_20140328.*`) by `X-Amz-Target`, and EC2's query protocol
 * (`Action=...` form bodies). It checks the SigV4 credential scope (access key and region, not
 * the signature), records every call, applies the throttling fault, and answers errors the way
 * the SDK maps them onto its named exceptions.
 */

/** The services on the endpoint. */
export type Service = 'ecs' | 'logs' | 'ec2';

/** One call the emulator received. */
export interface RecordedCall {
  readonly service: Service;
  readonly operation: string;
  readonly time: number;
  readonly input: unknown;
  /** The exception answered, if any. */
  error?: string;
}

/** What the server dispatches to. */
export interface Handlers {
  readonly ecs: Readonly<Record<string, (input: Input) => unknown>>;
  readonly logs: Readonly<Record<string, (input: Input) => unknown>>;
  readonly ec2: Readonly<Record<string, (form: URLSearchParams) => string>>;
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  readonly handlers: Handlers;
  readonly accessKeyId: string;
  readonly region: string;
  readonly calls: RecordedCall[];
  /** Remaining throttled calls by operation name. */
  readonly throttles: Map<string, number>;
}

const TARGETS: Readonly<Record<string, Service>> = {
  AmazonEC2ContainerServiceV20141113: 'ecs',
  Logs_20140328: 'logs',
};

/** Listens on 127.0.0.1 on a free port; resolves with the server and its endpoint URL. */
export async function startServer(options: ServerOptions): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((request, response) => {
    void handle(options, request, response).catch((error: unknown) => {
      if (!response.headersSent)
        answerJson(response, 500, { __type: 'ServerException', message: String(error) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error('The ECS emulator did not get a TCP port');
  return { server, endpoint: `http://127.0.0.1:${address.port}` };
}

async function handle(
  options: ServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const target = request.headers['x-amz-target'];
  if (typeof target !== 'string') {
    const form = new URLSearchParams(body);
    const action = form.get('Action');
    if (request.method !== 'POST' || action === null) {
      answerJson(response, 400, {
        __type: 'UnknownOperationException',
        message: 'No X-Amz-Target header and no Action: not an AWS call this emulator answers.',
      });
      return;
    }
    await dispatchEc2(options, request, response, action, form);
    return;
  }
  const [prefix = '', operation = ''] = target.split('.');
  const service = TARGETS[prefix];
  const call: RecordedCall = { service: service ?? 'ecs', operation, time: Date.now(), input: undefined };
  const fail = (error: AwsError) => {
    call.error = error.type;
    answerJson(response, error.status, { __type: error.type, message: error.message });
  };
  let input: Input;
  try {
    const parsed: unknown = body === '' ? {} : JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    input = parsed as Input;
  } catch {
    options.calls.push(call);
    fail(new AwsError('SerializationException', 'The request body is not a JSON object.'));
    return;
  }
  Object.assign(call, { input });
  options.calls.push(call);
  const handler = service === 'ecs' || service === 'logs' ? options.handlers[service][operation] : undefined;
  try {
    if (!handler)
      throw new AwsError('UnknownOperationException', `The ECS emulator does not answer ${target}.`);
    checkCredential(options, request.headers.authorization, service ?? 'ecs');
    throttle(options, operation);
    answerJson(response, 200, (await handler(input)) ?? {});
  } catch (error) {
    fail(asAwsError(error));
  }
}

async function dispatchEc2(
  options: ServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
  action: string,
  form: URLSearchParams,
): Promise<void> {
  const call: RecordedCall = {
    service: 'ec2',
    operation: action,
    time: Date.now(),
    input: Object.fromEntries(form),
  };
  options.calls.push(call);
  try {
    const handler = options.handlers.ec2[action];
    if (!handler)
      throw new AwsError(
        'InvalidAction',
        `The action ${action} is not valid for this web service (ECS emulator).`,
      );
    checkCredential(options, request.headers.authorization, 'ec2');
    throttle(options, action);
    answer(response, 200, 'text/xml;charset=UTF-8', handler(form));
  } catch (error) {
    const failure = asAwsError(error);
    call.error = failure.type;
    answer(response, failure.status, 'text/xml;charset=UTF-8', ec2ErrorXml(failure));
  }
}

function asAwsError(error: unknown): AwsError {
  if (error instanceof AwsError) return error;
  // A bug or an engine failure in the emulator: ECS's own 500 makes the SDK retry, then fail.
  return new AwsError(
    'ServerException',
    `ECS emulator failure: ${error instanceof Error ? error.stack : String(error)}`,
    500,
  );
}

/** SigV4 `Credential=<key>/<date>/<region>/<service>/aws4_request`: the key and region must match. */
function checkCredential(options: ServerOptions, authorization: string | undefined, service: Service): void {
  const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization ?? '');
  if (!scope) {
    throw new AwsError(
      service === 'ec2' ? 'AuthFailure' : 'MissingAuthenticationTokenException',
      'Missing Authentication Token',
      service === 'ec2' ? 401 : 400,
    );
  }
  if (scope[1] !== options.accessKeyId) {
    throw new AwsError(
      service === 'ec2' ? 'AuthFailure' : 'UnrecognizedClientException',
      'The security token included in the request is invalid.',
      service === 'ec2' ? 401 : 400,
    );
  }
  if (scope[2] !== options.region) {
    throw new AwsError(
      service === 'ec2' ? 'AuthFailure' : 'InvalidSignatureException',
      `Credential should be scoped to a valid region: this endpoint is ${options.region}, not '${scope[2]}'.`,
      service === 'ec2' ? 401 : 400,
    );
  }
}

function throttle(options: ServerOptions, operation: string): void {
  const remaining = options.throttles.get(operation) ?? 0;
  if (remaining <= 0) return;
  if (remaining === 1) options.throttles.delete(operation);
  else options.throttles.set(operation, remaining - 1);
  throw new AwsError('ThrottlingException', 'Rate exceeded');
}

function answerJson(response: ServerResponse, status: number, body: unknown): void {
  answer(response, status, 'application/x-amz-json-1.1', JSON.stringify(body));
}

function answer(response: ServerResponse, status: number, contentType: string, text: string): void {
  const body = Buffer.from(text);
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': body.length,
    'x-amzn-requestid': randomUUID(),
  });
  response.end(body);
}
