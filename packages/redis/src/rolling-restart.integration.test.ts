// A rolling restart: two application processes (test/replica-app.ts) against one Docker Engine
// and one Redis; A gets SIGTERM while it carries WebSockets and long requests, and drains (the
// recipe of the root README), while B keeps serving.
import { request } from 'node:http';
import type { ContainerSpec } from '@dde/core';
import {
  buildNodeToolImage,
  cleanupNamespace,
  describeWithDockerAndRedis,
  eventually,
  removeImage,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Instance, type Replica, startReplica } from '../test/replicas.ts';

const imageNamespace = uniqueNamespace('drain-image');
const IMAGE = `dde-drain-tool:${imageNamespace}`;

/** What a GET through an instance answered, read to its end (or how it failed). */
interface Outcome {
  readonly status: number;
  readonly body: string;
  readonly connection: string | undefined;
}

function get(url: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
    })
      .on('error', reject)
      .end();
  });
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function echo(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.once('error', reject);
    socket.send(text);
  });
}

await describeWithDockerAndRedis('a rolling restart of one of two instances', (docker, redis) => {
  let replicas: Replica[] = [];
  const namespace = uniqueNamespace('drain');

  beforeAll(async () => {
    await buildNodeToolImage(docker, IMAGE, imageNamespace);
    replicas = await Promise.all([startReplica(), startReplica()]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.close(namespace)));
    await Promise.all(replicas.map((replica) => replica.kill('SIGKILL')));
    await cleanupNamespace(docker, namespace);
    await removeImage(docker, IMAGE).catch(() => {});
  });

  it('closes A’s WebSockets with 1001, finishes every request A had started, and B serves on', async () => {
    const [processA, processB] = replicas as [Replica, Replica];
    const [a, b]: [Instance, Instance] = await Promise.all([
      processA.open(namespace, redis().url),
      processB.open(namespace, redis().url),
    ]);
    const spec: ContainerSpec = { name: 'echo', image: IMAGE, readiness: { path: '/', timeoutMs: 30_000 } };
    expect((await a.launch(spec)).status).toBe(200);
    for (const on of [a, b]) {
      await eventually(
        async () => ((await on.get('echo/').catch(() => undefined))?.status === 200 ? true : undefined),
        {
          timeoutMs: 20_000,
          intervalMs: 100,
        },
      );
    }
    const onA = `${processA.base}/${namespace}/docker/echo`;
    const onB = `${processB.base}/${namespace}/docker/echo`;

    const sockets = await Promise.all([1, 2, 3].map(() => openSocket(`${onA.replace('http', 'ws')}/ws`)));
    for (const [index, socket] of sockets.entries())
      expect(await echo(socket, `hello ${index}`)).toBe(`hello ${index}`);
    const codes = sockets.map(
      (socket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code))),
    );
    // Long requests the container is still answering when A is told to stop.
    const started = [0, 1, 2, 3, 4].map((id) => get(`${onA}/slow?delayMs=3000&id=${id}`));
    await new Promise((resolve) => setTimeout(resolve, 500));

    const stopping = Date.now();
    const exited = processA.kill('SIGTERM');
    // The load balancer's view: A refuses new connections at once, B takes the traffic.
    await eventually(
      async () => ((await get(`${onA}/`).catch(() => undefined)) === undefined ? true : undefined),
      {
        timeoutMs: 2000,
        intervalMs: 20,
      },
    );
    expect(await Promise.all(codes)).toEqual([1001, 1001, 1001]);
    const moved = await openSocket(`${onB.replace('http', 'ws')}/ws`);
    expect(await echo(moved, 'on B')).toBe('on B');
    for (let index = 0; index < 5; index++) expect((await get(`${onB}/?n=${index}`)).status).toBe(200);

    const answers = await Promise.all(started);
    for (const [id, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).url).toBe(`/slow?delayMs=3000&id=${id}`);
      // Their responses had not started: each tells the client to reconnect (to B) next time.
      expect(answer.connection).toBe('close');
    }
    await exited;
    expect(processA.process.exitCode).toBe(0);
    // Drained well before the 10 s drain time: nothing was left to cut.
    expect(Date.now() - stopping).toBeLessThan(9000);
    expect(await echo(moved, 'still on B')).toBe('still on B');
    moved.close();
    expect((await b.get('echo/')).status).toBe(200);
  }, 120_000);
});
