import { describe, expect, it } from 'vitest';
import type { ContainerJson } from './container-json.ts';
import type { UpstreamPolicy } from './upstream.ts';
import { chooseUpstream } from './upstream.ts';

function container(overrides: {
  status?: string;
  networks?: Record<string, { IPAddress?: string }>;
  ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
}): ContainerJson {
  return {
    Id: 'id',
    Name: '/tool',
    Created: '2024-05-01T10:00:00Z',
    State: { Status: overrides.status ?? 'running', ExitCode: 0, StartedAt: '', FinishedAt: '' },
    Config: { Image: 'tool:1', Labels: {}, Tty: false },
    HostConfig: {},
    NetworkSettings: {
      Networks: overrides.networks ?? { bridge: { IPAddress: '172.17.0.5' } },
      Ports: overrides.ports ?? { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '49153' }] },
    },
  };
}

const local: UpstreamPolicy = {
  mode: 'auto',
  local: true,
  platform: 'linux',
  network: undefined,
  engineHost: undefined,
};
const remote: UpstreamPolicy = { ...local, local: false, engineHost: 'docker.example.org' };

describe('chooseUpstream', () => {
  it('auto: prefers the bridge address for a local engine on Linux', () => {
    expect(chooseUpstream(container({}), 8080, local)).toEqual({ host: '172.17.0.5', port: 8080 });
  });

  it('auto: uses the published port for a remote engine or another platform', () => {
    expect(chooseUpstream(container({}), 8080, remote)).toEqual({ host: '127.0.0.1', port: 49153 });
    expect(chooseUpstream(container({}), 8080, { ...local, platform: 'darwin' })).toEqual({
      host: '127.0.0.1',
      port: 49153,
    });
  });

  it('auto: falls back to the published port when the container has no bridge address', () => {
    expect(chooseUpstream(container({ networks: { host: {} } }), 8080, local)).toEqual({
      host: '127.0.0.1',
      port: 49153,
    });
  });

  it('reads the configured network', () => {
    const networks = { bridge: { IPAddress: '172.17.0.5' }, tools: { IPAddress: '10.10.0.7' } };
    expect(chooseUpstream(container({ networks }), 8080, { ...local, network: 'tools' })).toEqual({
      host: '10.10.0.7',
      port: 8080,
    });
  });

  it('falls back to another network for a container launched on an earlier one', () => {
    const networks = { bridge: { IPAddress: '172.17.0.5' } };
    expect(chooseUpstream(container({ networks }), 8080, { ...local, network: 'dde-app' })).toEqual({
      host: '172.17.0.5',
      port: 8080,
    });
  });

  it('bridge and published force the choice', () => {
    expect(chooseUpstream(container({}), 8080, { ...remote, mode: 'bridge' })).toEqual({
      host: '172.17.0.5',
      port: 8080,
    });
    expect(chooseUpstream(container({ networks: {} }), 8080, { ...local, mode: 'bridge' })).toBeUndefined();
    expect(chooseUpstream(container({}), 8080, { ...local, mode: 'published' })).toEqual({
      host: '127.0.0.1',
      port: 49153,
    });
  });

  it('maps a port published on every interface to loopback locally and to the engine host remotely', () => {
    const ports = { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '40000' }] };
    expect(chooseUpstream(container({ ports }), 8080, { ...local, mode: 'published' })).toEqual({
      host: '127.0.0.1',
      port: 40000,
    });
    expect(chooseUpstream(container({ ports }), 8080, remote)).toEqual({
      host: 'docker.example.org',
      port: 40000,
    });
  });

  it('is undefined for a container that is not running or has no usable address', () => {
    expect(chooseUpstream(container({ status: 'exited' }), 8080, local)).toBeUndefined();
    expect(chooseUpstream(container({ ports: { '8080/tcp': null } }), 8080, remote)).toBeUndefined();
    expect(chooseUpstream(container({}), 9999, remote)).toBeUndefined();
  });
});
