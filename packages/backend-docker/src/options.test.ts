import { isDdeError } from '@dde/core';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerBackend } from './docker-backend.ts';
import type { DockerBackendOptions } from './options.ts';
import { validateOptions } from './options.ts';

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isDdeError(error) && error.code === 'INVALID_OPTION') return error.field;
    throw error;
  }
  throw new Error('expected INVALID_OPTION');
}

// Constructing a backend opens no connection, so these clients need no engine.
const remote = () => new Dockerode({ host: '10.20.30.40', port: 2376, protocol: 'https' });
const localTcp = () => new Dockerode({ host: '127.0.0.1', port: 2375, protocol: 'http' });

describe('validateOptions', () => {
  it('applies defaults', () => {
    expect(validateOptions({})).toEqual({
      docker: undefined,
      namespace: 'default',
      upstream: 'auto',
      publishHostIp: undefined,
      network: undefined,
      memoryLimitFactor: 4,
      pullPolicy: 'missing',
      registryAuth: undefined,
      sshArgs: [],
      cleanupTimeoutMs: 10_000,
    });
  });

  it('accepts memoryLimitFactor false and numbers from 1', () => {
    expect(validateOptions({ memoryLimitFactor: false }).memoryLimitFactor).toBe(false);
    expect(validateOptions({ memoryLimitFactor: 1.5 }).memoryLimitFactor).toBe(1.5);
  });

  it.each<[string, unknown]>([
    ['namespace', { namespace: 'Bad Namespace' }],
    ['upstream', { upstream: 'direct' }],
    ['publishHostIp', { publishHostIp: 'my-host' }],
    ['network', { network: 'no spaces allowed' }],
    ['sshArgs', { sshArgs: '-i key' }],
    ['sshArgs', { sshArgs: ['-i', 3] }],
    ['cleanupTimeoutMs', { cleanupTimeoutMs: 0 }],
    ['cleanupTimeoutMs', { cleanupTimeoutMs: Number.POSITIVE_INFINITY }],
    ['pullPolicy', { pullPolicy: 'sometimes' }],
    ['memoryLimitFactor', { memoryLimitFactor: 0.5 }],
    ['memoryLimitFactor', { memoryLimitFactor: true }],
    ['memoryLimitFactor', { memoryLimitFactor: Number.NaN }],
    ['docker', { docker: {} }],
    ['registryAuth', { registryAuth: 'user:pass' }],
    ['registryAuth.ghcr.io', { registryAuth: { 'ghcr.io': 'token' } }],
    ['registryAuth.ghcr.io.pass', { registryAuth: { 'ghcr.io': { pass: 'x' } } }],
    ['socketPath', { socketPath: '/var/run/docker.sock' }],
    ['options', null],
  ])('names %s', (field, options) => {
    expect(fieldOf(() => validateOptions(options as DockerBackendOptions))).toBe(field);
  });

  it('accepts a registryAuth function and a full set of options', () => {
    const registryAuth = () => undefined;
    expect(
      validateOptions({
        namespace: 'team-a',
        upstream: 'published',
        publishHostIp: '10.0.0.4',
        network: 'tools_net',
        pullPolicy: 'never',
        registryAuth,
      }),
    ).toMatchObject({ namespace: 'team-a', upstream: 'published', registryAuth });
  });
});

describe('DockerBackend construction', () => {
  it('requires publishHostIp for a remote engine unless upstream is bridge', () => {
    expect(fieldOf(() => new DockerBackend({ docker: remote() }))).toBe('publishHostIp');
    expect(new DockerBackend({ docker: remote(), upstream: 'bridge' }).engine).toEqual({
      url: 'tcp://10.20.30.40:2376',
      local: false,
    });
    expect(new DockerBackend({ docker: remote(), publishHostIp: '10.20.30.40' }).engine.local).toBe(false);
  });

  it('treats a socket or a loopback TCP engine as local', () => {
    expect(new DockerBackend({ docker: localTcp() }).engine.local).toBe(true);
    expect(new DockerBackend({ docker: new Dockerode({ socketPath: '/tmp/x.sock' }) }).engine).toEqual({
      url: 'unix:///tmp/x.sock',
      local: true,
    });
  });

  it('reports its kind, namespace and capabilities', () => {
    const backend = new DockerBackend({ docker: localTcp(), namespace: 'team-a' });
    expect(backend.kind).toBe('docker');
    expect(backend.namespace).toBe('team-a');
    expect(backend.capabilities).toEqual({
      placesFiles: true,
      pushesEvents: true,
      volumes: true,
      logs: true,
      pullsImages: true,
    });
  });
});
