import type { ResolvedSpec } from '@dde/core';

/**
 * Capabilities of Docker's default set that web tools never need, dropped from every container
 * unless its spec adds them back (`security.addCapabilities`):
 * - `NET_RAW`: raw and packet sockets, which let a tool forge ARP and IP packets on the bridge it
 *   shares with other users' tools (spoofing their addresses); ping is its only everyday use;
 * - `MKNOD`: creating device nodes;
 * - `AUDIT_WRITE`: writing to the kernel's audit log (sshd and login programs);
 * - `SETFCAP`: giving files capabilities (package installs at build time, not at run time).
 *
 * Kept, because ordinary images rely on them: `CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `FSETID`
 * (entrypoints that fix ownership and modes of their data as root), `SETUID`, `SETGID` (servers
 * that start as root and switch to an unprivileged user, e.g. nginx's workers), `KILL` (a
 * master signalling workers of another user), `NET_BIND_SERVICE` (binding port 80 as root),
 * `SETPCAP` (supervisors that drop capabilities themselves) and `SYS_CHROOT` (servers that
 * chroot their workers).
 */
export const DEFAULT_DROPPED_CAPABILITIES: readonly string[] = ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP'];

/** Most processes and threads a container may run unless its spec says otherwise. */
export const DEFAULT_PIDS_LIMIT = 1024;

/** Default memory limit, as a multiple of the reservation, for specs that give only a reservation. */
export const DEFAULT_MEMORY_LIMIT_FACTOR = 4;

// The engine refuses memory limits below 6 MB.
const MIN_MEMORY_LIMIT_MB = 6;
const MIB = 1024 * 1024;

/** The `HostConfig` fields that confine a container. */
export interface ConfinementConfig {
  readonly SecurityOpt: string[];
  readonly CapAdd: string[];
  readonly CapDrop: string[];
  readonly PidsLimit: number;
  readonly Memory?: number;
  readonly MemoryReservation?: number;
}

/**
 * The hardened `HostConfig` fields for a spec: its `security` overrides on top of dde's
 * defaults, and its memory limit, or `memoryLimitFactor` times its reservation when it gives
 * only a reservation (`false`: no default limit).
 */
export function confinement(spec: ResolvedSpec, memoryLimitFactor: number | false): ConfinementConfig {
  const { noNewPrivileges = true, addCapabilities, dropCapabilities, pidsLimit } = spec.security;
  const drops = addCapabilities.includes('ALL')
    ? []
    : DEFAULT_DROPPED_CAPABILITIES.filter((name) => !addCapabilities.includes(name));
  const memoryLimitMb = defaultMemoryLimitMb(spec, memoryLimitFactor);
  return {
    SecurityOpt: noNewPrivileges ? ['no-new-privileges'] : [],
    CapAdd: [...addCapabilities],
    CapDrop: [...new Set([...drops, ...dropCapabilities])],
    // 0 and -1 both mean no limit to the engine; -1 is what it reports for "unlimited".
    PidsLimit: pidsLimit === false ? -1 : (pidsLimit ?? DEFAULT_PIDS_LIMIT),
    ...(memoryLimitMb === undefined ? {} : { Memory: memoryLimitMb * MIB }),
    ...(spec.memoryReservationMb === undefined ? {} : { MemoryReservation: spec.memoryReservationMb * MIB }),
  };
}

function defaultMemoryLimitMb(spec: ResolvedSpec, factor: number | false): number | undefined {
  if (spec.memoryLimitMb !== undefined) return spec.memoryLimitMb;
  if (spec.memoryReservationMb === undefined || factor === false) return undefined;
  return Math.max(MIN_MEMORY_LIMIT_MB, Math.ceil(spec.memoryReservationMb * factor));
}
