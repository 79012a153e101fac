import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdeError } from '@dde/core';
import Dockerode from 'dockerode';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DockerBackend } from './docker-backend.ts';
import {
  createDockerClient,
  DEFAULT_SOCKET_PATH,
  dockerodeOptions,
  isLoopbackHost,
  parseDockerHost,
  resolveEngine,
} from './engine.ts';
import { SshAgent } from './ssh.ts';

let home: string;
let configDir: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'dde-engine-test-'));
  configDir = join(home, '.docker');
  mkdirSync(configDir);
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

function writeContext(name: string, meta: unknown, tls: Record<string, string> = {}, dir = configDir): void {
  const id = createHash('sha256').update(name).digest('hex');
  mkdirSync(join(dir, 'contexts', 'meta', id), { recursive: true });
  writeFileSync(join(dir, 'contexts', 'meta', id, 'meta.json'), JSON.stringify(meta));
  if (Object.keys(tls).length > 0) {
    const tlsDir = join(dir, 'contexts', 'tls', id, 'docker');
    mkdirSync(tlsDir, { recursive: true });
    for (const [file, content] of Object.entries(tls)) writeFileSync(join(tlsDir, file), content);
  }
}

function errorOf(run: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    run();
  } catch (error) {
    if (isDdeError(error)) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  throw new Error('expected a DdeError');
}

describe('resolveEngine', () => {
  it('uses the local socket when nothing is configured', () => {
    const engine = resolveEngine({ env: {}, homedir: home });
    expect(engine).toEqual({
      endpoint: { kind: 'socket', socketPath: DEFAULT_SOCKET_PATH },
      url: 'unix:///var/run/docker.sock',
      source: 'default socket',
      local: true,
    });
  });

  it('reads unix, npipe, tcp and ssh addresses from DOCKER_HOST', () => {
    const resolve = (DOCKER_HOST: string) => resolveEngine({ env: { DOCKER_HOST }, homedir: home });
    expect(resolve('unix:///run/user/1000/docker.sock').endpoint).toEqual({
      kind: 'socket',
      socketPath: '/run/user/1000/docker.sock',
    });
    expect(resolve('npipe:////./pipe/docker_engine').endpoint).toEqual({
      kind: 'socket',
      socketPath: '//./pipe/docker_engine',
    });
    expect(resolve('tcp://10.0.0.5:2375')).toMatchObject({
      endpoint: { kind: 'tcp', host: '10.0.0.5', port: 2375, tls: undefined },
      url: 'tcp://10.0.0.5:2375',
      source: 'DOCKER_HOST',
      local: false,
    });
    expect(resolve('ssh://deploy@build.example.org:2222')).toMatchObject({
      endpoint: { kind: 'ssh', host: 'build.example.org', port: 2222, username: 'deploy' },
      local: false,
    });
  });

  it('treats a bare host:port as tcp, and tcp on loopback as local', () => {
    const engine = resolveEngine({ env: { DOCKER_HOST: '127.0.0.1:2375' }, homedir: home });
    expect(engine.endpoint).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375, tls: undefined });
    expect(engine.local).toBe(true);
  });

  it('adds TLS from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set, with port 2376 by default', () => {
    const certs = join(home, 'certs');
    mkdirSync(certs);
    writeFileSync(join(certs, 'ca.pem'), 'CA');
    writeFileSync(join(certs, 'cert.pem'), 'CERT');
    writeFileSync(join(certs, 'key.pem'), 'KEY');
    const engine = resolveEngine({
      env: { DOCKER_HOST: 'tcp://docker.example.org', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs },
      homedir: home,
    });
    expect(engine.endpoint).toEqual({
      kind: 'tcp',
      host: 'docker.example.org',
      port: 2376,
      tls: { verify: true, ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
    });
  });

  it('reads TLS files from the docker config directory when DOCKER_CERT_PATH is unset', () => {
    writeFileSync(join(configDir, 'ca.pem'), 'HOME-CA');
    const engine = resolveEngine({
      env: { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1' },
      homedir: home,
    });
    expect(engine.endpoint).toMatchObject({
      tls: { verify: true, ca: Buffer.from('HOME-CA'), cert: undefined },
    });
  });

  it('uses TLS without verification for DOCKER_TLS alone', () => {
    const engine = resolveEngine({ env: { DOCKER_HOST: 'tcp://10.0.0.5', DOCKER_TLS: '1' }, homedir: home });
    expect(engine.endpoint).toMatchObject({ port: 2376, tls: { verify: false } });
  });

  it('follows currentContext in $DOCKER_CONFIG/config.json, with the context TLS files', () => {
    const elsewhere = join(home, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'config.json'), JSON.stringify({ currentContext: 'prod' }));
    writeContext(
      'prod',
      { Name: 'prod', Endpoints: { docker: { Host: 'tcp://10.1.2.3:2376', SkipTLSVerify: false } } },
      { 'ca.pem': 'CTX-CA', 'cert.pem': 'CTX-CERT', 'key.pem': 'CTX-KEY' },
      elsewhere,
    );
    const engine = resolveEngine({ env: { DOCKER_CONFIG: elsewhere }, homedir: home });
    expect(engine).toMatchObject({
      endpoint: {
        kind: 'tcp',
        host: '10.1.2.3',
        port: 2376,
        tls: {
          verify: true,
          ca: Buffer.from('CTX-CA'),
          cert: Buffer.from('CTX-CERT'),
          key: Buffer.from('CTX-KEY'),
        },
      },
      source: 'context "prod"',
      local: false,
    });
  });

  it('lets DOCKER_CONTEXT override currentContext, and DOCKER_HOST override both', () => {
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ currentContext: 'a' }));
    writeContext('a', { Endpoints: { docker: { Host: 'tcp://10.0.0.1:2375' } } });
    writeContext('b', { Endpoints: { docker: { Host: 'unix:///tmp/b.sock' } } });
    expect(resolveEngine({ env: {}, homedir: home }).endpoint).toMatchObject({ host: '10.0.0.1' });
    expect(resolveEngine({ env: { DOCKER_CONTEXT: 'b' }, homedir: home }).endpoint).toEqual({
      kind: 'socket',
      socketPath: '/tmp/b.sock',
    });
    expect(
      resolveEngine({ env: { DOCKER_CONTEXT: 'b', DOCKER_HOST: 'tcp://10.9.9.9:2375' }, homedir: home })
        .endpoint,
    ).toMatchObject({ host: '10.9.9.9' });
  });

  it('honours SkipTLSVerify of a context without TLS files', () => {
    writeContext('insecure', { Endpoints: { docker: { Host: 'tcp://10.0.0.7:2376', SkipTLSVerify: true } } });
    const engine = resolveEngine({ env: { DOCKER_CONTEXT: 'insecure' }, homedir: home });
    expect(engine.endpoint).toMatchObject({ tls: { verify: false, ca: undefined } });
  });

  it('treats the context named default as no context', () => {
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ currentContext: 'default' }));
    expect(resolveEngine({ env: {}, homedir: home }).source).toBe('default socket');
  });

  it('names the variable at fault for a missing context or a bad address', () => {
    expect(errorOf(() => resolveEngine({ env: { DOCKER_CONTEXT: 'nope' }, homedir: home }))).toMatchObject({
      code: 'INVALID_OPTION',
      field: 'DOCKER_CONTEXT',
    });
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ currentContext: 'gone' }));
    expect(errorOf(() => resolveEngine({ env: {}, homedir: home })).field).toContain('currentContext');
    expect(errorOf(() => resolveEngine({ env: { DOCKER_HOST: 'fd://' }, homedir: home }))).toMatchObject({
      code: 'INVALID_OPTION',
      field: 'DOCKER_HOST',
    });
    writeFileSync(join(configDir, 'config.json'), '{not json');
    expect(errorOf(() => resolveEngine({ env: {}, homedir: home })).code).toBe('INVALID_OPTION');
  });
});

describe('parseDockerHost', () => {
  it('defaults the unix socket path and the tcp host', () => {
    expect(parseDockerHost('unix://', 'X', undefined)).toEqual({
      kind: 'socket',
      socketPath: DEFAULT_SOCKET_PATH,
    });
    expect(parseDockerHost('tcp://:2375', 'X', undefined)).toMatchObject({ host: 'localhost', port: 2375 });
    expect(parseDockerHost('tcp://[::1]:2375', 'X', undefined)).toMatchObject({ host: '::1' });
  });

  it('refuses paths', () => {
    expect(errorOf(() => parseDockerHost('tcp://10.0.0.1:2375/prefix', 'DOCKER_HOST', undefined)).field).toBe(
      'DOCKER_HOST',
    );
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.3.4.5', true],
    ['::1', true],
    ['[::1]', true],
    ['10.0.0.1', false],
    ['docker.example.org', false],
    ['::ffff:10.0.0.1', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('dockerodeOptions', () => {
  it('keeps an explicit socket even when DOCKER_HOST and DOCKER_CLIENT_TIMEOUT are set', () => {
    vi.stubEnv('DOCKER_HOST', 'tcp://10.9.9.9:2375');
    vi.stubEnv('DOCKER_CLIENT_TIMEOUT', '1000');
    const modem = new Dockerode(dockerodeOptions({ kind: 'socket', socketPath: '/tmp/engine.sock' }))
      .modem as unknown as {
      socketPath?: string;
      host?: string;
      timeout?: number;
      protocol?: string;
    };
    expect(modem.socketPath).toBe('/tmp/engine.sock');
    expect(modem.host).toBeUndefined();
    expect(modem.timeout).toBeUndefined();
    expect(modem.protocol).toBe('http');
  });

  it('sets https with the TLS material, and an agent that skips verification only when asked', () => {
    const tls = { verify: true, ca: Buffer.from('CA'), cert: Buffer.from('C'), key: Buffer.from('K') };
    const verified = dockerodeOptions({ kind: 'tcp', host: '10.0.0.5', port: 2376, tls });
    expect(verified).toMatchObject({ host: '10.0.0.5', port: 2376, protocol: 'https', ca: tls.ca });
    expect(verified).not.toHaveProperty('agent');
    const skipped = dockerodeOptions({
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2376,
      tls: { ...tls, verify: false },
    });
    const agent = (skipped as { agent?: Agent }).agent;
    expect(agent).toBeInstanceOf(Agent);
    expect(agent?.options.rejectUnauthorized).toBe(false);
  });

  it('configures ssh as HTTP through the system ssh, with the user, port and extra arguments', () => {
    const options = dockerodeOptions(
      { kind: 'ssh', host: 'build.example.org', port: 2222, username: 'deploy' },
      { sshArgs: ['-i', '/keys/dde'] },
    );
    expect(options).toMatchObject({ protocol: 'http', host: 'build.example.org', port: 2222 });
    const agent = (options as { agent?: unknown }).agent;
    expect(agent).toBeInstanceOf(SshAgent);
    expect((agent as SshAgent).target).toEqual({
      host: 'build.example.org',
      port: 2222,
      username: 'deploy',
      sshArgs: ['-i', '/keys/dde'],
    });
    expect(
      new DockerBackend({
        docker: createDockerClient({ kind: 'ssh', host: 'h', port: 22, username: undefined }),
        publishHostIp: '10.0.0.5',
      }).engine,
    ).toEqual({ url: 'ssh://h:22', local: false });
  });
});

describe('createDockerClient', () => {
  it('builds a client for settings the docker CLI accepts and docker-modem throws on', () => {
    const caOnly = mkdtempSync(join(tmpdir(), 'dde-ca-only-'));
    try {
      writeFileSync(join(caOnly, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      vi.stubEnv('DOCKER_HOST', 'tcp://127.0.0.1:2376');
      vi.stubEnv('DOCKER_TLS_VERIFY', '1');
      vi.stubEnv('DOCKER_CERT_PATH', caOnly);
      expect(() => new Dockerode(dockerodeOptions(resolveEngine().endpoint))).toThrow(/cert\.pem/);
      expect(new DockerBackend().engine).toEqual({ url: 'tcp://127.0.0.1:2376', local: true });
      vi.stubEnv('DOCKER_TLS_VERIFY', '');
      vi.stubEnv('DOCKER_CERT_PATH', '');
      vi.stubEnv('DOCKER_HOST', 'tcp://:2375');
      const modem = createDockerClient(resolveEngine().endpoint).modem as unknown as {
        host?: string;
        port?: number;
      };
      expect(modem).toMatchObject({ host: 'localhost', port: 2375 });
      expect(process.env.DOCKER_HOST).toBe('tcp://:2375');
    } finally {
      rmSync(caOnly, { recursive: true, force: true });
    }
  });
});
