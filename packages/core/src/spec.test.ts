import { describe, expect, it } from 'vitest';
import { DdeError } from './errors.ts';
import { envInput, fileInput, urlInput } from './input.ts';
import type { ContainerSpec } from './spec.ts';
import { DEFAULT_READINESS_TIMEOUT_MS, isValidName, normalizeImage, validateSpec } from './spec.ts';

const base: ContainerSpec = { name: 'my-server', image: 'nginx:1.27-alpine' };

/** Asserts that validating `spec` fails with INVALID_SPEC on `field`, with a message matching `message`. */
function expectInvalid(spec: unknown, field: string, message: RegExp): void {
  let caught: unknown;
  try {
    validateSpec(spec as ContainerSpec);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DdeError);
  const error = caught as DdeError;
  expect(error.code).toBe('INVALID_SPEC');
  expect(error.field).toBe(field);
  expect(error.message).toMatch(message);
}

describe('validateSpec', () => {
  it('applies defaults', () => {
    const resolved = validateSpec(base);
    expect(resolved).toMatchObject({
      name: 'my-server',
      image: 'nginx:1.27-alpine',
      port: 80,
      env: {},
      labels: {},
      extraDirectories: [],
      inputs: [],
      readiness: { path: '/', timeoutMs: DEFAULT_READINESS_TIMEOUT_MS },
    });
    expect(resolved.command).toBeUndefined();
    expect(resolved.owner).toBeUndefined();
  });

  it('refuses fields it does not know, suggesting the spelling it does', () => {
    expectInvalid(
      { ...base, memoryReservationMB: 64 },
      'memoryReservationMB',
      /did you mean memoryReservationMb\?/,
    );
    expectInvalid(
      { ...base, volumes: ['/data'] },
      'volumes',
      /not a field of a container spec \(known: name, image,/,
    );
    expectInvalid(
      { ...base, readiness: { path: '/', timeout: 5 } },
      'readiness.timeout',
      /known: path, timeoutMs/,
    );
  });

  it('defaults to the env delivery when an input is given without deliveries', () => {
    const resolved = validateSpec({ ...base, input: { a: 1 } });
    expect(resolved.inputs.map((delivery) => delivery.kind)).toEqual(['env']);
  });

  it('accepts a complete spec', () => {
    const resolved = validateSpec({
      ...base,
      command: ['httpd', '-f'],
      input: [1, 'two', { three: null }],
      inputs: [envInput(), fileInput('/data/input.json'), urlInput('https://example.org/in.json')],
      port: 8080,
      env: { MODE: 'demo', _X1: '' },
      labels: { 'org.example.team': 'viz' },
      extraDirectories: ['/scratch/', '/tmp/work'],
      cpus: 0.5,
      memoryReservationMb: 64,
      memoryLimitMb: 128,
      owner: 'user-42',
      readiness: { path: '/health', timeoutMs: 5000 },
    });
    expect(resolved.extraDirectories).toEqual(['/scratch', '/tmp/work']);
    expect(resolved.readiness).toEqual({ path: '/health', timeoutMs: 5000 });
    expect(resolved.inputs).toHaveLength(3);
  });

  describe('name', () => {
    it.each([
      ['missing', undefined, /is required/],
      ['empty', '', /is required/],
      ['uppercase', 'My-Server', /lowercase letters, digits and hyphens/],
      ['underscore', 'my_server', /lowercase letters, digits and hyphens/],
      ['leading hyphen', '-server', /starting and ending with a letter or digit/],
      ['trailing hyphen', 'server-', /starting and ending with a letter or digit/],
      ['dot', 'my.server', /DNS label/],
      ['slash', 'a/b', /lowercase/],
      ['too long', 'a'.repeat(64), /at most 63 characters/],
    ])('refuses a %s name', (_, name, message) => {
      expectInvalid({ ...base, name }, 'name', message);
    });

    it('accepts 63 characters, digits and inner hyphens', () => {
      for (const name of ['a'.repeat(63), '0', 'a-b--c', '9lives']) expect(isValidName(name)).toBe(true);
      expect(() => validateSpec({ ...base, name: 'a'.repeat(63) })).not.toThrow();
    });
  });

  describe('image', () => {
    it.each([
      ['missing', undefined, /is required/],
      ['empty', '', /is required/],
      ['with spaces', 'nginx latest', /not a valid image reference/],
      ['uppercase repository', 'Nginx', /not a valid image reference/],
      ['a trailing colon', 'nginx:', /not a valid image reference/],
    ])('refuses an image %s', (_, image, message) => {
      expectInvalid({ ...base, image }, 'image', message);
    });

    it.each([
      ['nginx', 'nginx:latest'],
      ['nginx:1.27-alpine', 'nginx:1.27-alpine'],
      ['library/nginx', 'library/nginx:latest'],
      ['localhost:5000/team/tool', 'localhost:5000/team/tool:latest'],
      ['localhost:5000/team/tool:2', 'localhost:5000/team/tool:2'],
      [`busybox@sha256:${'a'.repeat(64)}`, `busybox@sha256:${'a'.repeat(64)}`],
    ])('normalizes %s to %s', (image, expected) => {
      expect(normalizeImage(image)).toBe(expected);
    });
  });

  it('refuses a command that is not a non-empty string array', () => {
    expectInvalid({ ...base, command: [] }, 'command', /non-empty array/);
    expectInvalid({ ...base, command: 'httpd -f' }, 'command', /non-empty array/);
    expectInvalid({ ...base, command: ['httpd', 3] }, 'command[1]', /must be a string/);
  });

  it('refuses an input that JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectInvalid({ ...base, input: cyclic }, 'input', /JSON-serializable/);
    expectInvalid({ ...base, input: () => 1 }, 'input', /JSON-serializable/);
  });

  it.each([0, -1, 65_536, 80.5, Number.NaN, '80'])('refuses port %s', (port) => {
    expectInvalid({ ...base, port }, 'port', /integer from 1 to 65535/);
  });

  it('refuses bad env names and values', () => {
    expectInvalid({ ...base, env: { '1ABC': 'x' } }, 'env.1ABC', /not a valid variable name/);
    expectInvalid({ ...base, env: { 'A-B': 'x' } }, 'env.A-B', /not a valid variable name/);
    expectInvalid({ ...base, env: { A: 1 } }, 'env.A', /must be a string/);
    expectInvalid({ ...base, env: { A: 'a\0b' } }, 'env.A', /NUL/);
    expectInvalid({ ...base, env: ['A=1'] }, 'env', /object of string values/);
  });

  it('refuses reserved and malformed labels', () => {
    expectInvalid({ ...base, labels: { 'dde.owner': 'x' } }, 'labels.dde.owner', /reserved prefix/);
    expectInvalid({ ...base, labels: { '': 'x' } }, 'labels', /empty key/);
    expectInvalid({ ...base, labels: { team: 7 } }, 'labels.team', /must be a string/);
  });

  it('refuses relative, parent-escaping, root and repeated extra directories', () => {
    expectInvalid({ ...base, extraDirectories: ['data'] }, 'extraDirectories[0]', /absolute path/);
    expectInvalid({ ...base, extraDirectories: ['/a/../etc'] }, 'extraDirectories[0]', /"\.\." segments/);
    expectInvalid({ ...base, extraDirectories: ['/'] }, 'extraDirectories[0]', /root directory/);
    expectInvalid({ ...base, extraDirectories: ['/a', '/a/'] }, 'extraDirectories[1]', /repeats "\/a"/);
    expectInvalid({ ...base, extraDirectories: '/a' }, 'extraDirectories', /array of absolute paths/);
  });

  it('refuses insane cpu and memory numbers', () => {
    expectInvalid({ ...base, cpus: 0 }, 'cpus', /from 0.01 to 1024 cores/);
    expectInvalid({ ...base, cpus: Number.POSITIVE_INFINITY }, 'cpus', /finite number/);
    expectInvalid({ ...base, memoryReservationMb: 0 }, 'memoryReservationMb', /from 1 to/);
    expectInvalid({ ...base, memoryReservationMb: 1.5 }, 'memoryReservationMb', /whole number/);
    expectInvalid({ ...base, memoryLimitMb: 4 }, 'memoryLimitMb', /from 6 to/);
    expectInvalid(
      { ...base, memoryReservationMb: 128, memoryLimitMb: 64 },
      'memoryLimitMb',
      /at least memoryReservationMb \(128\)/,
    );
  });

  it('refuses empty, long or multi-line owners', () => {
    expectInvalid({ ...base, owner: '' }, 'owner', /non-empty string/);
    expectInvalid({ ...base, owner: 'x'.repeat(257) }, 'owner', /at most 256/);
    expectInvalid({ ...base, owner: 'a\nb' }, 'owner', /line breaks/);
  });

  it('refuses bad readiness settings', () => {
    expectInvalid({ ...base, readiness: 'health' }, 'readiness', /must be an object/);
    expectInvalid({ ...base, readiness: { path: 'health' } }, 'readiness.path', /absolute URL path/);
    expectInvalid({ ...base, readiness: { path: '/a b' } }, 'readiness.path', /absolute URL path/);
    expectInvalid({ ...base, readiness: { timeoutMs: 0 } }, 'readiness.timeoutMs', /from 1 to/);
  });

  it('refuses malformed deliveries, and env or file deliveries without input', () => {
    expectInvalid({ ...base, inputs: envInput() }, 'inputs', /must be an array/);
    expectInvalid({ ...base, input: 1, inputs: [{}] }, 'inputs[0]', /made by envInput/);
    expectInvalid(
      { ...base, inputs: [fileInput('/in.json')] },
      'input',
      /required by the env and file deliveries/,
    );
    expect(() => validateSpec({ ...base, inputs: [urlInput('http://example.org/x')] })).not.toThrow();
  });

  it('refuses something that is not an object', () => {
    expectInvalid(null, 'spec', /must be an object/);
  });
});
