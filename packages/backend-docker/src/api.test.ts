import { mkdtempSync, rmSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { engineCall } from './api.ts';
import { DockerBackend } from './docker-backend.ts';

/** A fake engine on a unix socket that answers every request with `handler`. */
async function fakeEngine(
  handler: (res: ServerResponse) => void,
): Promise<{ socketPath: string; server: Server }> {
  const directory = mkdtempSync(join(tmpdir(), 'dde-fake-engine-'));
  const socketPath = join(directory, 'docker.sock');
  const server = createServer((_req, res) => handler(res));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(directory, { recursive: true, force: true });
  });
  return { socketPath, server };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Sends the headers and the start of a JSON body, then drops the connection (an engine restart). */
const dieMidAnswer = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
  res.write('[{"Id":"abc"');
  setTimeout(() => res.socket?.destroy(), 50);
};

describe('engineCall', () => {
  it('rejects, instead of hanging, when the engine drops the connection in the middle of its answer', async () => {
    const { socketPath } = await fakeEngine(dieMidAnswer);
    const docker = new Dockerode({ socketPath });
    const outcome = await Promise.race([
      engineCall(docker, { method: 'GET', path: '/containers/json' }).then(
        () => 'resolved',
        (error: unknown) => (error as { code?: string }).code,
      ),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 2_000)),
    ]);
    expect(outcome).toBe('ECONNRESET');
  });

  it('parses JSON answers and keeps the engine message of error answers', async () => {
    let status = 200;
    const { socketPath } = await fakeEngine((res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"Id":"abc"}' : '{"message":"No such container: x"}');
    });
    const docker = new Dockerode({ socketPath });
    expect(await engineCall(docker, { method: 'GET', path: '/containers/x/json' })).toEqual({ Id: 'abc' });
    status = 404;
    await expect(engineCall(docker, { method: 'GET', path: '/containers/x/json' })).rejects.toMatchObject({
      statusCode: 404,
      json: { message: 'No such container: x' },
    });
  });
});

describe('DockerBackend on an engine that restarts mid-answer', () => {
  it('fails list with ENGINE_UNAVAILABLE instead of hanging', async () => {
    const { socketPath } = await fakeEngine(dieMidAnswer);
    const backend = new DockerBackend({ namespace: 'fake', docker: new Dockerode({ socketPath }) });
    const outcome = await Promise.race([
      backend.list().then(
        () => 'resolved',
        (error: unknown) => (error as { code?: string }).code,
      ),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 2_000)),
    ]);
    expect(outcome).toBe('ENGINE_UNAVAILABLE');
  });
});
