import { describe, expect, it } from 'vitest';
import { parseImageReference, pullFailed, pullProgress, registryAuthFor } from './image.ts';

describe('parseImageReference', () => {
  it.each([
    ['nginx:1.27-alpine', { repository: 'nginx', tag: '1.27-alpine', registry: 'docker.io' }],
    ['team/tool:2', { repository: 'team/tool', tag: '2', registry: 'docker.io' }],
    ['ghcr.io/org/tool:latest', { repository: 'ghcr.io/org/tool', tag: 'latest', registry: 'ghcr.io' }],
    ['127.0.0.1:5000/tool:1', { repository: '127.0.0.1:5000/tool', tag: '1', registry: '127.0.0.1:5000' }],
    ['localhost/tool:1', { repository: 'localhost/tool', tag: '1', registry: 'localhost' }],
    ['registry:5000/tool', { repository: 'registry:5000/tool', tag: 'latest', registry: 'registry:5000' }],
    [
      `tool@sha256:${'a'.repeat(64)}`,
      { repository: 'tool', tag: `sha256:${'a'.repeat(64)}`, registry: 'docker.io' },
    ],
  ])('%s', (image, expected) => {
    expect(parseImageReference(image)).toEqual(expected);
  });
});

describe('registryAuthFor', () => {
  it('finds credentials by registry host, Docker Hub under its aliases', async () => {
    const auth = {
      'ghcr.io': { username: 'bot', password: 'token' },
      'index.docker.io': { identityToken: 'hub-token' },
    };
    expect(await registryAuthFor(auth, 'ghcr.io')).toEqual({
      serveraddress: 'ghcr.io',
      username: 'bot',
      password: 'token',
    });
    expect(await registryAuthFor(auth, 'docker.io')).toEqual({
      serveraddress: 'docker.io',
      identitytoken: 'hub-token',
    });
    expect(await registryAuthFor(auth, 'quay.io')).toBeUndefined();
    expect(await registryAuthFor(undefined, 'ghcr.io')).toBeUndefined();
  });

  it('asks a function, which may be async', async () => {
    const seen: string[] = [];
    const auth = async (registry: string) => {
      seen.push(registry);
      return registry === 'ghcr.io' ? { registryToken: 'bearer' } : undefined;
    };
    expect(await registryAuthFor(auth, 'ghcr.io')).toEqual({
      serveraddress: 'ghcr.io',
      registrytoken: 'bearer',
    });
    expect(await registryAuthFor(auth, 'docker.io')).toBeUndefined();
    expect(seen).toEqual(['ghcr.io', 'docker.io']);
  });
});

describe('pullProgress', () => {
  it('reports layer progress from a pull message', () => {
    expect(
      pullProgress('tool-a', {
        status: 'Downloading',
        id: 'abc123',
        progressDetail: { current: 10, total: 100 },
      }),
    ).toEqual({
      phase: 'pulling',
      name: 'tool-a',
      message: 'Downloading',
      layer: { id: 'abc123', current: 10, total: 100 },
    });
    expect(pullProgress('tool-a', { status: 'Pull complete', id: 'abc123', progressDetail: {} })).toEqual({
      phase: 'pulling',
      name: 'tool-a',
      message: 'Pull complete',
      layer: { id: 'abc123' },
    });
    expect(pullProgress('tool-a', { status: 'Digest: sha256:…' })).toEqual({
      phase: 'pulling',
      name: 'tool-a',
      message: 'Digest: sha256:…',
    });
  });
});

describe('pullFailed', () => {
  it('names the image and the field, and keeps the cause', () => {
    const cause = new Error('manifest unknown');
    const error = pullFailed('ghcr.io/org/tool:9', 'manifest unknown', cause);
    expect(error).toMatchObject({ code: 'IMAGE_PULL_FAILED', field: 'image', cause });
    expect(error.message).toContain('ghcr.io/org/tool:9');
    expect(error.message).toContain('manifest unknown');
  });
});
