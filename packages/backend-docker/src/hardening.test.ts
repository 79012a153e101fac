import type { ContainerSpec } from '@dde/core';
import { validateSpec } from '@dde/core';
import { describe, expect, it } from 'vitest';
import { confinement, DEFAULT_DROPPED_CAPABILITIES, DEFAULT_PIDS_LIMIT } from './hardening.ts';

const MIB = 1024 * 1024;
const of = (spec: Partial<ContainerSpec>, factor: number | false = 4) =>
  confinement(validateSpec({ name: 'tool', image: 'busybox:1', ...spec }), factor);

describe('confinement', () => {
  it('hardens by default: no new privileges, fewer capabilities, a pids limit, no memory limit without a reservation', () => {
    expect(of({})).toEqual({
      SecurityOpt: ['no-new-privileges'],
      CapAdd: [],
      CapDrop: ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP'],
      PidsLimit: DEFAULT_PIDS_LIMIT,
    });
    expect(DEFAULT_DROPPED_CAPABILITIES).toContain('NET_RAW');
  });

  it('limits memory to a multiple of a lone reservation, never below the engine minimum', () => {
    expect(of({ memoryReservationMb: 64 })).toMatchObject({ Memory: 256 * MIB, MemoryReservation: 64 * MIB });
    expect(of({ memoryReservationMb: 64 }, 1.5)).toMatchObject({ Memory: 96 * MIB });
    expect(of({ memoryReservationMb: 1 })).toMatchObject({ Memory: 6 * MIB });
    expect(of({ memoryReservationMb: 64 }, false)).not.toHaveProperty('Memory');
    expect(of({ memoryReservationMb: 64, memoryLimitMb: 100 })).toMatchObject({ Memory: 100 * MIB });
    expect(of({ memoryLimitMb: 100 })).toEqual(expect.objectContaining({ Memory: 100 * MIB }));
  });

  it('honours every override', () => {
    expect(
      of({
        security: {
          noNewPrivileges: false,
          addCapabilities: ['NET_RAW', 'SYS_PTRACE'],
          dropCapabilities: ['CHOWN'],
          pidsLimit: false,
        },
      }),
    ).toEqual({
      SecurityOpt: [],
      CapAdd: ['NET_RAW', 'SYS_PTRACE'],
      CapDrop: ['MKNOD', 'AUDIT_WRITE', 'SETFCAP', 'CHOWN'],
      PidsLimit: -1,
    });
    expect(of({ security: { addCapabilities: ['ALL'] } })).toMatchObject({ CapAdd: ['ALL'], CapDrop: [] });
    expect(of({ security: { dropCapabilities: ['ALL'], pidsLimit: 32 } })).toMatchObject({
      CapDrop: [...DEFAULT_DROPPED_CAPABILITIES, 'ALL'],
      PidsLimit: 32,
    });
  });
});
