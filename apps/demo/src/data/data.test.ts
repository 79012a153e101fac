import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Signer } from '../auth/signer.ts';
import { FormError } from '../web/form-error.ts';
import type { DataFile } from './files.ts';
import { checkFileName, DataFiles } from './files.ts';
import { DataServer } from './server.ts';

let root: string;
let files: DataFiles;
let server: DataServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dde-demo-data-test-'));
  await writeFile(join(root, 'sample.csv'), 'a,b\n1,2\n');
  await writeFile(join(root, 'README.md'), 'not data');
  files = await DataFiles.open({ samplesDir: root, uploadDir: join(root, 'uploads'), maxUploadBytes: 64 });
  server = new DataServer(files, new Signer(randomBytes(32)));
  await server.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('DataFiles', () => {
  it('lists the samples for everyone and each upload for its owner only', async () => {
    const upload = await files.save('alice', 'mine.csv', Readable.from([Buffer.from('x,y\n3,4\n')]));
    expect(files.list('alice').map((file) => file.name)).toEqual(['sample.csv', 'mine.csv']);
    expect(files.list('bob').map((file) => file.name)).toEqual(['sample.csv']);
    expect(files.get(upload.id, 'bob')).toBeUndefined();
    expect(files.get(upload.id, 'alice')?.bytes).toBe(8);
    const reopened = await DataFiles.open({
      samplesDir: root,
      uploadDir: join(root, 'uploads'),
      maxUploadBytes: 64,
    });
    expect(reopened.get(upload.id, 'alice')?.name).toBe('mine.csv');
  });

  it('refuses uploads over the limit, binary or empty ones, and keeps nothing of them', async () => {
    const before = await readdir(join(root, 'uploads'));
    const cases: Array<[string, Buffer, RegExp, number]> = [
      ['big.csv', Buffer.alloc(65, 'a'), /larger than the 64 B upload limit/, 413],
      ['bin.csv', Buffer.from([0x61, 0x00, 0x62]), /not a text file/, 415],
      ['empty.csv', Buffer.alloc(0), /is empty/, 400],
    ];
    for (const [name, content, message, status] of cases) {
      const error = await files
        .save('alice', name, Readable.from([content]))
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(FormError);
      expect((error as FormError).message).toMatch(message);
      expect((error as FormError).status).toBe(status);
    }
    expect(await readdir(join(root, 'uploads'))).toEqual(before);
  });

  it("keeps each owner's latest uploads only, removing the oldest from disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dde-demo-uploads-'));
    try {
      const options = { samplesDir: root, uploadDir: dir, maxUploadBytes: 64, maxUploadsPerOwner: 3 };
      const capped = await DataFiles.open(options);
      const saved = [];
      for (let index = 0; index < 5; index += 1) {
        saved.push(await capped.save('carol', `f${index}.csv`, Readable.from([Buffer.from('a\n1\n')])));
      }
      await capped.save('dave', 'dave.csv', Readable.from([Buffer.from('a\n1\n')]));
      const carols = (list: DataFile[]) =>
        list.filter((file) => file.owner === 'carol').map((file) => file.name);
      expect(carols(capped.list('carol'))).toEqual(['f4.csv', 'f3.csv', 'f2.csv']);
      expect(capped.get(saved[0]?.id ?? '', 'carol')).toBeUndefined();
      expect(capped.list('dave').map((file) => file.name)).toContain('dave.csv');
      expect((await readdir(dir)).length).toBe(4 * 2);
      const reopened = await DataFiles.open(options);
      await reopened.save('carol', 'f5.csv', Readable.from([Buffer.from('a\n1\n')]));
      expect(carols(reopened.list('carol'))).toEqual(['f5.csv', 'f4.csv', 'f3.csv']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removes what a crash left mid-save when it opens: partial uploads and undescribed data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dde-demo-uploads-'));
    try {
      const options = { samplesDir: root, uploadDir: dir, maxUploadBytes: 64 };
      const kept = await (await DataFiles.open(options)).save(
        'erin',
        'kept.csv',
        Readable.from([Buffer.from('a\n1\n')]),
      );
      await writeFile(join(dir, 'u-0123456789ab.data.partial'), 'a\n');
      await writeFile(join(dir, 'u-ba9876543210.data'), 'a\n1\n');
      const reopened = await DataFiles.open(options);
      expect((await readdir(dir)).sort()).toEqual([`${kept.id}.data`, `${kept.id}.json`]);
      expect(reopened.list('erin').map((file) => file.name)).toContain('kept.csv');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts CSV-like names only, without directories', () => {
    expect(checkFileName('C:\\Users\\me\\data.csv')).toBe('data.csv');
    expect(checkFileName('../../etc/table.tsv')).toBe('table.tsv');
    for (const bad of [
      '',
      'run.sh',
      'data.xlsx',
      '.hidden.csv',
      'a<b>.csv',
      'tab\there.csv',
      `${'x'.repeat(100)}.csv`,
    ])
      expect(() => checkFileName(bad), bad).toThrow(FormError);
    for (const ordinary of ['data (1).csv', 'données.csv', 'Résultats 2024 – final.tsv', "o'brien.txt"])
      expect(checkFileName(ordinary)).toBe(ordinary);
    expect(checkFileName('donne\u0301es.csv')).toBe('données.csv'); // NFC, as macOS names decompose
  });

  it('drains an upload whose name it refuses, so that the request can end', async () => {
    const content = Readable.from([Buffer.from('a,b\n'), Buffer.from('1,2\n')]);
    await expect(files.save('alice', 'sheet.xlsx', content)).rejects.toThrow(/is not a CSV file/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(content.readableFlowing).toBe(true);
  });
});

describe('DataServer', () => {
  it('serves a data file by its signed link only', async () => {
    const sample = files.list('nobody')[0];
    if (!sample) throw new Error('no sample');
    const url = server.fileUrl(sample);
    expect(url.startsWith(server.origin)).toBe(true);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('a,b\n1,2\n');
    const forged = url.replace(
      /\/data\/([^/]+)\/([^/]+)\//,
      (_all, id: string, signature: string) => `/data/${id}/${signature.slice(1)}x/`,
    );
    expect((await fetch(forged)).status).toBe(404);
    expect((await fetch(`${server.origin}/`)).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
  });

  it('serves published input until it is forgotten', async () => {
    const url = server.publishInput('alice-viewer', '{"tool":"viewer"}');
    expect(await (await fetch(url)).json()).toEqual({ tool: 'viewer' });
    const again = server.publishInput('alice-viewer', '{"tool":"viewer","v":2}');
    expect((await fetch(url)).status).toBe(404);
    server.forgetInput('alice-viewer');
    expect((await fetch(again)).status).toBe(404);
  });
});
