import { posix } from 'node:path';
import { invalidSpec } from './errors.ts';
import type { InputDelivery } from './input.ts';
import { envInput } from './input.ts';
import type { JsonValue } from './json.ts';
import { type FieldList, refuseUnknownFields } from './known-fields.ts';
import { type ResolvedSecurity, type SecuritySpec, validateSecurity } from './security.ts';

/** When the proxy considers a container ready: its readiness path answers 200. */
export interface ReadinessSpec {
  /** Absolute path probed with GET on the container's port. Default `/`. */
  path?: string;
  /** How long a start may take before the container counts as failed. Default 120000 ms. */
  timeoutMs?: number;
}

/**
 * What to run: one web tool in one container, for one user, with one JSON input.
 *
 * @example
 * ```ts
 * const spec: ContainerSpec = {
 *   name: 'alice-viewer',
 *   image: 'nginx:1.27-alpine',
 *   input: { files: ['https://example.org/a.csv'] },
 *   inputs: [fileInput('/usr/share/nginx/html/input.json')],
 *   port: 80,
 *   memoryReservationMb: 64,
 *   owner: 'alice',
 * };
 * ```
 */
export interface ContainerSpec {
  /**
   * Container name, also its routing key: usable both as a Docker name and as a DNS label
   * (lowercase letters, digits and hyphens, at most 63 characters, no hyphen at either end).
   */
  name: string;
  /** Image reference; without a tag or digest it means `:latest`. */
  image: string;
  /** Command to run instead of the image's default, as an argv array. */
  command?: readonly string[];
  /** The tool's input, handed over by every delivery in {@link ContainerSpec.inputs}. */
  input?: JsonValue;
  /**
   * How the input reaches the container; several may be combined. Default: `[envInput()]`
   * when `input` is set, none otherwise.
   */
  inputs?: readonly InputDelivery[];
  /** The TCP port the tool listens on inside the container. Default 80. */
  port?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Extra labels (Docker) or tags (ECS). Keys starting with `dde.` are reserved. */
  labels?: Record<string, string>;
  /**
   * Absolute paths in the container, each backed by a fresh volume that is removed together
   * with the container (scratch space for the tool).
   */
  extraDirectories?: readonly string[];
  /** CPU limit, in cores (0.5 is half a core). */
  cpus?: number;
  /** Memory the container is expected to use, in MB: what capacity planning counts. */
  memoryReservationMb?: number;
  /**
   * Hard memory limit in MB; at least the reservation. When only a reservation is given, the
   * backend may set a limit of its own so that one tool cannot take the host's memory (the
   * Docker backend: four times the reservation); give a limit here to choose it yourself.
   */
  memoryLimitMb?: number;
  /**
   * Hardening overrides (no-new-privileges, capabilities, process limit); each field left out
   * keeps the backend's hardened default.
   */
  security?: SecuritySpec;
  /** Opaque id of the user the container belongs to (for authorization and per-owner limits). */
  owner?: string;
  /** When the tool counts as ready. */
  readiness?: ReadinessSpec;
}

/** A {@link ContainerSpec} after validation, with every default applied. */
export interface ResolvedSpec {
  /** See {@link ContainerSpec.name}. */
  readonly name: string;
  /** See {@link ContainerSpec.image}; always with a tag or digest. */
  readonly image: string;
  /** See {@link ContainerSpec.command}. */
  readonly command: readonly string[] | undefined;
  /** See {@link ContainerSpec.input}. */
  readonly input: JsonValue | undefined;
  /** See {@link ContainerSpec.inputs}. */
  readonly inputs: readonly InputDelivery[];
  /** See {@link ContainerSpec.port}. */
  readonly port: number;
  /** See {@link ContainerSpec.env}. */
  readonly env: Readonly<Record<string, string>>;
  /** See {@link ContainerSpec.labels}. */
  readonly labels: Readonly<Record<string, string>>;
  /** See {@link ContainerSpec.extraDirectories}; normalized. */
  readonly extraDirectories: readonly string[];
  /** See {@link ContainerSpec.cpus}. */
  readonly cpus: number | undefined;
  /** See {@link ContainerSpec.memoryReservationMb}. */
  readonly memoryReservationMb: number | undefined;
  /** See {@link ContainerSpec.memoryLimitMb}. */
  readonly memoryLimitMb: number | undefined;
  /** See {@link ContainerSpec.security}; fields left out are undefined or empty. */
  readonly security: ResolvedSecurity;
  /** See {@link ContainerSpec.owner}. */
  readonly owner: string | undefined;
  /** See {@link ContainerSpec.readiness}. */
  readonly readiness: Readonly<Required<ReadinessSpec>>;
}

/** Default readiness timeout: slow tools (a JVM, a notebook) take a minute to answer. */
export const DEFAULT_READINESS_TIMEOUT_MS = 120_000;

const NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Docker's reference grammar, simplified: optional registry host[:port], path components,
// optional tag, optional digest. Uppercase is refused in repositories, as Docker does.
const IMAGE =
  /^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$/;
const MAX_OWNER_LENGTH = 256;
const MAX_CPUS = 1024;
const MAX_MEMORY_MB = 16 * 1024 * 1024;
// The engine refuses limits below 6 MB.
const MIN_MEMORY_LIMIT_MB = 6;

const SPEC_FIELDS: FieldList<ContainerSpec> = {
  name: true,
  image: true,
  command: true,
  input: true,
  inputs: true,
  port: true,
  env: true,
  labels: true,
  extraDirectories: true,
  cpus: true,
  memoryReservationMb: true,
  memoryLimitMb: true,
  security: true,
  owner: true,
  readiness: true,
};

const READINESS_FIELDS: FieldList<ReadinessSpec> = { path: true, timeoutMs: true };

/**
 * Validates a spec and applies defaults. Throws a `DdeError` with code `INVALID_SPEC` whose
 * `field` names the first offending field and whose message says how to fix it.
 */
export function validateSpec(spec: ContainerSpec): ResolvedSpec {
  if (typeof spec !== 'object' || spec === null) throw invalidSpec('spec', 'must be an object');
  refuseUnknownFields(spec, SPEC_FIELDS, 'a container spec', invalidSpec);
  validateName(spec.name);
  const image = normalizeImage(spec.image);
  const command = validateCommand(spec.command);
  const input = validateInput(spec.input);
  const port = spec.port ?? 80;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidSpec('port', `must be an integer from 1 to 65535, got ${String(port)}`);
  }
  const env = validateRecord('env', spec.env, (key) => {
    if (!ENV_NAME.test(key)) {
      throw invalidSpec(
        `env.${key}`,
        'is not a valid variable name: use letters, digits and _, not starting with a digit',
      );
    }
  });
  const labels = validateRecord('labels', spec.labels, (key) => {
    if (key.length === 0) throw invalidSpec('labels', 'has an empty key');
    if (key.startsWith('dde.'))
      throw invalidSpec(`labels.${key}`, 'uses the reserved prefix "dde.": choose another key');
  });
  const extraDirectories = validateDirectories(spec.extraDirectories);
  const cpus = optionalNumber('cpus', spec.cpus, { min: 0.01, max: MAX_CPUS, integer: false, unit: 'cores' });
  const memoryReservationMb = optionalNumber('memoryReservationMb', spec.memoryReservationMb, {
    min: 1,
    max: MAX_MEMORY_MB,
    integer: true,
    unit: 'MB',
  });
  const memoryLimitMb = optionalNumber('memoryLimitMb', spec.memoryLimitMb, {
    min: MIN_MEMORY_LIMIT_MB,
    max: MAX_MEMORY_MB,
    integer: true,
    unit: 'MB',
  });
  if (
    memoryLimitMb !== undefined &&
    memoryReservationMb !== undefined &&
    memoryLimitMb < memoryReservationMb
  ) {
    throw invalidSpec(
      'memoryLimitMb',
      `(${memoryLimitMb}) must be at least memoryReservationMb (${memoryReservationMb}): raise the limit or lower the reservation`,
    );
  }
  const security = validateSecurity(spec.security);
  const owner = validateOwner(spec.owner);
  const readiness = validateReadiness(spec.readiness);
  const inputs = validateDeliveries(spec.inputs, input);
  return {
    name: spec.name,
    image,
    command,
    input,
    inputs,
    port,
    env,
    labels,
    extraDirectories,
    cpus,
    memoryReservationMb,
    memoryLimitMb,
    security,
    owner,
    readiness,
  };
}

/** Throws `INVALID_SPEC` (field `name`) unless `name` is a valid container name. */
export function validateName(name: unknown, field = 'name'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0)
    throw invalidSpec(field, 'is required: a non-empty string');
  if (name.length > 63)
    throw invalidSpec(field, `must be at most 63 characters (DNS label), got ${name.length}`);
  if (!NAME.test(name)) {
    throw invalidSpec(
      field,
      `"${name}" must be lowercase letters, digits and hyphens, starting and ending with a letter or digit (usable as a Docker name and a DNS label)`,
    );
  }
}

/** Whether `name` is a valid container name (see {@link ContainerSpec.name}). */
export function isValidName(name: string): boolean {
  return name.length <= 63 && NAME.test(name);
}

/**
 * Normalizes an image reference the way Docker does: no tag and no digest means `:latest`.
 * Throws `INVALID_SPEC` (field `image`) for a malformed reference.
 */
export function normalizeImage(image: unknown): string {
  if (typeof image !== 'string' || image.length === 0) {
    throw invalidSpec('image', 'is required: an image reference such as "nginx:1.27-alpine"');
  }
  if (image.length > 4096 || !IMAGE.test(image)) {
    throw invalidSpec(
      'image',
      `"${image}" is not a valid image reference (e.g. "nginx:1.27-alpine" or "registry:5000/team/tool:2")`,
    );
  }
  if (image.includes('@')) return image;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? image : `${image}:latest`;
}

function validateCommand(command: unknown): readonly string[] | undefined {
  if (command === undefined) return undefined;
  if (!Array.isArray(command) || command.length === 0) {
    throw invalidSpec('command', 'must be a non-empty array of strings (argv), e.g. ["httpd", "-f"]');
  }
  command.forEach((arg, index) => {
    if (typeof arg !== 'string') throw invalidSpec(`command[${index}]`, 'must be a string');
  });
  return [...command];
}

function validateInput(input: unknown): JsonValue | undefined {
  if (input === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw invalidSpec('input', `must be JSON-serializable: ${(error as Error).message}`);
  }
  if (text === undefined) throw invalidSpec('input', 'must be JSON-serializable (got a function or symbol)');
  return input as JsonValue;
}

function validateRecord(
  field: string,
  value: unknown,
  checkKey: (key: string) => void,
): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidSpec(field, 'must be an object of string values');
  }
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    checkKey(key);
    if (typeof entry !== 'string')
      throw invalidSpec(`${field}.${key}`, `must be a string, got ${typeof entry}`);
    if (entry.includes('\0')) throw invalidSpec(`${field}.${key}`, 'must not contain a NUL character');
    result[key] = entry;
  }
  return result;
}

/** Validates an absolute container path; returns it normalized (no trailing slash, no dot segments). */
export function validateContainerPath(field: string, path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw invalidSpec(
      field,
      `must be an absolute path in the container (starting with "/"), got ${JSON.stringify(path)}`,
    );
  }
  if (path.includes('\0')) throw invalidSpec(field, 'must not contain a NUL character');
  if (path.split('/').includes('..'))
    throw invalidSpec(field, `must not contain ".." segments, got "${path}"`);
  const normalized = posix.normalize(path).replace(/\/+$/, '');
  if (normalized === '') throw invalidSpec(field, 'must not be the root directory "/"');
  return normalized;
}

function validateDirectories(directories: unknown): readonly string[] {
  if (directories === undefined) return [];
  if (!Array.isArray(directories))
    throw invalidSpec('extraDirectories', 'must be an array of absolute paths');
  const seen = new Set<string>();
  return directories.map((directory, index) => {
    const path = validateContainerPath(`extraDirectories[${index}]`, directory);
    if (seen.has(path)) throw invalidSpec(`extraDirectories[${index}]`, `repeats "${path}"`);
    seen.add(path);
    return path;
  });
}

function optionalNumber(
  field: string,
  value: unknown,
  range: { min: number; max: number; integer: boolean; unit: string },
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidSpec(field, `must be a finite number of ${range.unit}, got ${String(value)}`);
  }
  if (range.integer && !Number.isInteger(value)) {
    throw invalidSpec(field, `must be a whole number of ${range.unit}, got ${value}`);
  }
  if (value < range.min || value > range.max) {
    throw invalidSpec(field, `must be from ${range.min} to ${range.max} ${range.unit}, got ${value}`);
  }
  return value;
}

function validateOwner(owner: unknown): string | undefined {
  if (owner === undefined) return undefined;
  if (typeof owner !== 'string' || owner.length === 0)
    throw invalidSpec('owner', 'must be a non-empty string');
  if (owner.length > MAX_OWNER_LENGTH) {
    throw invalidSpec('owner', `must be at most ${MAX_OWNER_LENGTH} characters (it is stored in a label)`);
  }
  if (/[\0\r\n]/.test(owner)) throw invalidSpec('owner', 'must not contain NUL or line breaks');
  return owner;
}

function validateReadiness(readiness: unknown): Readonly<Required<ReadinessSpec>> {
  if (readiness === undefined) return { path: '/', timeoutMs: DEFAULT_READINESS_TIMEOUT_MS };
  if (typeof readiness !== 'object' || readiness === null) {
    throw invalidSpec('readiness', 'must be an object like { path: "/", timeoutMs: 60000 }');
  }
  refuseUnknownFields(readiness, READINESS_FIELDS, 'readiness', invalidSpec, 'readiness.');
  const { path = '/', timeoutMs = DEFAULT_READINESS_TIMEOUT_MS } = readiness as ReadinessSpec;
  if (typeof path !== 'string' || !/^\/[\x21-\x22\x24-\x7e]*$/.test(path)) {
    throw invalidSpec(
      'readiness.path',
      `must be an absolute URL path such as "/" or "/health" (no spaces or #; percent-encode other characters), got ${JSON.stringify(path)}`,
    );
  }
  const timeout = optionalNumber('readiness.timeoutMs', timeoutMs, {
    min: 1,
    max: 24 * 60 * 60 * 1000,
    integer: true,
    unit: 'ms',
  });
  return { path, timeoutMs: timeout ?? DEFAULT_READINESS_TIMEOUT_MS };
}

function validateDeliveries(inputs: unknown, input: JsonValue | undefined): readonly InputDelivery[] {
  if (inputs === undefined) return input === undefined ? [] : [envInput()];
  if (!Array.isArray(inputs)) {
    throw invalidSpec(
      'inputs',
      'must be an array of deliveries such as [envInput(), fileInput("/input.json")]',
    );
  }
  inputs.forEach((delivery, index) => {
    if (typeof delivery !== 'object' || delivery === null || typeof delivery.plan !== 'function') {
      throw invalidSpec(
        `inputs[${index}]`,
        'must be a delivery made by envInput(), fileInput() or urlInput()',
      );
    }
  });
  const needsJson = inputs.some((delivery: InputDelivery) => delivery.kind !== 'url');
  if (needsJson && input === undefined) {
    throw invalidSpec(
      'input',
      'is required by the env and file deliveries: set input, or use urlInput() only',
    );
  }
  return [...inputs];
}
