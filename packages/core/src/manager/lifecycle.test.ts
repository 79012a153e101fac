// The lifecycle suite itself lives in testing/lifecycle-conformance.ts, so that every store
// (this memory one, @dde/redis's) runs the same tests; here it runs with the memory store, plus
// what only a constructor or a hand-made failing history can show.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemoryHistory } from '../history/memory-history.ts';
import { silentLogger } from '../lifecycle/logger.ts';
import { describeLifecycleConformance } from '../testing/lifecycle-conformance.ts';
import { MemoryBackend } from '../testing/memory-backend.ts';
import { ContainerManager } from './container-manager.ts';

describeLifecycleConformance('ContainerManager lifecycle (memory store)');

describe('ContainerManager lifecycle, beyond the store', () => {
  it('validates its options', () => {
    const backend = new MemoryBackend();
    expect(() => new ContainerManager({ backend, capacity: { memoryBudgetMb: 0 } })).toThrow(
      /capacity.memoryBudgetMb/,
    );
    expect(() => new ContainerManager({ backend, limits: { maxPerOwner: 1.5 } })).toThrow(
      /limits.maxPerOwner/,
    );
    expect(() => new ContainerManager({ backend, culling: { idleTimeoutMs: -1 } })).toThrow(
      /culling.idleTimeoutMs/,
    );
    expect(
      () =>
        new ContainerManager({ backend, capacity: { memoryBudgetMb: 1, overBudget: 'maybe' as 'refuse' } }),
    ).toThrow(/capacity.overBudget/);
  });

  it('goes on culling when the history fails for one container, keeping that one', async () => {
    class Failing extends MemoryHistory {
      override lastActivity(name: string): Date | undefined {
        if (name === 'broken') throw new Error('history down');
        return super.lastActivity(name);
      }
      override async remove(): Promise<void> {
        throw new Error('history down');
      }
    }
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const upstream = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
    const warnings: string[] = [];
    const manager = new ContainerManager({
      backend: new MemoryBackend({ namespace: 'life-failing', upstreamFor: () => upstream }),
      history: new Failing(),
      logger: { ...silentLogger, warn: (_fields: unknown, message: string) => warnings.push(message) },
      culling: { idleTimeoutMs: 20 },
      reconcileIntervalMs: 0,
    });
    try {
      await manager.start();
      await manager.launch({ name: 'broken', image: 'tool:1' });
      await manager.launch({ name: 'idle', image: 'tool:1' });
      await manager.waitUntilReady('broken');
      await manager.waitUntilReady('idle');
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(await manager.cull()).toEqual([{ name: 'idle', reason: 'idle' }]);
      expect(manager.get('broken')).toBeDefined();
      expect(manager.capacity().evictionOrder).toEqual([]);
      expect(warnings).toContain('cannot read activity history; counting the container as active');
    } finally {
      await manager.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
