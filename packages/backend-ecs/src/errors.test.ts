import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDdeError } from './errors.ts';

// A loopback endpoint answering every call with the AWS JSON 1.1 error named in the path's
// first segment, so the real SDK parses real error responses.
let server: Server;
let base: string;
const calls: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const [, type = 'ServerException', status = '400'] = (request.url ?? '').split('/');
    calls.push(type);
    request.resume();
    request.on('end', () => {
      response.writeHead(Number(status), {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': 'r',
      });
      response.end(JSON.stringify({ __type: `com.amazonaws.ecs#${type}`, message: `the ${type} message` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function failure(type: string, status = 400, maxAttempts = 1) {
  const client = new ECSClient({
    endpoint: `${base}/${type}/${status}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    maxAttempts,
  });
  try {
    await client.send(new ListTasksCommand({ cluster: 'tools' }));
  } catch (error) {
    return toDdeError(error, { what: 'listing tasks', cluster: 'tools' });
  } finally {
    client.destroy();
  }
  throw new Error('the call succeeded');
}

describe('toDdeError on real SDK errors', () => {
  it('maps access denied onto a configuration error naming the policy', async () => {
    const error = await failure('AccessDeniedException');
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', field: 'credentials' });
    expect(error.message).toContain('IAM policy');
    expect(error.message).toContain('the AccessDeniedException message');
  });

  it('maps a missing cluster onto a configuration error naming the cluster option', async () => {
    const error = await failure('ClusterNotFoundException');
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', field: 'cluster' });
    expect(error.message).toContain('no cluster "tools"');
  });

  it('maps throttling onto LIMIT_EXCEEDED with a retry hint, after the SDK retried it', async () => {
    calls.length = 0;
    const error = await failure('ThrottlingException', 400, 2);
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toMatch(/Retry in a few seconds/);
    expect(calls).toEqual(['ThrottlingException', 'ThrottlingException']);
  });

  it('retries server errors, then reports the engine unavailable', async () => {
    calls.length = 0;
    const error = await failure('ServerException', 500, 3);
    expect(error.code).toBe('ENGINE_UNAVAILABLE');
    expect(calls).toHaveLength(3);
  });

  it("keeps ECS's words for invalid parameters", async () => {
    const error = await failure('InvalidParameterException');
    expect(error.code).toBe('ENGINE_ERROR');
    expect(error.message).toBe(
      'Listing tasks failed: InvalidParameterException: the InvalidParameterException message',
    );
  });

  it('reports an unreachable endpoint', async () => {
    const client = new ECSClient({
      endpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    const error = await client
      .send(new ListTasksCommand({}))
      .catch((caught: unknown) => toDdeError(caught, { what: 'listing tasks', cluster: 'tools' }));
    client.destroy();
    expect(error).toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('turns an aborted signal into ABORTED or TIMEOUT', () => {
    expect(toDdeError(new Error('x'), { what: 'x', cluster: 'c', signal: AbortSignal.abort() }).code).toBe(
      'ABORTED',
    );
  });
});
