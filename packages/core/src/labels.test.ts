import { describe, expect, it } from 'vitest';
import { DdeError } from './errors.ts';
import { LABELS, labelsFor, namespaceFilter, parseLabels, specHash, validateNamespace } from './labels.ts';
import { validateSpec } from './spec.ts';

describe('labels', () => {
  const spec = validateSpec({
    name: 'viewer',
    image: 'busybox',
    port: 8080,
    owner: 'alice',
    memoryReservationMb: 32,
    memoryLimitMb: 64,
    cpus: 0.5,
    labels: { team: 'viz' },
    readiness: { path: '/ready', timeoutMs: 3000 },
  });

  it('round-trips through labels', () => {
    const labels = labelsFor(spec, 'app1');
    expect(labels[LABELS.managed]).toBe('true');
    expect(parseLabels(labels)).toEqual({
      namespace: 'app1',
      port: 8080,
      owner: 'alice',
      memoryReservationMb: 32,
      memoryLimitMb: 64,
      cpus: 0.5,
      specHash: specHash(spec),
      readinessPath: '/ready',
      readinessTimeoutMs: 3000,
      userLabels: { team: 'viz' },
    });
  });

  it('treats unlabelled or malformed containers as not ours', () => {
    expect(parseLabels(undefined)).toBeUndefined();
    expect(parseLabels({ team: 'viz' })).toBeUndefined();
    expect(parseLabels({ [LABELS.managed]: 'true', [LABELS.port]: '80' })).toBeUndefined();
    expect(
      parseLabels({ [LABELS.managed]: 'true', [LABELS.namespace]: 'a', [LABELS.port]: 'x' }),
    ).toBeUndefined();
  });

  it('hashes equal specs equally and different specs differently', () => {
    const same = validateSpec({
      ...spec,
      labels: { team: 'viz' },
      readiness: { timeoutMs: 3000, path: '/ready' },
    });
    expect(specHash(same)).toBe(specHash(spec));
    expect(specHash(validateSpec({ name: 'viewer', image: 'busybox', input: { a: 1 } }))).not.toBe(
      specHash(validateSpec({ name: 'viewer', image: 'busybox', input: { a: 2 } })),
    );
  });

  it('filters by namespace and validates it', () => {
    expect(namespaceFilter('app1')).toEqual(['dde.managed=true', 'dde.namespace=app1']);
    expect(validateNamespace('team-a.prod_1')).toBe('team-a.prod_1');
    for (const bad of ['', 'Upper', '-x', 'a'.repeat(64), 'a b']) {
      expect(() => validateNamespace(bad)).toThrow(DdeError);
    }
    try {
      validateNamespace('Bad');
    } catch (error) {
      expect((error as DdeError).code).toBe('INVALID_OPTION');
      expect((error as DdeError).field).toBe('namespace');
    }
  });
});
