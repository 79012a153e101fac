import { ContainerManager } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';
import { lifecycleOptions } from './demo.ts';

describe('lifecycleOptions', () => {
  it('caps the containers in all by default, also those holding no memory (failed ones)', async () => {
    const manager = new ContainerManager({
      backend: new MemoryBackend({ namespace: `lifecycle-${Math.random().toString(16).slice(2, 8)}` }),
      reconcileIntervalMs: 0,
      ...lifecycleOptions(parseConfig([], {})),
    });
    await manager.start();
    try {
      // Stopped containers reserve nothing of the budget; without a count cap they pile up.
      for (let index = 0; index < 50; index += 1) {
        await manager.launch({ name: `guest-broken-${index}`, image: 'tool:1', port: 8080, owner: 'guest' });
      }
      await expect(
        manager.launch({ name: 'guest-broken-50', image: 'tool:1', port: 8080, owner: 'guest' }),
      ).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    } finally {
      await manager.close();
    }
  });
});
