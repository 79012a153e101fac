import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileHistory } from './file-history.ts';
import type { ActivityRecord } from './history.ts';

function http(time: number, path = '/'): ActivityRecord {
  return {
    type: 'http',
    time,
    method: 'GET',
    path,
    status: 200,
    bytesIn: 1,
    bytesOut: 2,
    durationMs: 0,
    user: 'u',
  };
}

describe('FileHistory', () => {
  let directory: string;
  let file: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'dde-history-'));
    file = join(directory, 'nested', 'history.jsonl');
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('survives a restart: records written before close are there after re-open', async () => {
    const first = await FileHistory.open(file);
    first.record('a', http(1000, '/x'));
    first.record('a', {
      type: 'websocket',
      event: 'close',
      time: 2000,
      path: '/ws',
      status: 101,
      bytesIn: 3,
      bytesOut: 4,
      durationMs: 50,
    });
    first.record('b', http(1500));
    await first.close();

    const second = await FileHistory.open(file);
    expect(await second.query('a')).toEqual([
      http(1000, '/x'),
      {
        type: 'websocket',
        event: 'close',
        time: 2000,
        path: '/ws',
        status: 101,
        bytesIn: 3,
        bytesOut: 4,
        durationMs: 50,
      },
    ]);
    // The WebSocket's close time is its last activity (its duration lies before it).
    expect(second.lastActivity('a')?.getTime()).toBe(2000);
    expect((await second.query('b')).length).toBe(1);
    await second.close();
  });

  it('answers in order of time, before and after a restart, when records finish out of order', async () => {
    const first = await FileHistory.open(file);
    first.record('a', http(2000, '/fast'));
    first.record('a', http(1000, '/slow'));
    expect((await first.query('a', { limit: 1 })).map((record) => record.path)).toEqual(['/fast']);
    await first.close();
    const second = await FileHistory.open(file);
    expect((await second.query('a')).map((record) => record.path)).toEqual(['/slow', '/fast']);
    await second.close();
  });

  it('does not write on every record: it batches, then flushes', async () => {
    const history = await FileHistory.open(file, { flushIntervalMs: 60_000 });
    history.record('a', http(1));
    history.record('a', http(2));
    // Queries see records at once, the file only after a flush.
    expect((await history.query('a')).length).toBe(2);
    await expect(readFile(file, 'utf8')).rejects.toThrow(/ENOENT/);
    await history.flush();
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
    await history.close();
  });

  it('flushes by itself once a batch is full or the interval passes', async () => {
    const history = await FileHistory.open(file, { flushIntervalMs: 20, flushBatchSize: 3 });
    for (let index = 0; index < 3; index++) history.record('a', http(index));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(3);
    history.record('a', http(9));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(4);
    await history.close();
  });

  it('forgets removed containers across restarts', async () => {
    const history = await FileHistory.open(file);
    history.record('a', http(1));
    history.record('b', http(2));
    await history.remove('a');
    await history.close();
    const reopened = await FileHistory.open(file);
    expect(await reopened.query('a')).toEqual([]);
    expect(reopened.lastActivity('a')).toBeUndefined();
    expect((await reopened.query('b')).length).toBe(1);
    await reopened.close();
  });

  it('skips a torn last line and compacts a file holding much more than it keeps', async () => {
    const lines: string[] = [];
    for (let index = 0; index < 1500; index++) lines.push(JSON.stringify({ c: 'a', r: http(index) }));
    await writeFile(join(directory, 'h.jsonl'), `${lines.join('\n')}\n{"c":"a","r":{"ty`);
    const history = await FileHistory.open(join(directory, 'h.jsonl'), { maxRecordsPerContainer: 100 });
    const records = await history.query('a');
    expect(records).toHaveLength(100);
    expect(records[0]?.time).toBe(1400);
    const compacted = (await readFile(join(directory, 'h.jsonl'), 'utf8')).trim().split('\n');
    expect(compacted).toHaveLength(100);
    await history.close();
  });

  it('keeps the record appended after a torn last line (crash mid-write)', async () => {
    const torn = join(directory, 'torn.jsonl');
    await writeFile(torn, `${JSON.stringify({ c: 'a', r: http(1) })}\n{"c":"a","r":{"ty`);
    const first = await FileHistory.open(torn);
    first.record('a', http(2));
    await first.close();
    const second = await FileHistory.open(torn);
    expect((await second.query('a')).map((record) => record.time)).toEqual([1, 2]);
    await second.close();
  });

  it('reads a file larger than a string can hold, line by line', { timeout: 60_000 }, async () => {
    const big = join(directory, 'big.jsonl');
    // 600 MiB of lines that are not records (V8 strings stop at 512 MiB), then two records.
    const junk = `${'x'.repeat(64 * 1024 - 1)}\n`.repeat(16);
    const out = createWriteStream(big);
    for (let index = 0; index < 600; index++) {
      if (!out.write(junk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    out.end(`${JSON.stringify({ c: 'a', r: http(1) })}\n${JSON.stringify({ c: 'a', r: http(2) })}\n`);
    await new Promise<void>((resolve) => out.once('finish', () => resolve()));
    const history = await FileHistory.open(big);
    expect((await history.query('a')).map((record) => record.time)).toEqual([1, 2]);
    // Compacted on open: only the records are left.
    expect((await stat(big)).size).toBeLessThan(1024);
    await history.close();
  });

  it('compacts while running once the file holds much more than it keeps, losing no record', async () => {
    const history = await FileHistory.open(file, { maxRecordsPerContainer: 5, flushIntervalMs: 60_000 });
    let time = 0;
    for (let round = 0; round < 30; round++) {
      for (let index = 0; index < 100; index++) history.record('bulk', http(++time));
      const flushing = history.flush();
      // Recorded while the batch (and perhaps a compaction) is being written.
      history.record(`c${round}`, http(++time));
      await flushing;
    }
    await history.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines.length).toBeLessThan(2 * (5 + 30) + 1000 + 101);
    const reopened = await FileHistory.open(file, { maxRecordsPerContainer: 5 });
    expect((await reopened.query('bulk')).map((record) => record.time)).toEqual([
      time - 5,
      time - 4,
      time - 3,
      time - 2,
      time - 1,
    ]);
    for (let round = 0; round < 30; round++) expect(await reopened.query(`c${round}`)).toHaveLength(1);
    await reopened.close();
  });

  it('creates the file readable by its owner only, and keeps a file’s mode when compacting', async () => {
    const history = await FileHistory.open(file);
    history.record('a', http(1));
    await history.close();
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const lines: string[] = [];
    for (let index = 0; index < 1500; index++) lines.push(JSON.stringify({ c: 'a', r: http(index) }));
    const shared = join(directory, 'shared.jsonl');
    await writeFile(shared, `${lines.join('\n')}\n`);
    await chmod(shared, 0o640);
    const compacting = await FileHistory.open(shared, { maxRecordsPerContainer: 10 });
    await compacting.close();
    expect((await readFile(shared, 'utf8')).trim().split('\n')).toHaveLength(10);
    expect((await stat(shared)).mode & 0o777).toBe(0o640);
  });

  it('writes records that arrive while and after it closes', async () => {
    const history = await FileHistory.open(file, { flushIntervalMs: 60_000 });
    history.record('a', http(1));
    const closing = history.close();
    // A WebSocket's close record comes in during shutdown.
    history.record('a', http(2));
    await closing;
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
    history.record('a', http(3));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('reports write failures without throwing from record', async () => {
    const errors: unknown[] = [];
    const history = await FileHistory.open(file, { onError: (error) => errors.push(error) });
    await rm(join(directory, 'nested'), { recursive: true });
    await writeFile(join(directory, 'nested'), 'a file where the directory was');
    history.record('a', http(1));
    await history.flush();
    expect(errors.length).toBe(1);
    expect((await history.query('a')).length).toBe(1);
  });
});
