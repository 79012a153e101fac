import { dockerodeOptions, resolveEngine } from '@dde/backend-docker';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildProgress } from './builder.ts';
import { ImageBuilder } from './builder.ts';
import type { ImageRecipe } from './recipe.ts';

const docker = new Dockerode(dockerodeOptions(resolveEngine().endpoint));
const engine = await docker.ping().then(
  () => true,
  (error: Error) => {
    if (process.env.CI === 'true') throw new Error(`no Docker Engine answers: ${error.message}`);
    return false;
  },
);
const prefix = `demo-${Math.random().toString(16).slice(2, 10)}`;
const label = 'dde-demo.image-prefix';

const recipe: ImageRecipe = {
  repository: `${prefix}-hello`,
  dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello"]\n',
  files: [{ name: 'hello.txt', source: Buffer.from(`hello from ${prefix}\n`) }],
  labels: { [label]: prefix },
};

afterAll(async () => {
  if (!engine) return;
  for (const image of await docker.listImages({ filters: { label: [`${label}=${prefix}`] } })) {
    await docker.getImage(image.Id).remove({ force: true });
  }
});

describe.skipIf(!engine)('ImageBuilder (real engine)', () => {
  it('builds a missing image once for concurrent callers, reporting the steps to each', async () => {
    const builder = new ImageBuilder(docker);
    const first: BuildProgress[] = [];
    const second: BuildProgress[] = [];
    const [a, b] = await Promise.all([
      builder.ensure(recipe, (progress) => first.push(progress)),
      builder.ensure(recipe, (progress) => second.push(progress)),
    ]);
    expect(a).toBe(b);
    expect(a).toMatch(new RegExp(`^${prefix}-hello:[0-9a-f]{16}$`));
    expect(first.map((progress) => progress.stage)).toEqual(
      expect.arrayContaining(['checking', 'uploading', 'building', 'built']),
    );
    expect(
      first.filter((progress) => progress.stage === 'building').map((progress) => progress.step),
    ).toEqual([1, 2, 3, 4]);
    expect(second.at(-1)?.stage).toBe('built');
    const images = await docker.listImages({ filters: { label: [`${label}=${prefix}`] } });
    expect(images).toHaveLength(1);
  });

  it('finds the image next time instead of building it again', async () => {
    const stages: string[] = [];
    await new ImageBuilder(docker).ensure(recipe, (progress) => stages.push(progress.stage));
    expect(stages).toEqual(['checking', 'present']);
  });

  it('reports a failing build as a typed error with the engine message', async () => {
    const broken: ImageRecipe = {
      ...recipe,
      repository: `${prefix}-broken`,
      dockerfile: 'FROM scratch\nCOPY missing.txt /\n',
    };
    await expect(new ImageBuilder(docker).ensure(broken)).rejects.toMatchObject({
      code: 'IMAGE_PULL_FAILED',
      message: expect.stringMatching(/building image .*-broken:.* failed: .*missing\.txt/),
    });
  });
});
