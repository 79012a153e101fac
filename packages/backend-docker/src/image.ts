import type { LaunchProgress } from '@dde/core';
import { DdeError, isDdeError } from '@dde/core';
import type Dockerode from 'dockerode';
import { engineCall, engineStream } from './api.ts';
import { engineMessage, isNotFound, toDdeError } from './errors.ts';
import { NdjsonDecoder } from './ndjson.ts';

/** Credentials for one registry, as the engine's `X-Registry-Auth` header carries them. */
export interface RegistryCredentials {
  /** User name (with `password`). */
  readonly username?: string;
  /** Password or access token (with `username`). */
  readonly password?: string;
  /** An OAuth identity token, instead of username and password. */
  readonly identityToken?: string;
  /** A bearer token for the registry, instead of username and password. */
  readonly registryToken?: string;
}

/**
 * Registry credentials for pulls: a map from registry host (`ghcr.io`, `registry.example.org:5000`,
 * `docker.io` for Docker Hub) to credentials, or a function of the registry host that may look
 * them up (e.g. fetch a short-lived token).
 */
export type RegistryAuth =
  | Readonly<Record<string, RegistryCredentials>>
  | ((registry: string) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>);

/** The repository and the tag or digest of a normalized image reference. */
export interface ImageReference {
  /** E.g. `registry.example.org:5000/team/tool`. */
  readonly repository: string;
  /** E.g. `2.1` or `sha256:…`. */
  readonly tag: string;
  /** Registry host; `docker.io` for Docker Hub. */
  readonly registry: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = [
  DOCKER_HUB,
  'index.docker.io',
  'registry-1.docker.io',
  'https://index.docker.io/v1/',
];

/** Splits a reference that has a tag or digest (as core's `normalizeImage` returns it). */
export function parseImageReference(image: string): ImageReference {
  const at = image.indexOf('@');
  const colon = image.lastIndexOf(':');
  const separator = at >= 0 ? at : colon > image.lastIndexOf('/') ? colon : -1;
  const repository = separator >= 0 ? image.slice(0, separator) : image;
  const tag = separator >= 0 ? image.slice(separator + 1) : 'latest';
  const first = repository.split('/')[0] ?? '';
  // Docker's rule: the first component is a registry when it looks like a host.
  const registry =
    repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
      ? first
      : DOCKER_HUB;
  return { repository, tag, registry };
}

/** The engine's `X-Registry-Auth` payload for `registry`, or undefined when none is configured. */
export async function registryAuthFor(
  auth: RegistryAuth | undefined,
  registry: string,
): Promise<Record<string, string> | undefined> {
  if (auth === undefined) return undefined;
  let credentials: RegistryCredentials | undefined;
  if (typeof auth === 'function') {
    credentials = await auth(registry);
  } else {
    const keys = registry === DOCKER_HUB ? DOCKER_HUB_ALIASES : [registry];
    credentials = keys.map((key) => auth[key]).find((entry) => entry !== undefined);
  }
  if (credentials === undefined) return undefined;
  const header: Record<string, string> = { serveraddress: registry };
  if (credentials.username !== undefined) header.username = credentials.username;
  if (credentials.password !== undefined) header.password = credentials.password;
  if (credentials.identityToken !== undefined) header.identitytoken = credentials.identityToken;
  if (credentials.registryToken !== undefined) header.registrytoken = credentials.registryToken;
  return header;
}

/** Whether the engine has the image locally. */
export async function imageExists(
  docker: Dockerode,
  image: string,
  context: { engine: string; signal?: AbortSignal | undefined },
): Promise<boolean> {
  try {
    await engineCall(docker, { method: 'GET', path: `/images/${image}/json`, signal: context.signal });
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw toDdeError(error, {
      what: `inspect of image ${image}`,
      engine: context.engine,
      signal: context.signal,
    });
  }
}

/** One line of the engine's pull progress stream. */
export interface PullMessage {
  /** E.g. `Downloading`, `Pull complete`, `Status: Downloaded newer image for …`. */
  readonly status?: string;
  /** Layer id. */
  readonly id?: string;
  /** Bytes done and total for the layer. */
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
  /** Set when the pull failed after it started streaming. */
  readonly error?: string;
  /** Details of `error`. */
  readonly errorDetail?: { readonly message?: string };
}

/** Turns one pull message into a launch progress event. */
export function pullProgress(name: string, message: PullMessage): LaunchProgress {
  const detail = message.progressDetail;
  const layer =
    message.id === undefined
      ? undefined
      : {
          id: message.id,
          ...(detail?.current === undefined ? {} : { current: detail.current }),
          ...(detail?.total === undefined ? {} : { total: detail.total }),
        };
  return {
    phase: 'pulling',
    name,
    ...(message.status === undefined ? {} : { message: message.status }),
    ...(layer === undefined ? {} : { layer }),
  };
}

/** The `IMAGE_PULL_FAILED` error for `image`, saying what the engine said. */
export function pullFailed(image: string, reason: string, cause?: unknown): DdeError {
  return new DdeError(
    'IMAGE_PULL_FAILED',
    `Could not pull image ${image}: ${reason}. Check the image name and tag, that the registry is reachable from the engine, and registry credentials (registryAuth)`,
    { field: 'image', ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * Pulls `image`, reporting progress. The engine reports failures either as an HTTP error before
 * streaming or as an `error` line inside the stream: both become `IMAGE_PULL_FAILED` naming the
 * image. Aborts and an unreachable engine keep their own codes.
 */
export async function pullImage(
  docker: Dockerode,
  image: string,
  options: {
    name: string;
    engine: string;
    auth: Record<string, string> | undefined;
    signal?: AbortSignal | undefined;
    onProgress?: ((progress: LaunchProgress) => void) | undefined;
  },
): Promise<void> {
  const reference = parseImageReference(image);
  const context = {
    what: `pull of image ${image}`,
    engine: options.engine,
    signal: options.signal,
    field: 'image',
  };
  try {
    const stream = await engineStream(docker, {
      method: 'POST',
      path: '/images/create',
      query: { fromImage: reference.repository, tag: reference.tag },
      auth: options.auth,
      signal: options.signal,
    });
    const decoder = new NdjsonDecoder();
    const handle = (value: unknown) => {
      const message = value as PullMessage;
      if (message.error !== undefined) throw pullFailed(image, message.errorDetail?.message ?? message.error);
      options.onProgress?.(pullProgress(options.name, message));
    };
    for await (const chunk of stream) decoder.push(chunk as Buffer).forEach(handle);
    decoder.end().forEach(handle);
  } catch (error) {
    if (isDdeError(error)) throw error;
    const mapped = toDdeError(error, context);
    if (mapped.code === 'ENGINE_ERROR' || mapped.code === 'NOT_FOUND' || mapped.code === 'CONFLICT') {
      throw pullFailed(image, engineMessage(error), error);
    }
    throw mapped;
  }
}
