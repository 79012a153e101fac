/**
 * Turns a launch form into a running tool: checks the choice (tool, data file, name) before
 * anything is created, builds the input JSON (file links, parameters, the public URL), then in
 * the background builds the tool's image when missing, has the container manager launch the
 * container (the manager enforces the memory budget, evicting idle containers, and the limits)
 * and waits for it to answer. Each launch is a {@link LaunchJob} the please-wait page follows.
 */
import { randomBytes } from 'node:crypto';
import type {
  ContainerManager,
  ContainerSpec,
  InputDelivery,
  JsonValue,
  PhaseChange,
  Router,
} from '@dde/core';
import { DdeError, envInput, fileInput, isDdeError, urlInput, validateName } from '@dde/core';
import type { DataFile, DataFiles } from '../data/files.ts';
import type { DataServer } from '../data/server.ts';
import type { ToolDefinition } from '../tools/catalog.ts';
import { findTool } from '../tools/catalog.ts';
import type { ToolImages } from '../tools/images.ts';
import { TOOL_PORT } from '../tools/images.ts';
import { FormError } from '../web/form-error.ts';
import { LaunchJob } from './job.ts';

/** How the input JSON reaches the container. */
export type DeliveryKind = 'env' | 'file' | 'url';

/** Where the file delivery puts the input in the container. */
export const INPUT_FILE_PATH = '/input/input.json';

/** Every delivery, in the order the form offers them. */
export const DELIVERIES: readonly {
  readonly kind: DeliveryKind;
  readonly label: string;
  readonly hint: string;
}[] = [
  { kind: 'env', label: 'Environment variable', hint: 'INPUT_JSON' },
  { kind: 'file', label: 'File', hint: `${INPUT_FILE_PATH}, its path in INPUT_JSON_PATH` },
  { kind: 'url', label: 'URL', hint: 'INPUT_JSON_URL, served by the demo' },
];

/** Container labels the demo adds (dde's own labels are separate). */
export const DEMO_LABELS = {
  /** The tool id. */
  tool: 'dde-demo.tool',
  /** The data file's name. */
  file: 'dde-demo.file',
  /** The delivery kind. */
  delivery: 'dde-demo.delivery',
} as const;

/** A launch as the form asks for it (strings, unchecked). */
export interface LaunchRequest {
  /** Tool id. */
  readonly tool: string;
  /** Data file id (for tools that use data). */
  readonly file?: string;
  /** `env`, `file` or `url`. */
  readonly delivery: string;
  /** Container name; empty for a generated one. */
  readonly name?: string;
  /** Form fields named `<tool>.<parameter>`. */
  readonly parameters: Readonly<Record<string, string>>;
}

/** What the launcher needs. */
export interface LauncherOptions {
  /** Runs and tracks the containers. */
  readonly manager: ContainerManager;
  /** Builds the tool images. */
  readonly images: ToolImages;
  /** Data files people can choose. */
  readonly files: DataFiles;
  /** Serves data files and input JSON to containers. */
  readonly data: DataServer;
  /** Builds each container's public URL. */
  readonly router: Router;
  /** Where people open the demo (the path router's URLs start with it). */
  readonly publicOrigin: string;
  /** The manager's cap on containers in all, if any (to word its refusal). */
  readonly maxContainers?: number;
}

const MAX_JOBS = 500;

/** Starts launches and remembers them for the please-wait page and the dashboard. */
export class Launcher {
  readonly #options: LauncherOptions;
  readonly #jobs = new Map<string, LaunchJob>();
  /** What each launch asked for, kept after its container is gone: a relaunch asks for it again. */
  readonly #requests = new Map<string, { readonly request: LaunchRequest; readonly owner: string }>();

  /** @param options - see {@link LauncherOptions}. */
  constructor(options: LauncherOptions) {
    this.#options = options;
    // A container that is gone takes its launch record with it. A launch that failed before
    // its container ran keeps its record: the please-wait page shows why.
    options.manager.on('removed', ({ name }) => {
      if (this.#jobs.get(name)?.containerStarted) this.forget(name);
    });
  }

  /** The launch of that container, while remembered. */
  job(name: string): LaunchJob | undefined {
    return this.#jobs.get(name);
  }

  /** Launches whose container does not exist yet (building the image, or failed before). */
  jobsWithoutContainer(): LaunchJob[] {
    return [...this.#jobs.values()].filter((job) => this.#options.manager.get(job.name) === undefined);
  }

  /**
   * What the launch of `name` asked for, when this demo launched it (since it started) for
   * `owner` (any owner when undefined): a relaunch at the same URL asks for it again.
   */
  relaunchable(name: string, owner?: string): LaunchRequest | undefined {
    const remembered = this.#requests.get(name);
    return remembered && (owner === undefined || remembered.owner === owner) ? remembered.request : undefined;
  }

  /** Forgets a launch and stops serving its input. */
  forget(name: string): void {
    this.#jobs.delete(name);
    this.#options.data.forgetInput(name);
  }

  /**
   * Checks the request and starts the launch in the background; returns its job for the
   * please-wait page to follow. Throws {@link FormError} for a bad choice,
   * `CONFLICT` for a name in use, and the manager's `CAPACITY_EXCEEDED` or `LIMIT_EXCEEDED`
   * (worded for people) when it would refuse the launch, before any image is built; nothing is
   * created then. A refusal that only arises later (other launches took the room meanwhile)
   * shows on the please-wait page instead.
   */
  start(request: LaunchRequest, owner: string): LaunchJob {
    const { manager, files, data, router, publicOrigin } = this.#options;
    const tool = findTool(request.tool);
    if (!tool)
      throw new FormError(
        'tool',
        `There is no tool called "${request.tool.slice(0, 60)}": pick one from the list.`,
      );
    let file: DataFile | undefined;
    if (tool.usesData) {
      if (!request.file)
        throw new FormError('file', `${tool.title} shows a data file: pick one or upload your own.`);
      file = files.get(request.file, owner);
      if (!file) {
        throw new FormError(
          'file',
          'That data file does not exist (any more): pick another one or upload it again.',
          404,
        );
      }
    }
    const delivery = parseDelivery(request.delivery);
    const parameters = parseParameters(tool, request.parameters);
    const name = request.name?.trim() ? request.name.trim() : generatedName(owner, tool);
    try {
      validateName(name, 'name');
    } catch (error) {
      throw new FormError(
        'name',
        `The name ${(error as Error).message.replace(/^Invalid container spec: name /, '')}.`,
      );
    }
    if (this.#jobs.has(name) || manager.get(name)) {
      throw new DdeError(
        'CONFLICT',
        `A container named "${name}" already exists: choose another name, or remove it on the dashboard first.`,
        { field: 'name' },
      );
    }
    const publicUrl = router.publicUrl(name, { origin: publicOrigin });
    const input: JsonValue = {
      tool: tool.id,
      files: file ? [{ name: file.name, url: data.fileUrl(file), bytes: file.bytes }] : [],
      parameters,
      publicUrl,
      basePath: new URL(publicUrl).pathname,
      owner,
    };
    const job = new LaunchJob({
      name,
      tool: tool.id,
      owner,
      fileName: file?.name,
      delivery,
      memoryReservationMb: tool.memoryReservationMb,
      publicUrl,
    });
    const spec: Omit<ContainerSpec, 'image'> = {
      name,
      input,
      inputs: [this.#delivery(delivery, name, input)],
      port: TOOL_PORT,
      memoryReservationMb: tool.memoryReservationMb,
      memoryLimitMb: tool.memoryLimitMb,
      owner,
      labels: {
        [DEMO_LABELS.tool]: tool.id,
        [DEMO_LABELS.file]: file?.name ?? '',
        [DEMO_LABELS.delivery]: delivery,
      },
      readiness: { path: '/', timeoutMs: tool.readinessTimeoutMs },
    };
    // Refuse at once what the manager would refuse, before spending seconds on an image build.
    // Which containers eviction takes is decided again when the image is ready (see #run).
    try {
      manager.checkAdmission({ ...spec, image: this.#options.images.repository(tool) });
    } catch (error) {
      data.forgetInput(name);
      // The manager counts the launches it refuses; this one never reached it.
      if (isDdeError(error)) manager.metrics?.launchFailed(error.code);
      throw this.#refusal(error, tool, owner) ?? error;
    }
    this.#remember(job);
    this.#requests.delete(name); // newest last, for the cap below
    this.#requests.set(name, { request: { ...request, name }, owner });
    if (this.#requests.size > MAX_JOBS) this.#requests.delete(this.#requests.keys().next().value as string);
    job.note(`Launch of ${tool.title} as ${name} requested by ${owner}`);
    void this.#run(job, tool, spec);
    return job;
  }

  #delivery(kind: DeliveryKind, name: string, input: JsonValue): InputDelivery {
    if (kind === 'env') return envInput();
    if (kind === 'file') return fileInput(INPUT_FILE_PATH, { pathVariable: 'INPUT_JSON_PATH' });
    return urlInput(this.#options.data.publishInput(name, JSON.stringify(input)));
  }

  async #run(job: LaunchJob, tool: ToolDefinition, spec: Omit<ContainerSpec, 'image'>): Promise<void> {
    const { manager, images } = this.#options;
    // The manager adds the container's route once it has admitted the launch.
    const admitted = (change: PhaseChange): void => {
      if (change.name !== job.name || job.stage !== 'admission') return;
      job.stage = 'container';
      job.note(`Admitted; creating container ${job.name}`);
    };
    try {
      const image = await images.ensure(tool, (progress) => job.onBuild(progress));
      job.stage = 'admission';
      job.note(`Image ${image} ready; checking the limits and the memory budget`);
      const evicting = manager.checkAdmission({ ...spec, image });
      if (evicting.length > 0) job.note(`Evicting ${evicting.join(', ')} to make room`);
      manager.on('phase', admitted);
      await manager.launch(
        { ...spec, image },
        {
          onProgress: (progress) =>
            job.note(progress.message ?? `Container ${progress.phase.replace('-', ' ')}`),
        },
      );
      manager.off('phase', admitted);
      job.containerStarted = true;
      job.note('Container started; waiting for the tool to answer');
      await manager.waitUntilReady(job.name, {
        signal: AbortSignal.timeout(tool.readinessTimeoutMs + 10_000),
      });
      job.note('The tool answers: ready');
    } catch (error) {
      manager.off('phase', admitted);
      const refusal = this.#refusal(error, tool, job.details.owner);
      const message = refusal?.message ?? (error instanceof Error ? error.message : String(error));
      // A container that ran and then failed keeps its route, whose failure (with its logs) the
      // page shows. One the engine refused to create or start is the launch's failure, whatever
      // the route table still holds: its route goes away with the engine's next events.
      if (job.containerStarted && manager.get(job.name)) job.note(`Failed: ${message}`);
      else job.fail(message);
    }
  }

  /** The manager's refusal of a launch, said for the person who asked; undefined for other errors. */
  #refusal(error: unknown, tool: ToolDefinition, owner: string): DdeError | undefined {
    if (!isDdeError(error)) return undefined;
    const { manager } = this.#options;
    if (error.code === 'CAPACITY_EXCEEDED') {
      const { usedMb, budgetMb } = manager.capacity();
      return new DdeError(
        'CAPACITY_EXCEEDED',
        `Not enough memory: ${tool.title} needs ${tool.memoryReservationMb} MB and ${usedMb} of ${budgetMb} MB are reserved by containers that cannot be evicted (still starting or with an open WebSocket). Remove one on the dashboard and try again.`,
        { cause: error },
      );
    }
    if (error.code === 'LIMIT_EXCEEDED') {
      const { maxContainers } = this.#options;
      if (maxContainers !== undefined && manager.list().length >= maxContainers) {
        return new DdeError(
          'LIMIT_EXCEEDED',
          `Limit reached: the demo already runs ${maxContainers} containers, the most it allows at once. Launch again once some are removed.`,
          { cause: error },
        );
      }
      const owned = manager.list().filter((route) => route.info.owner === owner).length;
      return new DdeError(
        'LIMIT_EXCEEDED',
        `Limit reached: ${owner} already has ${owned} containers, the most one person may have at once. Remove one on the dashboard, then launch again.`,
        { cause: error },
      );
    }
    return undefined;
  }

  #remember(job: LaunchJob): void {
    this.#jobs.set(job.name, job);
    if (this.#jobs.size <= MAX_JOBS) return;
    for (const old of this.#jobs.values()) {
      if (old.stage !== 'image') {
        this.#jobs.delete(old.name);
        break;
      }
    }
  }
}

function parseDelivery(text: string): DeliveryKind {
  if (text === 'env' || text === 'file' || text === 'url') return text;
  throw new FormError('delivery', 'Choose how the input reaches the tool: environment, file or URL.');
}

/** The tool's parameters from form fields named `<tool>.<parameter>`, checked, defaults applied. */
export function parseParameters(
  tool: ToolDefinition,
  fields: Readonly<Record<string, string>>,
): Record<string, string | number> {
  const parameters: Record<string, string | number> = {};
  for (const parameter of tool.parameters) {
    const text = fields[`${tool.id}.${parameter.name}`]?.trim() ?? '';
    if (text === '') {
      parameters[parameter.name] = parameter.defaultValue;
    } else if (parameter.type === 'number') {
      const value = Number(text);
      const min = parameter.min ?? Number.NEGATIVE_INFINITY;
      const max = parameter.max ?? Number.POSITIVE_INFINITY;
      if (!Number.isFinite(value) || value < min || value > max) {
        throw new FormError(
          `${tool.id}.${parameter.name}`,
          `${parameter.label} must be a number from ${parameter.min} to ${parameter.max}.`,
        );
      }
      parameters[parameter.name] = value;
    } else {
      if (text.length > (parameter.max ?? 200)) {
        throw new FormError(
          `${tool.id}.${parameter.name}`,
          `${parameter.label} must be at most ${parameter.max ?? 200} characters.`,
        );
      }
      parameters[parameter.name] = text;
    }
  }
  return parameters;
}

/** `<owner>-<tool>-<4 random characters>`, e.g. `alice-viewer-k3f9`. */
export function generatedName(owner: string, tool: ToolDefinition): string {
  const suffix = randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4);
  const base = owner
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30);
  return `${base || 'user'}-${tool.id}-${suffix}`;
}
