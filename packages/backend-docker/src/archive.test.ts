import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { ancestorsOf, packArchive, placementEntries } from './archive.ts';

async function readArchive(archive: Buffer) {
  const entries: {
    name: string;
    type: string | null | undefined;
    mode: number | undefined;
    uid?: number;
    content: string;
  }[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk) => chunks.push(chunk as Buffer));
      stream.on('end', () => {
        entries.push({
          name: header.name,
          type: header.type,
          mode: header.mode,
          ...(header.uid === undefined ? {} : { uid: header.uid }),
          content: Buffer.concat(chunks).toString(),
        });
        next();
      });
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  Readable.from([archive]).pipe(reader);
  await done;
  return entries;
}

const file = { path: '/srv/www/data/input.json', content: Buffer.from('{"a":1}'), mode: 0o640 };

describe('placementEntries', () => {
  it('creates every missing directory below the existing one, parents first', () => {
    expect(placementEntries(file, '/srv')).toEqual([
      { name: 'www', type: 'directory', mode: 0o755 },
      { name: 'www/data', type: 'directory', mode: 0o755 },
      { name: 'www/data/input.json', type: 'file', mode: 0o640, content: file.content },
    ]);
  });

  it('adds no directory entry when the parent exists, and none for existing ones from the root', () => {
    expect(placementEntries(file, '/srv/www/data').map((entry) => entry.name)).toEqual(['input.json']);
    expect(placementEntries(file, '/').map((entry) => entry.name)).toEqual([
      'srv',
      'srv/www',
      'srv/www/data',
      'srv/www/data/input.json',
    ]);
  });

  it('refuses a directory that is not an ancestor', () => {
    expect(() => placementEntries(file, '/other')).toThrow(/not an ancestor/);
    expect(() => placementEntries(file, file.path)).toThrow(/not an ancestor/);
  });
});

describe('packArchive', () => {
  it('packs directories and files with their modes, owned by root', async () => {
    const archive = await packArchive(placementEntries(file, '/srv'), new Date('2024-01-01T00:00:00Z'));
    expect(await readArchive(archive)).toEqual([
      { name: 'www', type: 'directory', mode: 0o755, uid: 0, content: '' },
      { name: 'www/data', type: 'directory', mode: 0o755, uid: 0, content: '' },
      { name: 'www/data/input.json', type: 'file', mode: 0o640, uid: 0, content: '{"a":1}' },
    ]);
  });

  it('packs large and non-ASCII content intact', async () => {
    const content = Buffer.from(`${'ü'.repeat(300_000)}✓`);
    const archive = await packArchive([{ name: 'big.json', type: 'file', mode: 0o644, content }]);
    const [entry] = await readArchive(archive);
    expect(entry?.content).toBe(content.toString());
  });
});

describe('ancestorsOf', () => {
  it('lists ancestors nearest first, ending at the root', () => {
    expect(ancestorsOf('/a/b/c.json')).toEqual(['/a/b', '/a', '/']);
    expect(ancestorsOf('/c.json')).toEqual(['/']);
  });
});
