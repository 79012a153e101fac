import type { LaunchProgress } from '@dde/core';
import { isDdeError } from '@dde/core';
import type { LocalRegistry } from '@dde/test-support';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  NAMESPACE_LABEL,
  registryAvailable,
  removeImage,
  startRegistry,
  uniqueNamespace,
} from '@dde/test-support';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DockerBackend } from './index.ts';

/** Pushes `reference` to its registry, failing on an error line in the progress stream. */
async function push(docker: Dockerode, reference: string): Promise<void> {
  // The engine insists on an X-Registry-Auth header for pushes, even to a registry without auth.
  const stream = await docker.getImage(reference).push({ authconfig: {} } as object);
  const output = await new Promise<{ error?: string }[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (error, result) => (error ? reject(error) : resolve(result)));
  });
  const failure = output.find((line) => line.error !== undefined);
  if (failure) throw new Error(`push of ${reference} failed: ${failure.error}`);
}

await describeWithDocker('DockerBackend pulls', (docker) => {
  const namespace = uniqueNamespace('bdtest');
  const backend = new DockerBackend({ namespace });
  let registry: LocalRegistry | undefined;
  let remote: string;

  beforeAll(async () => {
    if (!registryAvailable()) return;
    registry = await startRegistry();
    const local = await buildImage(docker, `${namespace}-pushed:1`, {
      labels: { [NAMESPACE_LABEL]: namespace },
    });
    remote = `${registry.address}/${namespace}/tool:1`;
    const [repo, tag] = [`${registry.address}/${namespace}/tool`, '1'];
    await docker.getImage(local).tag({ repo, tag });
    await push(docker, remote);
    // Only the registry has it now.
    await removeImage(docker, remote);
    await removeImage(docker, local);
  });
  afterAll(async () => {
    await backend.close();
    await cleanupNamespace(docker, namespace);
    if (registry) await removeImage(docker, remote);
    await registry?.close();
  });

  it.skipIf(!registryAvailable())(
    'pulls a missing image from a registry, reporting layer progress',
    async () => {
      await expect(docker.getImage(remote).inspect()).rejects.toMatchObject({ statusCode: 404 });
      const progress: LaunchProgress[] = [];
      const info = await backend.launch(
        { name: `${namespace}-pulled`, image: remote, command: ['sleep', '3600'] },
        { onProgress: (event) => progress.push(event), signal: AbortSignal.timeout(60_000) },
      );
      expect(info.state).toBe('running');
      expect(info.image).toBe(remote);
      const phases = progress.map((event) => event.phase);
      expect(phases.indexOf('pulling')).toBe(0);
      expect(phases.indexOf('creating')).toBeGreaterThan(phases.lastIndexOf('pulling'));
      const layers = progress.filter((event) => event.phase === 'pulling' && event.layer !== undefined);
      expect(layers.length).toBeGreaterThan(0);
      expect(progress.some((event) => event.message === 'Pull complete')).toBe(true);
      expect((await docker.getImage(remote).inspect()).RepoTags).toContain(remote);
      expect(await backend.remove(info.name)).toBe(true);
    },
  );

  it.skipIf(!registryAvailable())('uses the local image without pulling when it is present', async () => {
    const progress: LaunchProgress[] = [];
    const info = await backend.launch(
      { name: `${namespace}-cached`, image: remote, command: ['sleep', '3600'] },
      { onProgress: (event) => progress.push(event) },
    );
    expect(progress.map((event) => event.phase)).not.toContain('pulling');
    expect(await backend.remove(info.name)).toBe(true);
  });

  it.skipIf(!registryAvailable())(
    'fails with IMAGE_PULL_FAILED naming an image the registry lacks',
    async () => {
      const missing = `${registry?.address}/${namespace}/missing:1`;
      const name = `${namespace}-missing`;
      const error = await backend.launch({ name, image: missing }).catch((caught: unknown) => caught);
      expect(isDdeError(error) && error.code).toBe('IMAGE_PULL_FAILED');
      expect(isDdeError(error) && error.field).toBe('image');
      expect((error as Error).message).toContain(missing);
      expect(await backend.list()).toEqual([]);
    },
  );

  it('fails with IMAGE_PULL_FAILED when the registry does not answer', async () => {
    // Nothing listens on port 9 (discard) of loopback: the engine's pull fails to connect.
    const image = `127.0.0.1:9/${namespace}/tool:1`;
    const error = await backend
      .launch({ name: `${namespace}-noreg`, image })
      .catch((caught: unknown) => caught);
    expect(isDdeError(error) && error.code).toBe('IMAGE_PULL_FAILED');
    expect((error as Error).message).toContain(image);
    expect(await backend.list()).toEqual([]);
  });

  it.skipIf(!registryAvailable())('re-pulls with pullPolicy always', async () => {
    const always = new DockerBackend({ namespace, pullPolicy: 'always' });
    const progress: LaunchProgress[] = [];
    const info = await always.launch(
      { name: `${namespace}-always`, image: remote, command: ['sleep', '3600'] },
      { onProgress: (event) => progress.push(event) },
    );
    expect(
      progress.filter((event) => event.phase === 'pulling').map((event) => event.message),
    ).toContainEqual(expect.stringMatching(/up to date/i));
    expect(await always.remove(info.name)).toBe(true);
  });

  it.skipIf(!registryAvailable())('stops a pull aborted by its signal, creating nothing', async () => {
    await removeImage(docker, remote);
    const controller = new AbortController();
    const name = `${namespace}-abortpull`;
    const error = await backend
      .launch(
        { name, image: remote, command: ['sleep', '3600'] },
        {
          signal: controller.signal,
          onProgress: (event) => {
            if (event.phase === 'pulling' && event.layer !== undefined) controller.abort();
          },
        },
      )
      .catch((caught: unknown) => caught);
    expect(isDdeError(error) && error.code).toBe('ABORTED');
    expect(await backend.list()).toEqual([]);
    expect(
      await docker.listContainers({ all: true, filters: { label: [`${NAMESPACE_LABEL}=${namespace}`] } }),
    ).toEqual([]);
  });
});
