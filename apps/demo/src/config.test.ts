import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

describe('parseConfig', () => {
  it('defaults to path routing on localhost:8000, namespace dde-demo, no login', () => {
    const config = parseConfig([], {});
    expect(config).toMatchObject({
      port: 8000,
      host: '127.0.0.1',
      routing: 'path',
      publicOrigin: 'http://localhost:8000',
      login: false,
      backend: 'docker',
      namespace: 'dde-demo',
      imagePrefix: 'dde-demo',
      budgetMb: 1024,
      removeOnExit: false,
      idleTimeoutMs: undefined,
      maxPerOwner: undefined,
      maxContainers: 50,
      maxUploadBytes: 5 * 1024 * 1024,
    });
    expect(config.dataDir).toMatch(/dde-demo[/\\]dde-demo$/);
  });

  it('serves the pages on the domain itself in hostname mode', () => {
    const config = parseConfig(['--routing', 'hostname', '--port', '8080'], {});
    expect(config.publicOrigin).toBe('http://docker.localhost:8080');
    expect(config.domain).toBe('docker.localhost');
  });

  it('reads DDE_DEMO_* variables, and flags win over them', () => {
    const env = {
      DDE_DEMO_PORT: '9000',
      DDE_DEMO_LOGIN: '1',
      DDE_DEMO_IDLE_TIMEOUT: '30m',
      DDE_DEMO_NAMESPACE: 'team-a',
      DDE_DEMO_MAX_PER_OWNER: '3',
    };
    const config = parseConfig(['--port', '9100'], env);
    expect(config.port).toBe(9100);
    expect(config.login).toBe(true);
    expect(config.idleTimeoutMs).toBe(30 * 60_000);
    expect(config.namespace).toBe('team-a');
    expect(config.maxPerOwner).toBe(3);
    expect(parseConfig(['--max-per-owner', '1'], env).maxPerOwner).toBe(1);
  });

  it('takes a Redis URL from --redis or DDE_DEMO_REDIS; without one the instance keeps its state alone', () => {
    expect(parseConfig([], {}).redisUrl).toBeUndefined();
    expect(parseConfig(['--redis', 'redis://127.0.0.1:6379'], {}).redisUrl).toBe('redis://127.0.0.1:6379');
    expect(parseConfig([], { DDE_DEMO_REDIS: 'rediss://u:p@cache.internal:6380/2' }).redisUrl).toBe(
      'rediss://u:p@cache.internal:6380/2',
    );
  });

  it('does not repeat the password of a refused Redis URL', () => {
    expect(() => parseConfig(['--redis', 'redis://u:secret@host/x'], {})).toThrow(/u:\*\*\*@host/);
    expect(() => parseConfig(['--redis', 'redis://u:secret@host/x'], {})).not.toThrow(/secret/);
  });

  it('keeps an explicit public URL as an origin', () => {
    expect(parseConfig(['--public-url', 'https://demo.example.org/'], {}).publicOrigin).toBe(
      'https://demo.example.org',
    );
  });

  it.each([
    [['--port', 'eighty'], /--port must be a whole number/],
    [['--routing', 'subdomain'], /--routing must be one of path, hostname/],
    [['--backend', 'ecs'], /not available yet/],
    [['--namespace', 'Bad Namespace'], /--namespace/],
    [['--image-prefix', 'UPPER'], /--image-prefix/],
    [['--idle-timeout', 'soon'], /not a duration/],
    [['--public-url', 'http://x.org/app'], /without a path/],
    [['--max-per-owner', '0'], /--max-per-owner must be a whole number from 1/],
    [['--budget-mb', '10'], /--budget-mb must be a whole number from 64/],
    [['--no-such-flag'], /Unknown option/],
    [['--redis', '127.0.0.1:6379'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'http://127.0.0.1:6379'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'redis://'], /--redis needs a host/],
    [['--redis', 'redis://127.0.0.1:6379/cache'], /at most a database number/],
  ])('refuses %j with a message naming the setting', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(message);
  });
});
