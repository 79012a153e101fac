import { describe, expect, it } from 'vitest';
import { DdeError } from './errors.ts';
import { specHash } from './labels.ts';
import type { ContainerSpec } from './spec.ts';
import { validateSpec } from './spec.ts';

const base: ContainerSpec = { name: 'tool', image: 'busybox:1' };

function refusal(security: unknown): DdeError {
  try {
    validateSpec({ ...base, security } as ContainerSpec);
  } catch (error) {
    if (error instanceof DdeError) return error;
    throw error;
  }
  throw new Error('the spec was accepted');
}

describe('spec.security', () => {
  it('leaves every default to the backend when absent', () => {
    expect(validateSpec(base).security).toEqual({
      noNewPrivileges: undefined,
      addCapabilities: [],
      dropCapabilities: [],
      pidsLimit: undefined,
    });
  });

  it('normalizes capability names and keeps the overrides', () => {
    const { security } = validateSpec({
      ...base,
      security: {
        noNewPrivileges: false,
        addCapabilities: ['cap_net_raw', 'NET_RAW', 'SYS_PTRACE'],
        dropCapabilities: ['CAP_CHOWN'],
        pidsLimit: false,
      },
    });
    expect(security).toEqual({
      noNewPrivileges: false,
      addCapabilities: ['NET_RAW', 'SYS_PTRACE'],
      dropCapabilities: ['CHOWN'],
      pidsLimit: false,
    });
    expect(
      validateSpec({ ...base, security: { dropCapabilities: ['all'], pidsLimit: 64 } }).security,
    ).toMatchObject({
      dropCapabilities: ['ALL'],
      pidsLimit: 64,
    });
  });

  it.each([
    ['a string', 'nope', 'security', /must be an object/],
    ['an unknown field', { pidslimit: 5 }, 'security.pidslimit', /did you mean pidsLimit/],
    [
      'a non-boolean noNewPrivileges',
      { noNewPrivileges: 'yes' },
      'security.noNewPrivileges',
      /true or false/,
    ],
    ['a zero pidsLimit', { pidsLimit: 0 }, 'security.pidsLimit', /from 1 to/],
    ['a fractional pidsLimit', { pidsLimit: 1.5 }, 'security.pidsLimit', /whole number/],
    ['pidsLimit true', { pidsLimit: true }, 'security.pidsLimit', /or false for no limit/],
    ['a capability string', { addCapabilities: 'NET_RAW' }, 'security.addCapabilities', /array/],
    [
      'an unknown capability',
      { dropCapabilities: ['CHOWN', 'NET_RAWW'] },
      'security.dropCapabilities[1]',
      /not a Linux capability/,
    ],
    [
      'a capability added and dropped',
      { addCapabilities: ['NET_RAW'], dropCapabilities: ['CAP_NET_RAW'] },
      'security.dropCapabilities',
      /both name NET_RAW/,
    ],
  ])('refuses %s with INVALID_SPEC naming the field', (_, security, field, message) => {
    const error = refusal(security);
    expect(error.code).toBe('INVALID_SPEC');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('changes the spec hash only when overridden', () => {
    const plain = specHash(validateSpec(base));
    expect(specHash(validateSpec({ ...base, security: {} }))).toBe(plain);
    expect(specHash(validateSpec({ ...base, security: { pidsLimit: 64 } }))).not.toBe(plain);
    expect(specHash(validateSpec({ ...base, security: { addCapabilities: ['NET_RAW'] } }))).not.toBe(plain);
  });
});
