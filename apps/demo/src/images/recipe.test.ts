import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecipe } from './recipe.ts';
import { recipeHash, recipeTag } from './recipe.ts';

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dde-demo-recipe-'));
  file = join(dir, 'server.ts');
  await writeFile(file, 'console.log(1);\n');
});

afterAll(() => rm(dir, { recursive: true, force: true }));

const recipe = (overrides: Partial<ImageRecipe> = {}): ImageRecipe => ({
  repository: 'demo-x-tool',
  dockerfile: 'FROM scratch\nCOPY app/ /app/\n',
  files: [
    { name: 'app/server.ts', source: file },
    { name: 'app/package.json', source: Buffer.from('{}') },
  ],
  labels: { a: '1' },
  ...overrides,
});

describe('recipe hashes', () => {
  it('name the same recipe the same way, whatever the order of files', async () => {
    const reversed = recipe({ files: [...recipe().files].reverse() });
    expect(await recipeHash(recipe())).toBe(await recipeHash(reversed));
    expect(await recipeTag(recipe())).toMatch(/^demo-x-tool:[0-9a-f]{16}$/);
  });

  it('change with the Dockerfile, a label, a file mode or a file content', async () => {
    const base = await recipeHash(recipe());
    const variants = [
      recipe({ dockerfile: 'FROM scratch\n' }),
      recipe({ labels: { a: '2' } }),
      recipe({ files: [{ name: 'app/server.ts', source: file, mode: 0o755 }, recipe().files[1] as never] }),
    ];
    for (const variant of variants) expect(await recipeHash(variant)).not.toBe(base);
    await writeFile(file, 'console.log(2);\n');
    expect(await recipeHash(recipe())).not.toBe(base);
  });
});
