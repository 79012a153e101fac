import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it, vi } from 'vitest';
import { describeWithDocker, uniqueNamespace } from '../docker.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const script = fileURLToPath(new URL(`./.readme-example-${uniqueNamespace('ecse')}.ts`, import.meta.url));

await describeWithDocker('the ECS emulator README example', () => {
  afterAll(() => rm(script, { force: true }));

  it('runs as written and prints the page the task serves', async () => {
    const text = await readFile(README, 'utf8');
    const example = /<!-- ecs-emulator-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(text)?.[1];
    expect(example).toContain('startEcsEmulator({ docker, label })');
    await writeFile(script, example ?? '');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await import(/* @vite-ignore */ script);
      expect(log).toHaveBeenCalledWith('hello\n');
    } finally {
      log.mockRestore();
    }
  });
});
