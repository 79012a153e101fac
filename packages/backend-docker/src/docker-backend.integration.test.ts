import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendEvent, ContainerSpec, LaunchProgress } from '@dde/core';
import { envInput, fileInput, isDdeError, labelsFor, validateSpec } from '@dde/core';
import type { EngineProxy } from '@dde/test-support';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  eventually,
  fetchWhenReady,
  localEngineSocket,
  NAMESPACE_LABEL,
  startEngineProxy,
  uniqueNamespace,
} from '@dde/test-support';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { resolveEngine } from './engine.ts';
import { DockerBackend, VOLUME_CONTAINER_LABEL } from './index.ts';

const MIB = 1024 * 1024;

/** The error a promise rejects with (fails the test when it resolves). */
async function rejectionOf(
  promise: Promise<unknown>,
): Promise<{ code: string; field: string | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isDdeError(error)) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  throw new Error('expected a rejection');
}

await describeWithDocker('DockerBackend on a real engine', (docker) => {
  const namespace = uniqueNamespace('bdtest');
  const backend = new DockerBackend({ namespace });
  const engine = resolveEngine();
  const socketPath = localEngineSocket(engine.endpoint);
  let image: string;
  let counter = 0;
  const name = (label: string) => `${namespace}-${label}-${++counter}`;
  const spec = (label: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
    name: name(label),
    image,
    port: 8080,
    command: ['sleep', '3600'],
    ...extra,
  });
  const volumesOf = async (containerName?: string) => {
    const label = [`${NAMESPACE_LABEL}=${namespace}`];
    if (containerName) label.push(`${VOLUME_CONTAINER_LABEL}=${containerName}`);
    const { Volumes } = await docker.listVolumes({ filters: { label } });
    return (Volumes ?? []).map((volume) => volume.Name);
  };
  const containersOf = async () =>
    (await docker.listContainers({ all: true, filters: { label: [`${NAMESPACE_LABEL}=${namespace}`] } })).map(
      (container) => container.Names[0],
    );

  beforeAll(async () => {
    image = await buildImage(docker, `${namespace}-busybox:1`, { labels: { [NAMESPACE_LABEL]: namespace } });
  });
  afterEach(async () => {
    // Each test starts from an empty namespace; the image stays for the next test.
    for (const info of await backend.list()) await backend.remove(info.name);
  });
  afterAll(async () => {
    await backend.close();
    await cleanupNamespace(docker, namespace);
  });

  it('backs extra directories with writable volumes that disappear with the container', async () => {
    const spec1 = spec('dirs', {
      extraDirectories: ['/scratch', '/data/cache'],
      command: [
        'sh',
        '-c',
        'echo scratch-ok > /scratch/f && echo cache-ok > /data/cache/g && mkdir -p /www && cat /scratch/f /data/cache/g > /www/both && exec httpd -f -p 8080 -h /www',
      ],
    });
    const info = await backend.launch(spec1);
    expect(await fetchWhenReady(info.upstream, '/both')).toBe('scratch-ok\ncache-ok\n');
    const volumes = await volumesOf(spec1.name);
    expect(volumes).toHaveLength(2);
    const mounts = (await docker.getContainer(info.id).inspect()).Mounts;
    expect(mounts.map((mount) => [mount.Type, mount.Destination, mount.RW])).toEqual(
      expect.arrayContaining([
        ['volume', '/scratch', true],
        ['volume', '/data/cache', true],
      ]),
    );
    expect(await backend.remove(spec1.name)).toBe(true);
    expect(await volumesOf(spec1.name)).toEqual([]);
  });

  it('applies CPU and memory limits', async () => {
    const info = await backend.launch(
      spec('limits', { cpus: 0.5, memoryLimitMb: 64, memoryReservationMb: 32 }),
    );
    const { HostConfig } = await docker.getContainer(info.id).inspect();
    expect(HostConfig.NanoCpus).toBe(500_000_000);
    expect(HostConfig.Memory).toBe(64 * MIB);
    expect(HostConfig.MemoryReservation).toBe(32 * MIB);
    expect(info).toMatchObject({ cpus: 0.5, memoryLimitMb: 64, memoryReservationMb: 32 });
  });

  it('publishes the port on 127.0.0.1 only, and reaches it with upstream: published', async () => {
    const published = new DockerBackend({ namespace, upstream: 'published' });
    const info = await published.launch(
      spec('port', {
        command: ['sh', '-c', 'mkdir -p /www && echo hi > /www/i && exec httpd -f -p 8080 -h /www'],
      }),
    );
    const inspected = await docker.getContainer(info.id).inspect();
    expect(inspected.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    });
    const bindings = inspected.NetworkSettings.Ports['8080/tcp'] ?? [];
    expect(bindings.length).toBeGreaterThan(0);
    for (const binding of bindings) expect(binding.HostIp).toBe('127.0.0.1');
    expect(info.upstream).toEqual({ host: '127.0.0.1', port: Number(bindings[0]?.HostPort) });
    expect(await fetchWhenReady(info.upstream, '/i')).toBe('hi\n');
    // On Linux with a local engine, auto prefers the bridge address.
    const auto = await backend.inspect(info.name);
    if (process.platform === 'linux' && engine.local) {
      expect(auto?.upstream?.host).toBe(Object.values(inspected.NetworkSettings.Networks)[0]?.IPAddress);
      expect(await fetchWhenReady(auto?.upstream, '/i')).toBe('hi\n');
    }
  });

  it.skipIf(socketPath === undefined)('keeps environment secrets out of every request URL', async () => {
    const proxy = await startEngineProxy(socketPath);
    const proxied = new DockerBackend({ namespace, docker: new Dockerode({ socketPath: proxy.socketPath }) });
    try {
      const secret = `s3cr3t-${Date.now()}`;
      const info = await proxied.launch(
        spec('secret', {
          env: { API_TOKEN: secret },
          input: { password: secret },
          inputs: [envInput(), fileInput('/run/input.json')],
        }),
      );
      const urls = proxy.requests.map((request) => request.url);
      expect(urls.length).toBeGreaterThan(0);
      for (const url of urls) {
        expect(url).not.toContain(secret);
        expect(decodeURIComponent(url)).not.toContain(secret);
      }
      const create = proxy.requests.find((request) => request.url.startsWith('/containers/create'));
      expect(create?.url).toBe(`/containers/create?name=${info.name}`);
      expect(create?.body.toString()).toContain(`API_TOKEN=${secret}`);
      const env = (await docker.getContainer(info.id).inspect()).Config.Env;
      expect(env).toContain(`API_TOKEN=${secret}`);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  it('removes the container and its volumes when the launch is aborted part way', async () => {
    for (const phase of ['creating', 'placing-input', 'starting'] as const) {
      const controller = new AbortController();
      const seen: LaunchProgress['phase'][] = [];
      const launch = spec(`abort-${phase}`, {
        extraDirectories: ['/scratch'],
        input: { a: 1 },
        inputs: [fileInput('/input.json')],
      });
      const error = await rejectionOf(
        backend.launch(launch, {
          signal: controller.signal,
          onProgress: (progress) => {
            seen.push(progress.phase);
            if (progress.phase === phase) controller.abort();
          },
        }),
      );
      expect(error.code).toBe('ABORTED');
      expect(seen).toContain(phase);
      expect(await backend.inspect(launch.name)).toBeUndefined();
      expect(await containersOf()).toEqual([]);
      expect(await volumesOf()).toEqual([]);
    }
  });

  it.skipIf(socketPath === undefined)(
    'leaves nothing behind when the engine acts on a launch step but its answer is lost',
    async () => {
      const proxy = await startEngineProxy(socketPath);
      const proxied = new DockerBackend({
        namespace,
        docker: new Dockerode({ socketPath: proxy.socketPath }),
      });
      try {
        const steps = [
          ['volume', 'POST', /^\/volumes\/create/],
          ['container', 'POST', /^\/containers\/create/],
          ['archive', 'PUT', /\/archive/],
          ['start', 'POST', /\/start/],
        ] as const;
        for (const [step, method, path] of steps) {
          const stop = proxy.cutAnswers((request) => request.method === method && path.test(request.url));
          const launch = spec(`lost-${step}`, {
            extraDirectories: ['/scratch', '/cache'],
            input: { a: 1 },
            inputs: [fileInput('/input.json')],
          });
          const error = await rejectionOf(proxied.launch(launch));
          stop();
          expect([step, error.code]).toEqual([step, 'ENGINE_UNAVAILABLE']);
          expect([step, await containersOf()]).toEqual([step, []]);
          expect([step, await volumesOf()]).toEqual([step, []]);
        }
      } finally {
        await proxied.close();
        await proxy.close();
      }
    },
  );

  it('lets one of several concurrent launches of a name win; the others get CONFLICT and leave no volume', async () => {
    const launch = spec('race', { extraDirectories: ['/scratch'] });
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => backend.launch(launch)));
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const codes = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [(outcome.reason as { code?: string }).code] : [],
    );
    expect(won).toHaveLength(1);
    expect(codes).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT']);
    expect((await backend.inspect(launch.name))?.state).toBe('running');
    expect(await volumesOf(launch.name)).toHaveLength(1);
    expect(await backend.remove(launch.name)).toBe(true);
    expect(await volumesOf()).toEqual([]);
  });

  it('removes the container and its volumes when it cannot start or its input cannot be placed', async () => {
    const noCommand = spec('nostart', { extraDirectories: ['/scratch'], command: ['/no/such/program'] });
    const startError = await rejectionOf(backend.launch(noCommand));
    expect(startError.code).toBe('LAUNCH_FAILED');
    expect(startError.message).toMatch(/no such file|not found/i);
    const overDirectory = spec('overdir', {
      input: { a: 1 },
      inputs: [fileInput('/bin')],
      extraDirectories: ['/x'],
    });
    const placeError = await rejectionOf(backend.launch(overDirectory));
    expect(placeError.code).toBe('LAUNCH_FAILED');
    expect(placeError.message).toContain('/bin');
    expect(await containersOf()).toEqual([]);
    expect(await volumesOf()).toEqual([]);
  });

  it('keeps directories it did not create untouched when placing a file', async () => {
    // /tmp is 1777 in most images: an archive entry for it would reset it to 0755.
    const dockerfile =
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir -m 1777 /tmp\n';
    const tmpImage = await buildImage(docker, `${namespace}-tmp:1`, {
      dockerfile,
      labels: { [NAMESPACE_LABEL]: namespace },
    });
    const info = await backend.launch(
      spec('keepmode', {
        image: tmpImage,
        input: { a: 1 },
        inputs: [fileInput('/tmp/new/input.json', { mode: 0o600 })],
        command: [
          'sh',
          '-c',
          'mkdir -p /www && stat -c "%a %n" /tmp /tmp/new /tmp/new/input.json > /www/modes && exec httpd -f -p 8080 -h /www',
        ],
      }),
    );
    expect(await fetchWhenReady(info.upstream, '/modes')).toBe(
      '1777 /tmp\n755 /tmp/new\n600 /tmp/new/input.json\n',
    );
  });

  it('does not see or remove containers it did not label, nor match names against id prefixes', async () => {
    const foreignName = name('foreign');
    const foreign = await docker.createContainer({
      name: foreignName,
      Image: image,
      Cmd: ['sleep', '3600'],
      Labels: { [NAMESPACE_LABEL]: namespace },
    });
    expect(await backend.inspect(foreignName)).toBeUndefined();
    expect((await backend.list()).map((info) => info.name)).not.toContain(foreignName);
    expect(await backend.remove(foreignName)).toBe(false);
    expect((await foreign.inspect()).Name).toBe(`/${foreignName}`);
    await expect(backend.logs(foreignName)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const ours = await backend.launch(spec('prefix'));
    const prefix = ours.id.slice(0, 12);
    expect(await backend.inspect(prefix)).toBeUndefined();
    expect(await backend.remove(prefix)).toBe(false);
    expect((await backend.inspect(ours.name))?.state).toBe('running');
    await foreign.remove({ force: true });
  });

  it('adopts containers that carry its labels, and reads TTY logs', async () => {
    const adopted = spec('tty');
    const labels = labelsFor(validateSpec(adopted), namespace);
    const container = await docker.createContainer({
      name: adopted.name,
      Image: image,
      Cmd: ['sh', '-c', 'echo tty-line-1; echo tty-line-2; exec sleep 3600'],
      Tty: true,
      Labels: labels,
    });
    await container.start();
    expect((await backend.list()).map((info) => info.name)).toContain(adopted.name);
    const logs = await eventually(async () => {
      const entries = await backend.logs(adopted.name);
      return entries.length >= 2 ? entries : undefined;
    });
    expect(logs.map((entry) => [entry.stream, entry.text])).toEqual([
      ['stdout', 'tty-line-1'],
      ['stdout', 'tty-line-2'],
    ]);
    expect(logs[0]?.time).toBeInstanceOf(Date);
  });

  it('filters logs by tail and since', async () => {
    const launched = await backend.launch(
      spec('tail', { command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line-$i; done; exec sleep 3600'] }),
    );
    await eventually(async () => ((await backend.logs(launched.name)).length === 5 ? true : undefined));
    expect((await backend.logs(launched.name, { tail: 2 })).map((entry) => entry.text)).toEqual([
      'line-4',
      'line-5',
    ]);
    expect(await backend.logs(launched.name, { since: new Date(Date.now() + 60_000) })).toEqual([]);
    const all = await backend.logs(launched.name, { since: new Date(Date.now() - 60_000) });
    expect(all.map((entry) => entry.text)).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5']);
    await expect(backend.logs(launched.name, { tail: -1 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      field: 'tail',
    });
  });

  it('reads a long line of multi-byte characters that the engine split into partial messages', async () => {
    // The engine cuts lines at 16 KiB, in the middle of a character when it falls there: 'a' then
    // 2-byte characters puts every cut inside one. The json-file log driver itself replaces the
    // halves with U+FFFD when it stores them (a JSON string); the local driver keeps the bytes
    // (and, on Engine 20.10, loses the newline after the last part: the line is read up to the end).
    const adopted = spec('utf8');
    const container = await docker.createContainer({
      name: adopted.name,
      Image: image,
      Cmd: [
        'sh',
        '-c',
        "printf a; for i in $(seq 20000); do printf '\\303\\251'; done; echo; exec sleep 3600",
      ],
      Labels: labelsFor(validateSpec(adopted), namespace),
      HostConfig: { LogConfig: { Type: 'local', Config: {} } },
    });
    await container.start();
    const entries = await eventually(async () => {
      const found = await backend.logs(adopted.name);
      return (found[0]?.text.length ?? 0) >= 20_001 ? found : undefined;
    });
    expect(entries).toHaveLength(1);
    const text = entries[0]?.text ?? '';
    // Compared as numbers and a boolean: a failure would print 40 KB twice.
    expect({ length: text.length, replacementCharacters: text.split('\uFFFD').length - 1 }).toEqual({
      length: 20001,
      replacementCharacters: 0,
    });
    expect(text === `a${'é'.repeat(20000)}`).toBe(true);
  });

  it('refuses a missing image with pullPolicy never, naming the image, before creating anything', async () => {
    const never = new DockerBackend({ namespace, pullPolicy: 'never' });
    const missing = `${namespace}-absent:1`;
    const error = await rejectionOf(never.launch(spec('never', { image: missing })));
    expect(error).toMatchObject({ code: 'NOT_FOUND', field: 'image' });
    expect(error.message).toContain(missing);
    expect(await containersOf()).toEqual([]);
  });

  it('reports an unreachable engine as ENGINE_UNAVAILABLE', async () => {
    const nowhere = new DockerBackend({
      namespace,
      docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }),
    });
    expect((await rejectionOf(nowhere.list())).code).toBe('ENGINE_UNAVAILABLE');
    expect((await rejectionOf(nowhere.launch(spec('nowhere')))).code).toBe('ENGINE_UNAVAILABLE');
    const events = nowhere.events()[Symbol.asyncIterator]();
    expect((await rejectionOf(events.next())).code).toBe('ENGINE_UNAVAILABLE');
  });

  it('finds the engine through a docker context', async () => {
    if (socketPath === undefined) return;
    const config = mkdtempSync(join(tmpdir(), 'dde-context-'));
    try {
      const id = createHash('sha256').update('dde-test').digest('hex');
      mkdirSync(join(config, 'contexts', 'meta', id), { recursive: true });
      writeFileSync(
        join(config, 'contexts', 'meta', id, 'meta.json'),
        JSON.stringify({ Name: 'dde-test', Endpoints: { docker: { Host: `unix://${socketPath}` } } }),
      );
      writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'dde-test' }));
      vi.stubEnv('DOCKER_HOST', '');
      vi.stubEnv('DOCKER_CONTEXT', '');
      vi.stubEnv('DOCKER_CONFIG', config);
      const viaContext = new DockerBackend({ namespace });
      expect(viaContext.engine).toEqual({ url: `unix://${socketPath}`, local: true });
      const info = await backend.launch(spec('ctx'));
      expect((await viaContext.list()).map((entry) => entry.name)).toEqual([info.name]);
    } finally {
      vi.unstubAllEnvs();
      rmSync(config, { recursive: true, force: true });
    }
  });

  it.skipIf(socketPath === undefined)(
    'reconnects the event stream after the engine connection drops, then resyncs',
    async () => {
      const proxy: EngineProxy = await startEngineProxy(socketPath);
      const watched = new DockerBackend({
        namespace,
        docker: new Dockerode({ socketPath: proxy.socketPath }),
      });
      const controller = new AbortController();
      const events: BackendEvent[] = [];
      const consumed = (async () => {
        for await (const event of watched.events({ signal: controller.signal })) events.push(event);
      })().catch((error: unknown) => error);
      try {
        const seenCreated = (containerName: string) =>
          events.some((event) => event.type === 'created' && event.name === containerName);
        // Launch until an event shows the stream is connected.
        await eventually(async () => {
          const probe = await backend.launch(spec('probe'));
          await eventually(() => (seenCreated(probe.name) ? true : undefined), { timeoutMs: 2_000 }).catch(
            () => undefined,
          );
          await backend.remove(probe.name);
          return seenCreated(probe.name) || undefined;
        });
        proxy.cutConnections();
        await eventually(() => events.find((event) => event.type === 'resync'));
        const after = await backend.launch(spec('after'));
        await eventually(() => (seenCreated(after.name) ? true : undefined));
        const reconnects = proxy.requests.filter((request) => request.url.startsWith('/events')).slice(1);
        expect(reconnects.length).toBeGreaterThan(0);
        expect(reconnects[0]?.url).toMatch(/since=\d+/);
      } finally {
        controller.abort();
        expect(await consumed).toBeUndefined();
        await watched.close();
        await proxy.close();
      }
    },
  );

  it('stops event streams on close', async () => {
    const closing = new DockerBackend({ namespace });
    const iterator = closing.events()[Symbol.asyncIterator]();
    const next = iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await closing.close();
    expect(await next).toEqual({ done: true, value: undefined });
  });
});
