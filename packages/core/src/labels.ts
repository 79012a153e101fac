import { createHash } from 'node:crypto';
import { invalidOption } from './errors.ts';
import { DEFAULT_SECURITY } from './security.ts';
import type { ResolvedSpec } from './spec.ts';

/**
 * Label keys (Docker labels, ECS tags) dde writes on every container it launches. They are the
 * durable source of truth: a restarted proxy rebuilds its world from them.
 */
export const LABELS = {
  /** Always `"true"`: the container is managed by dde. */
  managed: 'dde.managed',
  /** The namespace (instance) that owns the container, so several apps can share an engine. */
  namespace: 'dde.namespace',
  /** The port the tool listens on inside the container. */
  port: 'dde.port',
  /** Memory reservation in MB, counted by capacity planning. */
  memoryReservationMb: 'dde.memory-reservation-mb',
  /** Memory limit in MB. */
  memoryLimitMb: 'dde.memory-limit-mb',
  /** CPU limit in cores. */
  cpus: 'dde.cpus',
  /** The owner (user id) of the container. */
  owner: 'dde.owner',
  /** Hash of the spec, to tell whether a running container matches a requested one. */
  specHash: 'dde.spec-hash',
  /** Readiness path probed by the proxy. */
  readinessPath: 'dde.readiness-path',
  /** Readiness timeout in ms. */
  readinessTimeoutMs: 'dde.readiness-timeout-ms',
} as const;

/** The namespace used when none is configured. */
export const DEFAULT_NAMESPACE = 'default';

const NAMESPACE = /^[a-z0-9](?:[a-z0-9_.-]{0,62})$/;

/**
 * Throws `INVALID_OPTION` (field `namespace`) unless `namespace` is a short label-safe string
 * (lowercase letters, digits, `_`, `.`, `-`, at most 63 characters).
 */
export function validateNamespace(namespace: string): string {
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw invalidOption(
      'namespace',
      `"${String(namespace)}" must be 1-63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit`,
    );
  }
  return namespace;
}

/** The label filter that selects the containers of one namespace, as `key=value` strings. */
export function namespaceFilter(namespace: string): string[] {
  return [`${LABELS.managed}=true`, `${LABELS.namespace}=${namespace}`];
}

/** The labels dde writes for a spec: the user's labels plus dde's own. */
export function labelsFor(spec: ResolvedSpec, namespace: string): Record<string, string> {
  const labels: Record<string, string> = {
    ...spec.labels,
    [LABELS.managed]: 'true',
    [LABELS.namespace]: namespace,
    [LABELS.port]: String(spec.port),
    [LABELS.specHash]: specHash(spec),
    [LABELS.readinessPath]: spec.readiness.path,
    [LABELS.readinessTimeoutMs]: String(spec.readiness.timeoutMs),
  };
  if (spec.memoryReservationMb !== undefined)
    labels[LABELS.memoryReservationMb] = String(spec.memoryReservationMb);
  if (spec.memoryLimitMb !== undefined) labels[LABELS.memoryLimitMb] = String(spec.memoryLimitMb);
  if (spec.cpus !== undefined) labels[LABELS.cpus] = String(spec.cpus);
  if (spec.owner !== undefined) labels[LABELS.owner] = spec.owner;
  return labels;
}

/** What dde's labels say about a container. */
export interface ManagedLabels {
  /** See {@link LABELS.namespace}. */
  namespace: string;
  /** See {@link LABELS.port}. */
  port: number;
  /** See {@link LABELS.owner}. */
  owner: string | undefined;
  /** See {@link LABELS.memoryReservationMb}. */
  memoryReservationMb: number | undefined;
  /** See {@link LABELS.memoryLimitMb}. */
  memoryLimitMb: number | undefined;
  /** See {@link LABELS.cpus}. */
  cpus: number | undefined;
  /** See {@link LABELS.specHash}. */
  specHash: string;
  /** See {@link LABELS.readinessPath}. */
  readinessPath: string;
  /** See {@link LABELS.readinessTimeoutMs}. */
  readinessTimeoutMs: number;
  /** The user's own labels, without dde's. */
  userLabels: Record<string, string>;
}

/**
 * Reads dde's labels back. Returns undefined for a container dde does not manage (missing or
 * malformed labels), so such a container is never treated as one of ours.
 */
export function parseLabels(labels: Readonly<Record<string, string>> | undefined): ManagedLabels | undefined {
  if (labels?.[LABELS.managed] !== 'true') return undefined;
  const namespace = labels[LABELS.namespace];
  const port = Number(labels[LABELS.port]);
  if (!namespace || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  const userLabels: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith('dde.')) userLabels[key] = value;
  }
  const timeout = Number(labels[LABELS.readinessTimeoutMs]);
  return {
    namespace,
    port,
    owner: labels[LABELS.owner],
    memoryReservationMb: optionalNumber(labels[LABELS.memoryReservationMb]),
    memoryLimitMb: optionalNumber(labels[LABELS.memoryLimitMb]),
    cpus: optionalNumber(labels[LABELS.cpus]),
    specHash: labels[LABELS.specHash] ?? '',
    readinessPath: labels[LABELS.readinessPath] ?? '/',
    readinessTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 120_000,
    userLabels,
  };
}

/**
 * A stable hash of everything that defines a container (input included, deliveries by their
 * description), so two specs with the same hash launch equivalent containers.
 */
export function specHash(spec: ResolvedSpec): string {
  const canonical = canonicalJson({
    image: spec.image,
    command: spec.command ?? null,
    input: spec.input ?? null,
    inputs: spec.inputs.map((delivery) => delivery.description),
    port: spec.port,
    env: spec.env,
    labels: spec.labels,
    extraDirectories: spec.extraDirectories,
    cpus: spec.cpus ?? null,
    memoryReservationMb: spec.memoryReservationMb ?? null,
    memoryLimitMb: spec.memoryLimitMb ?? null,
    owner: spec.owner ?? null,
    readiness: spec.readiness,
    // Only when overridden, so that specs without it keep the hash they had before it existed.
    ...(isDefaultSecurity(spec) ? {} : { security: spec.security }),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

function isDefaultSecurity(spec: ResolvedSpec): boolean {
  const { noNewPrivileges, addCapabilities, dropCapabilities, pidsLimit } = spec.security;
  return (
    noNewPrivileges === DEFAULT_SECURITY.noNewPrivileges &&
    pidsLimit === DEFAULT_SECURITY.pidsLimit &&
    addCapabilities.length === 0 &&
    dropCapabilities.length === 0
  );
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function optionalNumber(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}
