import type { ContainerManagerOptions } from '@dde/core';
import { ContainerManager } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_LABELS } from './launcher.ts';
import type { Removal } from './removals.ts';
import { RemovalLog } from './removals.ts';

const managers: ContainerManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close();
});

async function setup(options: Partial<ContainerManagerOptions>, idleTimeoutMs?: number) {
  const backend = new MemoryBackend({ namespace: `removals-${Math.random().toString(16).slice(2, 8)}` });
  const manager = new ContainerManager({ backend, reconcileIntervalMs: 0, ...options });
  managers.push(manager);
  const logged: Removal[] = [];
  const removals = new RemovalLog(manager, { idleTimeoutMs, onRemoval: (removal) => logged.push(removal) });
  await manager.start();
  return { manager, removals, logged };
}

const spec = (name: string, owner: string, tool = 'viewer') => ({
  name,
  image: 'tool:1',
  port: 8080,
  owner,
  memoryReservationMb: 64,
  labels: { [DEMO_LABELS.tool]: tool },
});

describe('RemovalLog', () => {
  it('says which container LRU eviction removed, with owner and tool, newest first', async () => {
    const { manager, removals, logged } = await setup({ capacity: { memoryBudgetMb: 100 } });
    await manager.launch(spec('alice-viewer', 'alice'));
    await manager.launch(spec('bob-live', 'bob', 'live'));
    expect(manager.get('alice-viewer')).toBeUndefined();
    const [removal] = removals.list();
    expect(removal).toMatchObject({
      name: 'alice-viewer',
      owner: 'alice',
      toolTitle: 'File viewer',
      reason: 'lru',
      label: 'LRU eviction',
      what: 'was evicted to make room for a new launch (least recently used)',
    });
    expect(logged).toEqual([removal]);
    expect(removals.latest('alice-viewer')).toBe(removal);
    expect(removals.list('bob')).toEqual([]);
    await manager.remove('bob-live');
    expect(removals.list().map((entry) => [entry.name, entry.label, entry.what])).toEqual([
      ['bob-live', 'killed', 'was removed on request'],
      ['alice-viewer', 'LRU eviction', 'was evicted to make room for a new launch (least recently used)'],
    ]);
    expect(removals.list('bob').map((entry) => entry.name)).toEqual(['bob-live']);
  });

  it('words idle culling with the timeout', async () => {
    const { manager, removals } = await setup({ culling: { idleTimeoutMs: 30 } }, 30);
    await manager.launch(spec('guest-viewer', 'guest'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await manager.cull()).toEqual([{ name: 'guest-viewer', reason: 'idle' }]);
    expect(removals.latest('guest-viewer')).toMatchObject({
      reason: 'idle',
      label: 'idle',
      what: 'was removed after 30ms without activity',
    });
  });

  it('ignores launches refused before a container existed, and names it knows nothing of', async () => {
    const { manager, removals } = await setup({ limits: { maxPerOwner: 1 } });
    await manager.launch(spec('carol-one', 'carol'));
    await expect(manager.launch(spec('carol-two', 'carol'))).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    expect(removals.list()).toEqual([]);
    expect(removals.latest('nobody')).toBeUndefined();
  });
});
