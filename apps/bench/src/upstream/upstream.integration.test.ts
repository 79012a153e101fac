import { request } from 'node:http';
import { LABELS } from '@dde/core';
import { cleanupNamespace, describeWithDocker, uniqueNamespace } from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { cleanup } from '../cleanup.ts';
import { measureTransfer } from '../load/transfer.ts';
import { findExecutable } from '../processes.ts';
import { caddyTarget } from '../targets/caddy.ts';
import { chpTarget } from '../targets/chp.ts';
import { nginxTarget } from '../targets/nginx.ts';
import type { UpstreamTarget } from '../targets/types.ts';
import { buildUpstreamImage, UPSTREAM_PORT } from './image.ts';

/** GET `url` on a keep-alive agent; resolves with status, connection header and body length. */
function get(url: string): Promise<{ status: number; connection: string | undefined; bytes: number }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, bytes }),
      );
    })
      .on('error', reject)
      .end();
  });
}

/** Sends each message over one WebSocket and collects the echoes in order. */
async function echo(url: string, messages: Array<string | Buffer>): Promise<Buffer[]> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const received: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      received.push(data);
      if (received.length === messages.length) resolve();
    });
  });
  for (const message of messages) ws.send(message);
  await done;
  ws.close();
  return received;
}

const nginxInstalled = (await findExecutable('nginx')) !== undefined;
const caddyInstalled = (await findExecutable('caddy')) !== undefined;

await describeWithDocker('the upstream image', (docker) => {
  const namespace = uniqueNamespace('benchtest');
  const tag = `dde-bench-upstream:${namespace}`;
  let target: UpstreamTarget;

  beforeAll(async () => {
    await buildUpstreamImage(docker, tag, { [LABELS.namespace]: namespace });
    const container = await docker.createContainer({
      name: `${namespace}-upstream`,
      Image: tag,
      Labels: { [LABELS.namespace]: namespace },
    });
    await container.start();
    const networks = Object.values((await container.inspect()).NetworkSettings.Networks);
    const host = networks[0]?.IPAddress ?? '';
    target = { name: 'up', upstream: { host, port: UPSTREAM_PORT } };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await get(`http://${host}:${UPSTREAM_PORT}/`).catch(() => undefined)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 120_000);

  // Removing the container and its image can take a minute on a loaded engine.
  afterAll(async () => {
    await cleanup();
    await cleanupNamespace(docker, namespace);
  }, 120_000);

  it('answers every path with 1 KiB over keep-alive', async () => {
    const { host, port } = target.upstream;
    expect(await get(`http://${host}:${port}/docker/up/anything`)).toEqual({
      status: 200,
      connection: 'keep-alive',
      bytes: 1024,
    });
  });

  it('echoes WebSocket text and binary messages, large ones included', async () => {
    const { host, port } = target.upstream;
    const big = Buffer.alloc(70_000, 7);
    const echoes = await echo(`ws://${host}:${port}/ws`, ['hello', big, 'x'.repeat(300)]);
    expect(echoes.map((b) => b.length)).toEqual([5, 70_000, 300]);
    expect(echoes[0]?.toString()).toBe('hello');
    expect(echoes[1]?.equals(big)).toBe(true);
  });

  it('serves sized downloads, reads uploads, streams and echoes a large frame over WebSocket', async () => {
    const { host, port } = target.upstream;
    // Each mode throws when a byte is missing (see transfer-worker.ts).
    for (const [mode, url] of [
      ['download', `http://${host}:${port}/docker/up/`],
      ['upload', `http://${host}:${port}/docker/up/`],
      ['ws-stream', `ws://${host}:${port}/ws`],
      ['ws-frame', `ws://${host}:${port}/ws`],
    ] as const) {
      const seconds = await measureTransfer(url, mode, 3_000_001, 2);
      expect(seconds, mode).toHaveLength(2);
    }
    // Without the query, a GET still gets the 1 KiB of the hot path.
    expect(await get(`http://${host}:${port}/?other=1`)).toMatchObject({ status: 200, bytes: 1024 });
  });

  it('is reached through configurable-http-proxy under /docker/<name>/', async () => {
    const running = await chpTarget.start(target);
    try {
      expect(await get(running.httpUrl)).toMatchObject({ status: 200, bytes: 1024 });
      expect((await echo(running.wsUrl ?? '', ['via chp']))[0]?.toString()).toBe('via chp');
    } finally {
      await running.stop();
    }
  });

  // nginx is optional for `npm run bench`, but CI installs it: there this test must run.
  it.skipIf(!nginxInstalled && process.env.CI !== 'true')(
    'is reached through nginx under /docker/<name>/ (needs nginx installed)',
    async () => {
      const running = await (await nginxTarget(1)).start(target);
      try {
        expect(await get(running.httpUrl)).toMatchObject({ status: 200, bytes: 1024 });
        expect((await echo(running.wsUrl ?? '', ['via nginx']))[0]?.toString()).toBe('via nginx');
      } finally {
        await running.stop();
      }
    },
  );

  // Caddy too: optional for `npm run bench`, installed by CI.
  it.skipIf(!caddyInstalled && process.env.CI !== 'true')(
    'is reached through caddy under /docker/<name>/ (needs caddy installed)',
    async () => {
      const running = await (await caddyTarget(1)).start(target);
      try {
        expect(await get(running.httpUrl)).toMatchObject({ status: 200, bytes: 1024 });
        expect((await echo(running.wsUrl ?? '', ['via caddy']))[0]?.toString()).toBe('via caddy');
        expect(await running.cpuTime?.()).toMatchObject({ userUs: expect.any(Number) });
      } finally {
        await running.stop();
      }
    },
  );
});
