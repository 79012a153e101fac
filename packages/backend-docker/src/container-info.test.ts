import type { ResolvedSpec } from '@dde/core';
import { labelsFor, validateSpec } from '@dde/core';
import { describe, expect, it } from 'vitest';
import { isOurs, toContainerInfo } from './container-info.ts';
import type { ContainerJson } from './container-json.ts';
import type { UpstreamPolicy } from './upstream.ts';

const policy: UpstreamPolicy = {
  mode: 'auto',
  local: true,
  platform: 'linux',
  network: undefined,
  engineHost: undefined,
};
const spec: ResolvedSpec = validateSpec({
  name: 'alice-viewer',
  image: 'tool:1',
  port: 8080,
  owner: 'alice',
  labels: { team: 'genomics' },
  memoryReservationMb: 64,
  memoryLimitMb: 128,
  cpus: 0.5,
  readiness: { path: '/health', timeoutMs: 5000 },
});

function inspected(
  labels: Record<string, string> | null,
  state: Partial<ContainerJson['State']> = {},
): ContainerJson {
  return {
    Id: 'c0ffee',
    Name: '/alice-viewer',
    Created: '2024-05-01T10:00:00.000000001Z',
    State: {
      Status: 'running',
      ExitCode: 0,
      StartedAt: '2024-05-01T10:00:01.25Z',
      FinishedAt: '0001-01-01T00:00:00Z',
      ...state,
    },
    Config: { Image: 'tool:1', Labels: labels, Tty: false },
    HostConfig: { Memory: 128 * 1024 * 1024, NanoCpus: 500_000_000, MemoryReservation: 64 * 1024 * 1024 },
    NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.9' } }, Ports: {} },
  };
}

describe('toContainerInfo', () => {
  it('rebuilds the info from labels and engine state', () => {
    const info = toContainerInfo(inspected(labelsFor(spec, 'ns')), 'ns', policy);
    expect(info).toEqual({
      name: 'alice-viewer',
      id: 'c0ffee',
      image: 'tool:1',
      namespace: 'ns',
      state: 'running',
      exitCode: undefined,
      createdAt: new Date('2024-05-01T10:00:00.000Z'),
      startedAt: new Date('2024-05-01T10:00:01.250Z'),
      finishedAt: undefined,
      port: 8080,
      upstream: { host: '172.17.0.9', port: 8080 },
      readiness: { path: '/health', timeoutMs: 5000 },
      owner: 'alice',
      memoryReservationMb: 64,
      memoryLimitMb: 128,
      cpus: 0.5,
      specHash: labelsFor(spec, 'ns')['dde.spec-hash'],
      labels: { team: 'genomics' },
    });
  });

  it('reports the exit code and finish time of a stopped container, and no upstream', () => {
    const info = toContainerInfo(
      inspected(labelsFor(spec, 'ns'), { Status: 'exited', ExitCode: 3, FinishedAt: '2024-05-01T10:05:00Z' }),
      'ns',
      policy,
    );
    expect(info).toMatchObject({
      state: 'exited',
      exitCode: 3,
      finishedAt: new Date('2024-05-01T10:05:00Z'),
      upstream: undefined,
    });
  });

  it('maps an unknown engine state to unknown', () => {
    expect(toContainerInfo(inspected(labelsFor(spec, 'ns'), { Status: 'weird' }), 'ns', policy)?.state).toBe(
      'unknown',
    );
  });

  it('does not see containers without dde labels or of another namespace', () => {
    expect(toContainerInfo(inspected(null), 'ns', policy)).toBeUndefined();
    expect(toContainerInfo(inspected({ 'dde.namespace': 'ns' }), 'ns', policy)).toBeUndefined();
    expect(toContainerInfo(inspected(labelsFor(spec, 'other')), 'ns', policy)).toBeUndefined();
    expect(isOurs(inspected(labelsFor(spec, 'other')), 'ns')).toBe(false);
    expect(isOurs(inspected(labelsFor(spec, 'ns')), 'ns')).toBe(true);
  });
});
