/**
 * Builds images through the engine API (no docker CLI, no registry) and reports progress while
 * doing so. Images are tagged by the content hash of their recipe, so an image already built is
 * found and reused, and two launches that need the same missing image share one build.
 */
import { DdeError } from '@dde/core';
import type Docker from 'dockerode';
import { buildContext } from './context.ts';
import type { ImageRecipe } from './recipe.ts';
import { recipeTag, statFiles } from './recipe.ts';

/** How far the build of one image got. */
export interface BuildProgress {
  /** The image tag. */
  readonly image: string;
  /**
   * `checking`: looking for the image; `present`: it exists already; `uploading`: sending the
   * build context; `building`: the engine runs the Dockerfile; `built`: done.
   */
  readonly stage: 'checking' | 'present' | 'uploading' | 'building' | 'built';
  /** A line for people. */
  readonly message: string;
  /** While uploading: bytes sent so far. */
  readonly bytes?: number;
  /** While uploading: bytes in all. */
  readonly totalBytes?: number;
  /** While building: the Dockerfile step under way (1-based). */
  readonly step?: number;
  /** While building: the number of Dockerfile steps. */
  readonly steps?: number;
}

/** Receives build progress. */
export type BuildListener = (progress: BuildProgress) => void;

interface InFlight {
  readonly done: Promise<string>;
  readonly listeners: Set<BuildListener>;
  /** The latest progress, replayed to callers that join late. */
  readonly latest: { progress?: BuildProgress };
}

/** One line of the engine's build output. */
interface BuildMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

// Upload progress arrives per chunk: tell listeners at most every this many bytes.
const UPLOAD_REPORT_BYTES = 4 * 1024 * 1024;

/** Builds images from {@link ImageRecipe}s on one engine. */
export class ImageBuilder {
  readonly #docker: Docker;
  readonly #inFlight = new Map<string, InFlight>();

  /** Builds on the engine that `docker` talks to. */
  constructor(docker: Docker) {
    this.#docker = docker;
  }

  /**
   * Makes sure the recipe's image exists, building it when missing; resolves with its tag.
   * Concurrent calls for the same recipe share one build, and every caller gets its progress.
   */
  async ensure(recipe: ImageRecipe, onProgress: BuildListener = () => {}): Promise<string> {
    const tag = await recipeTag(recipe);
    const running = this.#inFlight.get(tag);
    if (running) {
      running.listeners.add(onProgress);
      if (running.latest.progress) onProgress(running.latest.progress);
      try {
        return await running.done;
      } finally {
        running.listeners.delete(onProgress);
      }
    }
    const listeners = new Set<BuildListener>([onProgress]);
    const latest: InFlight['latest'] = {};
    const report = (progress: BuildProgress): void => {
      latest.progress = progress;
      for (const listener of listeners) listener(progress);
    };
    const done = this.#ensure(recipe, tag, report).finally(() => this.#inFlight.delete(tag));
    this.#inFlight.set(tag, { done, listeners, latest });
    return done;
  }

  /** Whether an image with this tag exists on the engine. */
  async exists(tag: string): Promise<boolean> {
    try {
      await this.#docker.getImage(tag).inspect();
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      throw engineError(`cannot inspect image ${tag}`, error);
    }
  }

  async #ensure(recipe: ImageRecipe, tag: string, report: BuildListener): Promise<string> {
    report({ image: tag, stage: 'checking', message: `Looking for image ${tag}` });
    if (await this.exists(tag)) {
      report({ image: tag, stage: 'present', message: `Image ${tag} is present` });
      return tag;
    }
    const files = await statFiles(recipe.files);
    let lastReported = 0;
    const context = buildContext(recipe.dockerfile, files, (sent) => {
      if (sent - lastReported < UPLOAD_REPORT_BYTES && sent < context.totalBytes) return;
      lastReported = sent;
      report({
        image: tag,
        stage: 'uploading',
        message: `Sending the build context of ${tag}: ${mb(sent)} of ${mb(context.totalBytes)}`,
        bytes: sent,
        totalBytes: context.totalBytes,
      });
    });
    report({
      image: tag,
      stage: 'uploading',
      message: `Sending the build context of ${tag} (${mb(context.totalBytes)})`,
      bytes: 0,
      totalBytes: context.totalBytes,
    });
    let output: NodeJS.ReadableStream;
    try {
      output = await this.#docker.buildImage(context.stream, {
        t: tag,
        labels: { ...recipe.labels },
        rm: true,
        forcerm: true,
      });
    } catch (error) {
      throw engineError(`building image ${tag} failed`, error);
    }
    await this.#follow(output, tag, report);
    report({ image: tag, stage: 'built', message: `Built image ${tag}` });
    return tag;
  }

  /** Reads the engine's build output to its end, reporting each Dockerfile step. */
  #follow(output: NodeJS.ReadableStream, tag: string, report: BuildListener): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let failure: string | undefined;
      this.#docker.modem.followProgress(
        output,
        (error: Error | null) => {
          const reason = error?.message ?? failure;
          if (reason) reject(engineError(`building image ${tag} failed: ${reason}`));
          else resolve();
        },
        (message: BuildMessage) => {
          if (message.error) failure = message.errorDetail?.message ?? message.error;
          const line = message.stream?.trim();
          const step = line ? /^Step (\d+)\/(\d+) : (.*)$/.exec(line) : null;
          if (step) {
            report({
              image: tag,
              stage: 'building',
              message: `Building ${tag}: step ${step[1]}/${step[2]}: ${step[3]}`,
              step: Number(step[1]),
              steps: Number(step[2]),
            });
          }
        },
      );
    });
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function engineError(message: string, cause?: unknown): DdeError {
  const detail = cause === undefined ? '' : `: ${(cause as Error).message ?? String(cause)}`;
  return new DdeError('IMAGE_PULL_FAILED', `${message}${detail}`, { cause });
}
