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
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const namespace = uniqueNamespace('readme');
const script = fileURLToPath(new URL(`../.readme-example-${namespace}.ts`, import.meta.url));
const IMAGE = 'busybox:1.36';

/** The TypeScript block that follows the `readme-example` marker in the root README. */
async function readmeExample(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(text);
  if (!match?.[1]) throw new Error('README.md has no readme-example block');
  return match[1];
}

await describeWithDocker('the README usage example', (docker) => {
  let builtImage = false;
  beforeAll(async () => {
    // No registry here: provide the example's image locally, as a developer's machine would have it.
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
    if (builtImage) await removeImage(docker, IMAGE);
  });

  it('runs as written and prints the input the container received', async () => {
    const example = await readmeExample();
    expect(example).toContain("namespace: 'my-app'");
    expect(example).toContain("name: 'my-server'");
    // Only the namespace and the container's name change, so parallel runs (or a developer's own
    // `my-server`) never share or collide with containers on one engine.
    const isolated = example
      .replace("namespace: 'my-app'", `namespace: '${namespace}'`)
      .replaceAll('my-server', namespace);
    await writeFile(script, isolated);
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=dev-source', script], {
      env: { ...process.env, PORT: String(await freePort()) },
      timeout: 90_000,
    });
    expect(stdout).toContain("files: [ 'https://example.org/a.csv' ]");
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`dde.namespace=${namespace}`] },
    });
    expect(left).toEqual([]);
  });
});
