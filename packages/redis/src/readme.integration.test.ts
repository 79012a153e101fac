import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  freePort,
  removeImage,
  skippedWithoutRedis,
  startRedis,
  type TestRedis,
  uniqueNamespace,
} from '@dde/test-support';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const namespace = uniqueNamespace('rep-readme');
const script = fileURLToPath(new URL(`../.readme-example-${namespace}.ts`, import.meta.url));
const IMAGE = 'busybox:1.36';

const TITLE = 'the README usage example';
if (!skippedWithoutRedis(TITLE))
  await describeWithDocker(TITLE, (docker) => {
    let builtImage = false;
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
      const present = await docker
        .getImage(IMAGE)
        .inspect()
        .then(() => true)
        .catch(() => false);
      if (!present) {
        await buildImage(docker, IMAGE);
        builtImage = true;
      }
    });
    afterAll(async () => {
      await rm(script, { force: true });
      await cleanupNamespace(docker, namespace);
      await redis?.stop();
      if (builtImage) await removeImage(docker, IMAGE).catch(() => {});
    });

    it('runs as written: the tool answers through the proxy; no lock or busy mark is left in Redis', async () => {
      const text = await readFile(README, 'utf8');
      const example = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(text)?.[1];
      expect(example).toContain("const namespace = 'my-lab';");
      await writeFile(
        script,
        (example ?? '')
          .replace("const namespace = 'my-lab';", `const namespace = '${namespace}';`)
          .replaceAll('alice-tool', namespace),
      );
      const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=dev-source', script], {
        env: { ...process.env, PORT: String(await freePort()), REDIS_URL: redis.url },
        timeout: 90_000,
      });
      expect(stdout).toContain('hello from the tool');
      const redisClient = new Redis(redis.url);
      const left = await redisClient.keys(`dde:${namespace}:*`);
      await redisClient.quit();
      expect(left.filter((key) => /:(lock|busy):/.test(key))).toEqual([]);
      expect(
        await docker.listContainers({ all: true, filters: { label: [`dde.namespace=${namespace}`] } }),
      ).toEqual([]);
    });
  });
