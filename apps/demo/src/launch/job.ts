/**
 * One launch as the person who asked for it follows it: the image build first (which the
 * container manager knows nothing about), then the manager's admission (limits, memory budget),
 * then the container's own phases.
 */
import type { BuildProgress } from '../images/builder.ts';

/**
 * Where a launch is: `image` while its image is found or built, `admission` while the manager
 * checks its limits and memory budget (evicting idle containers if needed), `container` once the
 * manager tracks its container, `failed` when it failed before that.
 */
export type JobStage = 'image' | 'admission' | 'container' | 'failed';

/** One line of the launch's activity log. */
export interface JobEvent {
  /** When it happened (ms since the epoch). */
  readonly at: number;
  /** What happened. */
  readonly text: string;
}

/** What a launch is for. */
export interface JobDetails {
  /** Container name. */
  readonly name: string;
  /** Tool id. */
  readonly tool: string;
  /** Who launched it. */
  readonly owner: string;
  /** The data file's name, when the tool uses one. */
  readonly fileName: string | undefined;
  /** How the input is delivered: `env`, `file` or `url`. */
  readonly delivery: string;
  /** MB it reserves. */
  readonly memoryReservationMb: number;
  /** The tool's public URL. */
  readonly publicUrl: string;
}

const MAX_EVENTS = 200;

/** A launch under way or done. Only the launcher changes it. */
export class LaunchJob {
  /** What it is for. */
  readonly details: JobDetails;
  /** When it was asked for (ms since the epoch). */
  readonly startedAt: number = Date.now();
  /** See {@link JobStage}. */
  stage: JobStage = 'image';
  /** The latest image build progress. */
  build: BuildProgress | undefined = undefined;
  /** Why it failed before or while creating the container. */
  error: string | undefined = undefined;
  /** Whether the container was created and started (the manager resolved the launch). */
  containerStarted = false;
  /** Activity log, oldest first. */
  readonly events: JobEvent[] = [];

  /** @param details - what the launch is for. */
  constructor(details: JobDetails) {
    this.details = details;
  }

  /** Container name. */
  get name(): string {
    return this.details.name;
  }

  /** Adds a line to the activity log (repeats of the last line are dropped). */
  note(text: string): void {
    if (this.events.at(-1)?.text === text) return;
    this.events.push({ at: Date.now(), text });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  /** Records build progress. */
  onBuild(progress: BuildProgress): void {
    this.build = progress;
    // Upload progress arrives often: log its start and end only.
    if (progress.stage !== 'uploading' || progress.bytes === 0 || progress.bytes === progress.totalBytes) {
      this.note(progress.message);
    }
  }

  /** Marks it failed before the container could be created. */
  fail(message: string): void {
    this.stage = 'failed';
    this.error = message;
    this.note(`Failed: ${message}`);
  }
}
