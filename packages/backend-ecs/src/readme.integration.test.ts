import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { buildImage, describeWithDocker, removeImage, uniqueNamespace } from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmulatorWorld, startEmulatorWorld } from '../test/emulator.ts';
import { DEFAULT_INPUT_WRITER_IMAGE } from './index.ts';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const namespace = uniqueNamespace('ecsb');
const script = fileURLToPath(new URL(`../.readme-example-${namespace}.ts`, import.meta.url));
const IMAGES = ['busybox:1.36', DEFAULT_INPUT_WRITER_IMAGE];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

await describeWithDocker('the README usage example, on the ECS emulator', (docker) => {
  let world: EmulatorWorld;
  const built: string[] = [];

  beforeAll(async () => {
    world = await startEmulatorWorld();
    // No registry here: provide the example's images locally, as ECS would pull them.
    for (const image of IMAGES) {
      const present = await docker
        .getImage(image)
        .inspect()
        .then(() => true)
        .catch(() => false);
      if (!present) {
        await buildImage(docker, image);
        built.push(image);
      }
    }
  }, 180_000);
  afterAll(async () => {
    await rm(script, { force: true });
    await world?.close();
    for (const image of built) await removeImage(docker, image);
  }, 120_000);

  it('runs as written and prints the input the task received', async () => {
    const text = await readFile(README, 'utf8');
    const example = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(text)?.[1] ?? '';
    expect(example).toContain("cluster: 'dde-tools'");
    // Only where it runs changes: the emulator's cluster and network, a namespace of this run.
    const { emulator } = world;
    const isolated = example
      .replace("'dde-tools'", `'${emulator.cluster}'`)
      .replace("'subnet-0123456789abcdef0'", `'${emulator.subnets[0]}'`)
      .replace("'sg-0123456789abcdef0'", `'${emulator.securityGroups[0]}'`)
      .replace("namespace: 'my-app'", `namespace: '${namespace}'`);
    await writeFile(script, isolated);
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=dev-source', script], {
      env: {
        ...process.env,
        PORT: String(await freePort()),
        AWS_ENDPOINT_URL: emulator.endpoint,
        AWS_REGION: emulator.region,
        AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
      },
      timeout: 150_000,
    });
    expect(stdout).toContain("files: [ 'https://example.org/a.csv' ]");
    const ecs = new ECSClient({
      endpoint: emulator.endpoint,
      region: emulator.region,
      credentials: emulator.credentials,
    });
    const left = await ecs.send(
      new ListTasksCommand({
        cluster: emulator.cluster,
        startedBy: `dde/${namespace}`,
        desiredStatus: 'RUNNING',
      }),
    );
    ecs.destroy();
    expect(left.taskArns).toEqual([]);
    expect(emulator.calls.filter((call) => call.operation === 'DeregisterTaskDefinition')).toHaveLength(1);
  }, 180_000);
});
