import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerManager, DdeMetrics, pathRouter } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { Signer } from '../auth/signer.ts';
import { DataFiles } from '../data/files.ts';
import { DataServer } from '../data/server.ts';
import { ImageBuilder } from '../images/builder.ts';
import type { ToolDefinition } from '../tools/catalog.ts';
import { findTool } from '../tools/catalog.ts';
import { ToolImages } from '../tools/images.ts';
import { FormError } from '../web/form-error.ts';
import { generatedName, Launcher, parseParameters } from './launcher.ts';

const viewer = findTool('viewer') as ToolDefinition;
const live = findTool('live') as ToolDefinition;

describe('parseParameters', () => {
  it('applies defaults and reads numbers and text from <tool>.<name> fields', () => {
    expect(parseParameters(viewer, {})).toEqual({ maxRows: 200 });
    expect(parseParameters(viewer, { 'viewer.maxRows': ' 25 ', 'live.greeting': 'ignored' })).toEqual({
      maxRows: 25,
    });
    expect(parseParameters(live, { 'live.greeting': 'Hi' })).toEqual({ greeting: 'Hi' });
  });

  it('refuses numbers out of range and text too long, naming the field', () => {
    for (const value of ['0', '10001', 'many']) {
      const error = (() => {
        try {
          parseParameters(viewer, { 'viewer.maxRows': value });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(FormError);
      expect((error as FormError).field).toBe('viewer.maxRows');
      expect((error as FormError).message).toBe('Rows to show must be a number from 1 to 10000.');
    }
    expect(() => parseParameters(live, { 'live.greeting': 'x'.repeat(201) })).toThrow(
      'at most 200 characters',
    );
  });
});

describe('generatedName', () => {
  it('is <owner>-<tool>-<4 characters>, usable as a container name', () => {
    const name = generatedName('alice', viewer);
    expect(name).toMatch(/^alice-viewer-[a-z0-9]{4}$/);
    expect(generatedName('alice', viewer)).not.toBe(name);
  });
});

describe('Launcher.start', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(limits: { maxPerOwner?: number; maxContainers?: number } = { maxPerOwner: 1 }) {
    const backend = new MemoryBackend({ namespace: `launcher-${randomBytes(3).toString('hex')}` });
    const manager = new ContainerManager({
      backend,
      reconcileIntervalMs: 0,
      capacity: { memoryBudgetMb: 100, overBudget: 'refuse' },
      limits,
      metrics: new DdeMetrics(),
    });
    await manager.start();
    cleanups.push(() => manager.close());
    const uploadDir = await mkdtemp(join(tmpdir(), 'dde-demo-launcher-'));
    cleanups.push(() => rm(uploadDir, { recursive: true, force: true }));
    const files = await DataFiles.open({
      samplesDir: fileURLToPath(new URL('../../samples/', import.meta.url)),
      uploadDir,
      maxUploadBytes: 1024,
    });
    // No engine answers here: a launch that got as far as building an image would fail with
    // an engine error, not with the manager's refusal.
    const docker = new Dockerode({ socketPath: join(uploadDir, 'no-engine.sock') });
    const launcher = new Launcher({
      manager,
      images: new ToolImages(new ImageBuilder(docker), 'dde-demo-test'),
      files,
      data: new DataServer(files, new Signer(randomBytes(32))),
      router: pathRouter({ prefix: '/docker', origin: 'http://localhost:8000' }),
      publicOrigin: 'http://localhost:8000',
      maxContainers: limits.maxContainers,
    });
    return { manager, launcher };
  }

  const request = (name: string, tool = 'viewer') => ({
    tool,
    file: 's-planets',
    delivery: 'env',
    name,
    parameters: {},
  });

  it('refuses on the form what the memory budget cannot hold, before building any image', async () => {
    const { launcher } = await setup();
    // The viewer reserves 128 MB of a 100 MB budget.
    expect(() => launcher.start(request('dave-viewer'), 'dave')).toThrow(
      expect.objectContaining({
        code: 'CAPACITY_EXCEEDED',
        message: expect.stringMatching(/^Not enough memory: File viewer needs 128 MB/),
      }),
    );
    expect(launcher.job('dave-viewer')).toBeUndefined();
  });

  it('refuses on the form a launch over the per-owner limit, before building any image', async () => {
    const { manager, launcher } = await setup();
    await manager.launch({ name: 'carol-one', image: 'tool:1', port: 8080, owner: 'carol' });
    expect(() => launcher.start(request('carol-two', 'live'), 'carol')).toThrow(
      expect.objectContaining({
        code: 'LIMIT_EXCEEDED',
        message: expect.stringMatching(/^Limit reached: carol already has 1 containers/),
      }),
    );
    expect(launcher.job('carol-two')).toBeUndefined();
    // Counted like a refusal by the manager's own launch.
    const metrics = await manager.metrics?.registry.metrics();
    expect(metrics).toContain('dde_launch_failures_total{code="LIMIT_EXCEEDED"} 1');
  });

  it('says so when the demo holds as many containers as it allows in all', async () => {
    const { manager, launcher } = await setup({ maxPerOwner: 5, maxContainers: 1 });
    await manager.launch({ name: 'bob-one', image: 'tool:1', port: 8080, owner: 'bob' });
    expect(() => launcher.start(request('carol-two', 'live'), 'carol')).toThrow(
      expect.objectContaining({
        code: 'LIMIT_EXCEEDED',
        message:
          'Limit reached: the demo already runs 1 containers, the most it allows at once. Launch again once some are removed.',
      }),
    );
  });
});
