import { describe, expect, it } from 'vitest';
import type { ActivityRecord } from './history.ts';
import { MemoryHistory } from './memory-history.ts';

function http(time: number, path = '/', durationMs = 5): ActivityRecord {
  return { type: 'http', time, method: 'GET', path, status: 200, bytesIn: 0, bytesOut: 10, durationMs };
}

describe('MemoryHistory', () => {
  it('records per container and queries in chronological order', async () => {
    const history = new MemoryHistory();
    history.record('a', http(1000, '/1'));
    history.record('b', http(1500, '/b'));
    history.record('a', http(2000, '/2'));
    expect((await history.query('a')).map((record) => record.path)).toEqual(['/1', '/2']);
    expect((await history.query('b')).map((record) => record.path)).toEqual(['/b']);
    expect(await history.query('none')).toEqual([]);
  });

  it('filters by since and keeps the most recent `limit` records', async () => {
    const history = new MemoryHistory();
    for (let index = 0; index < 10; index++) history.record('a', http(index * 100, `/${index}`));
    expect((await history.query('a', { since: 500 })).map((record) => record.path)).toEqual([
      '/5',
      '/6',
      '/7',
      '/8',
      '/9',
    ]);
    expect((await history.query('a', { since: new Date(700) })).length).toBe(3);
    expect((await history.query('a', { limit: 2 })).map((record) => record.path)).toEqual(['/8', '/9']);
    expect((await history.query('a', { since: 200, limit: 1 })).map((record) => record.path)).toEqual(['/9']);
  });

  it('keeps only the most recent records per container, in order', async () => {
    const history = new MemoryHistory({ maxRecordsPerContainer: 3 });
    for (let index = 0; index < 7; index++) history.record('a', http(index, `/${index}`));
    expect((await history.query('a')).map((record) => record.path)).toEqual(['/4', '/5', '/6']);
  });

  it('tells the last activity (end of the latest request), and forgets on remove', async () => {
    const history = new MemoryHistory();
    expect(history.lastActivity('a')).toBeUndefined();
    history.record('a', http(1000, '/', 500));
    history.record('a', http(1200, '/', 10));
    history.record('a', { type: 'websocket', event: 'open', time: 1100, path: '/ws', status: 101 });
    expect(history.lastActivity('a')?.getTime()).toBe(1500);
    await history.remove('a');
    expect(history.lastActivity('a')).toBeUndefined();
    expect(await history.query('a')).toEqual([]);
  });

  it('takes a WebSocket close as activity at its time: the session already lasted until then', () => {
    const history = new MemoryHistory();
    history.record('a', { type: 'websocket', event: 'open', time: 1000, path: '/ws', status: 101 });
    history.record('a', {
      type: 'websocket',
      event: 'close',
      time: 4000,
      path: '/ws',
      status: 101,
      bytesIn: 1,
      bytesOut: 1,
      durationMs: 3000,
    });
    expect(history.lastActivity('a')?.getTime()).toBe(4000);
  });

  it('keeps records in order of time when they finish out of order, and `limit` returns the latest', async () => {
    const history = new MemoryHistory();
    // A slow request that arrived first finishes after a fast one that arrived later.
    history.record('a', http(2000, '/fast'));
    history.record('a', http(1000, '/slow', 1500));
    history.record('a', http(3000, '/next'));
    history.record('a', http(2500, '/between'));
    const paths = (await history.query('a')).map((record) => record.path);
    expect(paths).toEqual(['/slow', '/fast', '/between', '/next']);
    expect((await history.query('a', { limit: 1 })).map((record) => record.path)).toEqual(['/next']);
    expect((await history.query('a', { since: 2000 })).map((record) => record.path)).toEqual([
      '/fast',
      '/between',
      '/next',
    ]);
  });

  it('keeps the latest records by time once full, whatever order they came in', async () => {
    const history = new MemoryHistory({ maxRecordsPerContainer: 3 });
    for (const time of [5, 1, 7, 3, 6, 2, 8, 4]) history.record('a', http(time, `/${time}`));
    expect((await history.query('a')).map((record) => record.time)).toEqual([6, 7, 8]);
    // An older record than any kept is dropped, but still counts as activity it saw.
    expect(history.lastActivity('a')?.getTime()).toBe(13);
    history.record('b', http(1));
    expect(history.size).toBe(4);
    history.forget('a');
    expect(history.size).toBe(1);
  });

  it('refuses a bad limit option', () => {
    expect(() => new MemoryHistory({ maxRecordsPerContainer: 0 })).toThrow(/maxRecordsPerContainer/);
  });
});
