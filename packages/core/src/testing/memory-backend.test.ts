import { describe, expect, it } from 'vitest';
import type { BackendEvent } from '../backend.ts';
import { MemoryBackend } from './memory-backend.ts';

describe('MemoryBackend', () => {
  it('launches after validating the spec, refuses taken names, and counts calls', async () => {
    const backend = new MemoryBackend({
      namespace: 'memory-test',
      upstreamFor: () => ({ host: '127.0.0.1', port: 1 }),
    });
    const progress: string[] = [];
    const info = await backend.launch(
      { name: 'a', image: 'tool', owner: 'alice', labels: { team: 'x' } },
      { onProgress: (step) => progress.push(step.phase) },
    );
    expect(progress).toEqual(['creating', 'starting']);
    expect(info).toMatchObject({
      name: 'a',
      image: 'tool:latest',
      namespace: 'memory-test',
      state: 'running',
      owner: 'alice',
      labels: { team: 'x' },
      upstream: { host: '127.0.0.1', port: 1 },
    });
    expect(info.specHash).toMatch(/^[0-9a-f]{32}$/);
    await expect(backend.launch({ name: 'a', image: 'tool' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(backend.launch({ name: 'A', image: 'tool' })).rejects.toMatchObject({
      code: 'INVALID_SPEC',
    });
    expect((await backend.list()).map((container) => container.name)).toEqual(['a']);
    expect(await backend.remove('a')).toBe(true);
    expect(await backend.inspect('a')).toBeUndefined();
    expect(backend.calls).toMatchObject({ launch: 3, list: 1, remove: 1, inspect: 1 });
    backend.resetCalls();
    expect(backend.totalCalls).toBe(0);
  });

  it('pushes events to each subscriber until its signal aborts', async () => {
    const backend = new MemoryBackend();
    const controller = new AbortController();
    const seen: BackendEvent['type'][] = [];
    const reading = (async () => {
      for await (const event of backend.events({ signal: controller.signal })) seen.push(event.type);
    })();
    backend.add({ name: 'x' });
    backend.exit('x', 1);
    backend.drop('x');
    await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    await reading;
    expect(seen).toEqual(['created', 'started', 'died', 'destroyed']);
    expect(backend.subscribers).toBe(0);
  });

  it('filters logs by tail and since', async () => {
    const backend = new MemoryBackend();
    backend.add({ name: 'x', state: 'created' });
    backend.writeLogs('x', ['1', '2', '3'], 'stderr');
    expect((await backend.logs('x', { tail: 2 })).map((entry) => `${entry.stream}:${entry.text}`)).toEqual([
      'stderr:2',
      'stderr:3',
    ]);
    expect(await backend.logs('x', { since: new Date(Date.now() + 60_000) })).toEqual([]);
    await expect(backend.logs('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
