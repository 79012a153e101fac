import { DdeError, invalidSpec } from './errors.ts';
import { validateContainerPath } from './spec.ts';

/**
 * Linux refuses any single environment string (`NAME=value` plus its NUL) longer than
 * MAX_ARG_STRLEN, 32 pages of 4 KiB: the container would fail to start with E2BIG.
 */
export const MAX_ENV_STRING_BYTES: number = 128 * 1024;

/** What a delivery needs from the container before its process starts. */
export interface InputPlan {
  /** Environment variables to set. */
  readonly env: Readonly<Record<string, string>>;
  /** Files to place in the container's filesystem. */
  readonly files: readonly PlannedFile[];
}

/** One file placed in the container before it starts. */
export interface PlannedFile {
  /** Absolute path in the container; missing parent directories are created. */
  readonly path: string;
  /** File content. */
  readonly content: Uint8Array;
  /** Permission bits, e.g. `0o644`. */
  readonly mode: number;
}

/** What a delivery is given to plan from. */
export interface InputContext {
  /** The container's name. */
  readonly name: string;
  /** The input serialized as JSON, or undefined when the spec has no input. */
  readonly json: string | undefined;
}

/**
 * One way of handing the input JSON to a container. Combine several in
 * {@link ContainerSpec.inputs}; make them with {@link envInput}, {@link fileInput} and
 * {@link urlInput}.
 */
export interface InputDelivery {
  /** Which kind of delivery this is. */
  readonly kind: 'env' | 'file' | 'url';
  /** Whether the backend must be able to place files ({@link BackendCapabilities.placesFiles}). */
  readonly needsFilePlacement: boolean;
  /** Describes the delivery for messages, e.g. `file /data/input.json`. */
  readonly description: string;
  /** Plans the delivery; throws a `DdeError` when the input does not fit it. */
  plan(context: InputContext): InputPlan;
}

/** Options of {@link envInput}. */
export interface EnvInputOptions {
  /** Variable that holds the JSON. Default `INPUT_JSON`. */
  variable?: string;
}

/**
 * Delivers the input JSON in an environment variable (`INPUT_JSON` by default). Inputs larger
 * than one environment string may hold ({@link MAX_ENV_STRING_BYTES}) are refused with
 * `INPUT_TOO_LARGE` before anything is created: use {@link fileInput} or {@link urlInput}.
 */
export function envInput(options: EnvInputOptions = {}): InputDelivery {
  const variable = checkVariable(options.variable ?? 'INPUT_JSON');
  return {
    kind: 'env',
    needsFilePlacement: false,
    description: `env ${variable}`,
    plan({ json }) {
      const text = requireJson(json, 'envInput()');
      // `NAME=value` plus the terminating NUL must fit in one kernel string.
      const bytes = Buffer.byteLength(variable) + 1 + Buffer.byteLength(text) + 1;
      if (bytes > MAX_ENV_STRING_BYTES) {
        throw new DdeError(
          'INPUT_TOO_LARGE',
          `Input JSON is ${Buffer.byteLength(text)} bytes, too large for the environment variable ${variable}: ` +
            `Linux limits one environment string to ${MAX_ENV_STRING_BYTES} bytes. ` +
            'Deliver it as a file with fileInput(path), or host it and pass urlInput(url).',
          { field: 'input' },
        );
      }
      return { env: { [variable]: text }, files: [] };
    },
  };
}

/** Options of {@link fileInput}. */
export interface FileInputOptions {
  /** Permission bits of the file. Default `0o644`. */
  mode?: number;
  /** Also set this environment variable to the file's path, so the tool can find it. */
  pathVariable?: string;
}

/**
 * Writes the input JSON to `path` inside the container before its process starts. Works on
 * remote engines too (the file travels through the engine API, not a shared disk).
 */
export function fileInput(path: string, options: FileInputOptions = {}): InputDelivery {
  const target = validateContainerPath('fileInput(path)', path);
  const mode = options.mode ?? 0o644;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidSpec(
      'fileInput(mode)',
      `must be permission bits such as 0o644, got ${String(options.mode)}`,
    );
  }
  const pathVariable = options.pathVariable === undefined ? undefined : checkVariable(options.pathVariable);
  return {
    kind: 'file',
    needsFilePlacement: true,
    description: `file ${target}`,
    plan({ json }) {
      const content = Buffer.from(requireJson(json, 'fileInput()'));
      return {
        env: pathVariable ? { [pathVariable]: target } : {},
        files: [{ path: target, content, mode }],
      };
    },
  };
}

/** Options of {@link urlInput}. */
export interface UrlInputOptions {
  /** Variable that holds the URL. Default `INPUT_JSON_URL`. */
  variable?: string;
}

/**
 * Passes the URL of input the caller has already made available, in `INPUT_JSON_URL`. Hosting
 * the data, access to it and its clean-up are the caller's. `url` may be a function of the
 * container's name, for per-container URLs.
 */
export function urlInput(
  url: string | ((name: string) => string),
  options: UrlInputOptions = {},
): InputDelivery {
  const variable = checkVariable(options.variable ?? 'INPUT_JSON_URL');
  if (typeof url === 'string') checkUrl(url);
  return {
    kind: 'url',
    needsFilePlacement: false,
    description: `url in ${variable}`,
    plan({ name }) {
      const value = typeof url === 'string' ? url : checkUrl(url(name));
      return { env: { [variable]: value }, files: [] };
    },
  };
}

/**
 * Combines the plans of several deliveries. Throws `INVALID_SPEC` when two deliveries set the
 * same variable or write the same path.
 */
export function planInputs(deliveries: readonly InputDelivery[], context: InputContext): InputPlan {
  const env: Record<string, string> = {};
  const files: PlannedFile[] = [];
  for (const [index, delivery] of deliveries.entries()) {
    const plan = delivery.plan(context);
    for (const [key, value] of Object.entries(plan.env)) {
      if (key in env)
        throw invalidSpec(`inputs[${index}]`, `sets ${key}, which another delivery already sets`);
      env[key] = value;
    }
    for (const file of plan.files) {
      if (files.some((other) => other.path === file.path)) {
        throw invalidSpec(`inputs[${index}]`, `writes ${file.path}, which another delivery already writes`);
      }
      files.push(file);
    }
  }
  return { env, files };
}

function requireJson(json: string | undefined, delivery: string): string {
  if (json === undefined) throw invalidSpec('input', `is required by ${delivery}`);
  return json;
}

function checkVariable(variable: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw invalidSpec('inputs', `variable "${variable}" is not a valid environment variable name`);
  }
  return variable;
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidSpec('urlInput(url)', `"${url}" is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidSpec('urlInput(url)', `must be an http or https URL, got "${parsed.protocol}"`);
  }
  return url;
}
