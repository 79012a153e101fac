import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidOption } from '@dde/core';

/** Where dde-aws keeps local state (client certificates) unless told otherwise: `~/.dde/aws`. */
export function defaultStateDir(): string {
  return join(homedir(), '.dde', 'aws');
}

/** A host's or setup's dde name: it becomes part of stack, cluster and role names. */
export function validateName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !/^(?:[a-z0-9]|[a-z0-9][a-z0-9-]{0,30}[a-z0-9])$/.test(name)) {
    throw invalidOption(
      field,
      'must be 1 to 32 lowercase letters, digits or inner hyphens (it names the stack)',
    );
  }
  return name;
}

/** An IPv4 CIDR that is not the whole internet. */
export function validateCidr(cidr: unknown, field: string): string {
  const match =
    typeof cidr === 'string' ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr) : null;
  if (
    match === null ||
    match.slice(1, 5).some((octet) => Number(octet) > 255) ||
    Number(match[5]) > 32 ||
    Number(match[5]) === 0
  ) {
    throw invalidOption(
      field,
      'must be an IPv4 CIDR narrower than the whole internet, such as 203.0.113.7/32 (your address: curl https://checkip.amazonaws.com)',
    );
  }
  return cidr as string;
}

/** An inclusive range of TCP ports. */
export interface PortRange {
  /** The first port. */
  readonly from: number;
  /** The last port. */
  readonly to: number;
}

/** A port range `{ from, to }` within `min`..65535. */
export function validatePortRange(range: unknown, field: string, min: number): PortRange {
  const { from, to } = (range ?? {}) as { from?: unknown; to?: unknown };
  const valid = (port: unknown): port is number =>
    Number.isInteger(port) && (port as number) >= min && (port as number) <= 65535;
  if (typeof range !== 'object' || range === null || !valid(from) || !valid(to) || from > to) {
    throw invalidOption(field, `must be { from, to } with ${min} <= from <= to <= 65535`);
  }
  return { from, to };
}

/** Extra tags: at most 40 (AWS allows 50; dde adds three), keys not starting with `aws:` or `dde:`. */
export function validateTags(tags: unknown, field = 'tags'): Readonly<Record<string, string>> {
  if (tags === undefined) return {};
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) {
    throw invalidOption(field, 'must be an object of string values, such as { team: "genomics" }');
  }
  const entries = Object.entries(tags);
  if (entries.length > 40) throw invalidOption(field, 'may hold at most 40 tags');
  for (const [key, value] of entries) {
    if (typeof value !== 'string' || value.length > 256) {
      throw invalidOption(`${field}.${key}`, 'must be a string of at most 256 characters');
    }
    if (/^(aws|dde):/i.test(key) || key.length > 128) {
      throw invalidOption(
        `${field}.${key}`,
        'must be at most 128 characters and not start with aws: or dde:',
      );
    }
  }
  return tags as Record<string, string>;
}

/** A positive whole number of milliseconds. */
export function validateInterval(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1)
    throw invalidOption(field, 'must be a positive whole number of ms');
  return value as number;
}
