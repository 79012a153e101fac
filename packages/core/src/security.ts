import { invalidSpec } from './errors.ts';
import { type FieldList, refuseUnknownFields } from './known-fields.ts';

/**
 * What an untrusted tool may do inside its container (Linux). Every field is optional: the
 * backend applies hardened defaults (see its README; the Docker backend sets no-new-privileges,
 * drops the capabilities web tools never need and caps processes), and a field set here
 * overrides that one default only.
 *
 * @example
 * ```ts
 * // A tool that pings hosts and runs many worker processes:
 * const security: SecuritySpec = { addCapabilities: ['NET_RAW'], pidsLimit: 4096 };
 * ```
 */
export interface SecuritySpec {
  /**
   * Whether processes may never gain privileges (setuid binaries, file capabilities), the
   * kernel's `no_new_privs`. Default `true`; `false` for a tool that needs `sudo` or `su`.
   */
  noNewPrivileges?: boolean;
  /**
   * Linux capabilities to grant beyond the backend's default set, such as `NET_RAW` (raw
   * sockets: ping, ARP) or one the backend drops by default. Names as in capabilities(7), with
   * or without the `CAP_` prefix; `ALL` grants every capability.
   */
  addCapabilities?: readonly string[];
  /** Linux capabilities to take away besides the backend's default drops; `ALL` drops every one. */
  dropCapabilities?: readonly string[];
  /**
   * The most processes and threads the container may run at once, so that a fork bomb stays
   * inside its container. A whole number from 1, or `false` for no limit. Default: the
   * backend's (1024 on Docker).
   */
  pidsLimit?: number | false;
}

/** A {@link SecuritySpec} after validation: capability names upper-case, without `CAP_`. */
export interface ResolvedSecurity {
  /** See {@link SecuritySpec.noNewPrivileges}; undefined means the backend's default. */
  readonly noNewPrivileges: boolean | undefined;
  /** See {@link SecuritySpec.addCapabilities}. */
  readonly addCapabilities: readonly string[];
  /** See {@link SecuritySpec.dropCapabilities}. */
  readonly dropCapabilities: readonly string[];
  /** See {@link SecuritySpec.pidsLimit}; undefined means the backend's default. */
  readonly pidsLimit: number | false | undefined;
}

/** Every Linux capability (capabilities(7)), without the `CAP_` prefix. */
export const LINUX_CAPABILITIES: readonly string[] = [
  'AUDIT_CONTROL',
  'AUDIT_READ',
  'AUDIT_WRITE',
  'BLOCK_SUSPEND',
  'BPF',
  'CHECKPOINT_RESTORE',
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'IPC_LOCK',
  'IPC_OWNER',
  'KILL',
  'LEASE',
  'LINUX_IMMUTABLE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
  'MKNOD',
  'NET_ADMIN',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_RAW',
  'PERFMON',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_CHROOT',
  'SYS_MODULE',
  'SYS_NICE',
  'SYS_PACCT',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'SYSLOG',
  'WAKE_ALARM',
];

const KNOWN_CAPABILITIES: ReadonlySet<string> = new Set([...LINUX_CAPABILITIES, 'ALL']);
// The kernel's pid_max ceiling: a larger limit means nothing.
const MAX_PIDS = 4_194_304;

const SECURITY_FIELDS: FieldList<SecuritySpec> = {
  noNewPrivileges: true,
  addCapabilities: true,
  dropCapabilities: true,
  pidsLimit: true,
};

/** Nothing overridden: every field is the backend's default. */
export const DEFAULT_SECURITY: ResolvedSecurity = {
  noNewPrivileges: undefined,
  addCapabilities: [],
  dropCapabilities: [],
  pidsLimit: undefined,
};

/** Validates `spec.security`; throws `INVALID_SPEC` naming the field (`security.pidsLimit`, …). */
export function validateSecurity(security: unknown): ResolvedSecurity {
  if (security === undefined) return DEFAULT_SECURITY;
  if (typeof security !== 'object' || security === null || Array.isArray(security)) {
    throw invalidSpec('security', 'must be an object such as { addCapabilities: ["NET_RAW"] }');
  }
  refuseUnknownFields(security, SECURITY_FIELDS, 'security', invalidSpec, 'security.');
  const { noNewPrivileges, pidsLimit } = security as SecuritySpec;
  if (noNewPrivileges !== undefined && typeof noNewPrivileges !== 'boolean') {
    throw invalidSpec('security.noNewPrivileges', `must be true or false, got ${String(noNewPrivileges)}`);
  }
  if (
    pidsLimit !== undefined &&
    pidsLimit !== false &&
    (typeof pidsLimit !== 'number' || !Number.isInteger(pidsLimit) || pidsLimit < 1 || pidsLimit > MAX_PIDS)
  ) {
    throw invalidSpec(
      'security.pidsLimit',
      `must be a whole number of processes from 1 to ${MAX_PIDS}, or false for no limit, got ${String(pidsLimit)}`,
    );
  }
  const addCapabilities = capabilityList('addCapabilities', (security as SecuritySpec).addCapabilities);
  const dropCapabilities = capabilityList('dropCapabilities', (security as SecuritySpec).dropCapabilities);
  const both = addCapabilities.find((name) => dropCapabilities.includes(name));
  if (both !== undefined) {
    throw invalidSpec(
      'security.dropCapabilities',
      `and security.addCapabilities both name ${both}: keep it in one of them`,
    );
  }
  return { noNewPrivileges, addCapabilities, dropCapabilities, pidsLimit };
}

function capabilityList(key: string, value: unknown): readonly string[] {
  const field = `security.${key}`;
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw invalidSpec(field, 'must be an array of capability names such as ["NET_RAW"]');
  const names: string[] = [];
  value.forEach((entry, index) => {
    const name = typeof entry === 'string' ? entry.toUpperCase().replace(/^CAP_/, '') : undefined;
    if (name === undefined || !KNOWN_CAPABILITIES.has(name)) {
      throw invalidSpec(
        `${field}[${index}]`,
        `${JSON.stringify(entry)} is not a Linux capability: use a name from capabilities(7) such as NET_RAW or SYS_PTRACE, or ALL`,
      );
    }
    if (!names.includes(name)) names.push(name);
  });
  return names;
}
