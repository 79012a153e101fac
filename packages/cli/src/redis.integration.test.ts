import { DockerBackend } from '@dde/backend-docker';
import { RedisStore } from '@dde/redis';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  NAMESPACE_LABEL,
  removeImage,
  skippedWithoutRedis,
  startRedis,
  type TestRedis,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../test/cli-process.ts';

const namespace = uniqueNamespace('rep-cli');
const image = `dde-rep-cli:${namespace}`;

function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runInProcess(['--namespace', namespace, ...argv]);
}

const TITLE = 'dde ls and purge with --redis';
if (!skippedWithoutRedis(TITLE))
  await describeWithDocker(TITLE, (docker) => {
    let redis: TestRedis;
    beforeAll(async () => {
      [redis] = await Promise.all([
        startRedis(),
        buildImage(docker, image, { labels: { [NAMESPACE_LABEL]: namespace } }),
      ]);
    }, 120_000);
    afterAll(async () => {
      await cleanupNamespace(docker, namespace);
      await redis?.stop();
      await removeImage(docker, image).catch(() => {});
    });

    it('ls shows, and purge --idle weighs, the activity application instances recorded in Redis', async () => {
      const backend = new DockerBackend({ namespace });
      for (const name of ['rep-cli-used', 'rep-cli-idle']) {
        await backend.launch({ name, image, command: ['sleep', '600'], port: 80 });
      }
      await backend.close();
      await new Promise((resolve) => setTimeout(resolve, 3500));
      // What a proxying instance records.
      const instance = new RedisStore({ url: redis.url, namespace });
      await instance.start();
      instance.history.record('rep-cli-used', {
        type: 'http',
        time: Date.now(),
        method: 'GET',
        path: '/',
        status: 200,
        bytesIn: 0,
        bytesOut: 10,
        durationMs: 3,
      });
      await instance.close();

      const listed = await cli('ls', '--redis', redis.url, '--json');
      expect(listed.code).toBe(0);
      const rows = JSON.parse(listed.stdout) as { name: string; lastActivity: string | null }[];
      expect(rows.map((row) => [row.name, row.lastActivity === null])).toEqual([
        ['rep-cli-idle', true],
        ['rep-cli-used', false],
      ]);
      expect((await cli('ls', '--redis', redis.url)).stdout).toMatch(/LAST ACTIVE[\s\S]*rep-cli-used.* ago/);

      const purged = await cli('purge', '--idle', '3s', '--redis', redis.url, '--json');
      expect(purged.code).toBe(0);
      expect(JSON.parse(purged.stdout)).toEqual({ removed: ['rep-cli-idle'] });
      expect((await cli('purge', '--idle', '1s', '--redis', 'redis://127.0.0.1:1', '--json')).stderr).toMatch(
        /Cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
      );
      expect((await cli('purge', '--all', '--redis', redis.url)).stderr).toMatch(
        /--redis only goes with --idle/,
      );
    });
  });
