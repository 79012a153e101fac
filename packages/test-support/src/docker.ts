import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Dockerode from 'dockerode';
import { pack } from 'tar-stream';
import { describe, it } from 'vitest';

/** The label dde puts on everything it creates for a namespace (`LABELS.namespace` in @dde/core). */
export const NAMESPACE_LABEL = 'dde.namespace';

/**
 * A dockerode client for the engine the tests use: the default docker-modem resolution
 * (`DOCKER_HOST`, else the local socket), with no timeout.
 */
export function testDocker(): Dockerode {
  return new Dockerode();
}

/** Whether a Docker Engine answers a ping within `timeoutMs`. */
export async function dockerAvailable(docker: Dockerode = testDocker(), timeoutMs = 5_000): Promise<boolean> {
  try {
    // dockerode's types lack the abortSignal its methods accept.
    const client = docker as unknown as { ping(options: { abortSignal: AbortSignal }): Promise<unknown> };
    await client.ping({ abortSignal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

/**
 * The engine to run integration tests against, or undefined when none answers locally.
 * With `CI=true` a missing engine throws instead: CI must never skip these tests silently.
 */
export async function requireDocker(docker: Dockerode = testDocker()): Promise<Dockerode | undefined> {
  if (await dockerAvailable(docker)) return docker;
  if (process.env.CI === 'true') {
    throw new Error(
      'CI=true but no Docker Engine answers (DOCKER_HOST or /var/run/docker.sock): start dockerd before the tests',
    );
  }
  return undefined;
}

/**
 * The local unix socket of the engine the tests use, for tests that put a proxy in front of it
 * (the engine proxy, a TLS front). Undefined locally when the engine is remote (those tests then
 * skip); with `CI=true` a remote engine throws instead, as CI must run every test.
 */
export function localEngineSocket(endpoint: {
  readonly kind: string;
  readonly socketPath?: string;
}): string | undefined {
  if (endpoint.kind === 'socket' && endpoint.socketPath !== undefined) return endpoint.socketPath;
  if (process.env.CI === 'true') {
    throw new Error(
      `CI=true but the engine is reached over ${endpoint.kind}, not a local socket: the tests that proxy the engine socket need one (unset DOCKER_HOST)`,
    );
  }
  return undefined;
}

/**
 * Declares a suite that needs a Docker Engine. Without one it shows up as skipped locally and
 * fails under `CI=true`. Call it at the top level of a test file with `await`:
 *
 * ```ts
 * await describeWithDocker('DockerBackend', (docker) => {
 *   it('pings', async () => { await docker.ping(); });
 * });
 * ```
 */
export async function describeWithDocker(title: string, factory: (docker: Dockerode) => void): Promise<void> {
  const docker = await requireDocker();
  if (docker) {
    describe(title, () => factory(docker));
  } else {
    describe.skip(title, () => {
      it('needs a Docker Engine: none answered (start dockerd or set DOCKER_HOST)', () => {});
    });
  }
}

/** A fresh namespace (and label value) for one test file, e.g. `bdtest-3f9a1c2b`. */
export function uniqueNamespace(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Options of {@link buildImage}. */
export interface BuildImageOptions {
  /** Extra files of the build context, by relative path. */
  files?: Record<string, string | Uint8Array>;
  /** The Dockerfile. Default {@link BUSYBOX_DOCKERFILE}. */
  dockerfile?: string;
  /** Labels of the image; give `{ [NAMESPACE_LABEL]: namespace }` so {@link cleanupNamespace} removes it. */
  labels?: Record<string, string>;
  /** Cancels the build. */
  signal?: AbortSignal;
}

/**
 * An image of nothing but a static busybox with its applets linked into /bin (`sh`, `httpd`,
 * `mkdir`, `sleep`, ...). Builds offline: the build context carries the host's busybox.
 */
export const BUSYBOX_DOCKERFILE: string = [
  'FROM scratch',
  'COPY busybox /bin/busybox',
  'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
  '',
].join('\n');

const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

/**
 * Builds `tag` through the engine API (no docker CLI needed) from a context holding the host's
 * static busybox as `busybox`, the Dockerfile and `files`. Builds without the cache so that
 * concurrent test files never share layers that another file removes. Throws with the
 * builder's message when the build fails.
 */
export async function buildImage(
  docker: Dockerode,
  tag: string,
  options: BuildImageOptions = {},
): Promise<string> {
  const busybox = BUSYBOX_PATHS.find((path) => existsSync(path));
  if (!busybox)
    throw new Error('busybox not found: install a static busybox (apt-get install busybox-static)');
  const context = await tarball({
    busybox: { content: readFileSync(busybox), mode: 0o755 },
    Dockerfile: { content: options.dockerfile ?? BUSYBOX_DOCKERFILE, mode: 0o644 },
    ...Object.fromEntries(
      Object.entries(options.files ?? {}).map(([path, content]) => [path, { content, mode: 0o644 }]),
    ),
  });
  const stream = await docker.buildImage(
    context as unknown as NodeJS.ReadableStream,
    {
      t: tag,
      labels: options.labels ?? {},
      nocache: true,
      rm: true,
      forcerm: true,
      ...(options.signal ? { abortSignal: options.signal } : {}),
    } as Dockerode.ImageBuildOptions,
  );
  const output = await new Promise<{ error?: string; stream?: string }[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (error, result) => (error ? reject(error) : resolve(result)));
  });
  const failure = output.find((line) => line.error !== undefined);
  if (failure) throw new Error(`Building ${tag} failed: ${failure.error}`);
  return tag;
}

/**
 * Removes everything labelled with `namespace`: containers (forced, with anonymous volumes),
 * volumes, networks (the namespace's isolated network among them) and images. Safe to call when
 * some are already gone; call it in `afterAll`.
 */
export function cleanupNamespace(docker: Dockerode, namespace: string): Promise<void> {
  return removeLabelled(docker, `${NAMESPACE_LABEL}=${namespace}`, { images: true });
}

/**
 * Force-removes the containers (with their anonymous volumes), the volumes and, with `images`,
 * the images that carry `label` (`key=value`), tolerating what is already gone.
 */
export async function removeLabelled(
  docker: Dockerode,
  label: string,
  options: { images?: boolean } = {},
): Promise<void> {
  const filters = { label: [label] };
  const ignoreGone = (error: { statusCode?: number }) => {
    if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
  };
  for (const container of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(container.Id).remove({ force: true, v: true }).catch(ignoreGone);
  }
  const { Volumes } = await docker.listVolumes({ filters });
  for (const volume of Volumes ?? []) {
    await docker.getVolume(volume.Name).remove().catch(ignoreGone);
  }
  // Networks hold address pools the engine has few of (about 30 by default): never leak one.
  for (const network of await docker.listNetworks({ filters })) {
    await docker.getNetwork(network.Id).remove().catch(ignoreGone);
  }
  if (!options.images) return;
  for (const image of await docker.listImages({ filters })) {
    await docker.getImage(image.Id).remove({ force: true }).catch(ignoreGone);
  }
}

/** What a command run in a container printed (stdout and stderr together) and its exit code. */
export interface ExecResult {
  readonly exitCode: number;
  readonly output: string;
}

/** Runs `command` in the running container `id` (like `docker exec`) and waits for it to exit. */
export async function execIn(docker: Dockerode, id: string, command: readonly string[]): Promise<ExecResult> {
  const exec = await docker
    .getContainer(id)
    .exec({ Cmd: [...command], AttachStdout: true, AttachStderr: true, Tty: true });
  // With a TTY the output arrives raw, not multiplexed.
  const stream = await exec.start({ hijack: true, stdin: false, Tty: true });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  return { exitCode: ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
}

/** Removes one image by reference, if present. */
export async function removeImage(docker: Dockerode, reference: string): Promise<void> {
  await docker
    .getImage(reference)
    .remove({ force: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
}

async function tarball(
  entries: Record<string, { content: string | Uint8Array; mode: number }>,
): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    archive.on('data', (chunk) => chunks.push(chunk as Buffer));
    archive.on('end', resolve);
    archive.on('error', reject);
  });
  for (const [name, { content, mode }] of Object.entries(entries)) {
    const data = Buffer.from(content);
    archive.entry({ name, mode, size: data.length }, data);
  }
  archive.finalize();
  await done;
  return Buffer.concat(chunks);
}
