import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BackendEvent, ContainerBackend, ContainerInfo, Upstream } from '../backend.ts';
import { isDdeError } from '../errors.ts';
import { envInput, fileInput, MAX_ENV_STRING_BYTES, urlInput } from '../input.ts';
import type { JsonValue } from '../json.ts';
import type { ContainerSpec } from '../spec.ts';

/** What {@link describeBackendConformance} runs against. */
export interface ConformanceFixture {
  /** The backend under test, on a namespace of its own that nothing else uses. */
  readonly backend: ContainerBackend;
  /**
   * A second backend on the same engine (or account) with another namespace: the suite checks
   * that neither sees the other's containers.
   */
  readonly otherBackend: ContainerBackend;
  /**
   * An image the backend can run that contains busybox with its applets in `/bin` (`sh`,
   * `httpd`, `mkdir`, `sleep`, `printf`), e.g. `FROM scratch` plus a static busybox.
   */
  readonly image: string;
  /** How long one launch may take, pulls included. Default 60000 ms. */
  readonly launchTimeoutMs?: number;
  /**
   * Whether the test process can connect to `ContainerInfo.upstream`. Default true: the suite
   * fetches what each container received from the container itself. Set it to false for an API
   * emulator that runs no processes and invents addresses (moto_server's ECS): connecting to them
   * is forbidden. The suite then checks the same facts through {@link ConformanceFixture.delivered}
   * and leaves out the cases that need the container's process to run (a command that cannot
   * start, an input file that cannot be written, logs, events); run the suite against a real
   * engine too for those.
   */
  readonly upstreamsReachable?: boolean;
  /**
   * What the engine was told to give the container (required when `upstreamsReachable` is false):
   * its environment and the files placed in it, read back from the engine's own records (e.g. a
   * task's definition and overrides), never from dde's memory.
   */
  delivered?(info: ContainerInfo): Promise<DeliveredInput>;
  /**
   * The backend's logs cannot tell stdout from stderr (ECS's awslogs driver merges them): the
   * suite then checks that both lines arrive, whatever stream they report. Default false.
   */
  readonly mergedLogStreams?: boolean;
  /** Removes everything the fixture and the suite created (both namespaces), even after failures. */
  cleanup(): Promise<void>;
}

/** What a container was given, as reported by {@link ConformanceFixture.delivered}. */
export interface DeliveredInput {
  /** Its environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Files placed in it before its process started, by absolute path, as UTF-8 text. */
  readonly files: Readonly<Record<string, string>>;
}

/** Port the suite's containers serve on. */
const PORT = 8080;
const INPUT: JsonValue = {
  tool: 'conformance',
  numbers: [1, 2, 3],
  nested: { unicode: 'äöü ✓', quote: '"\'' },
};
const INPUT_URL = 'https://data.example.org/inputs/conformance.json';

/**
 * The contract every {@link ContainerBackend} must meet, as a vitest suite that launches real
 * containers. Call it from a backend's integration test with a fixture factory:
 *
 * ```ts
 * describeBackendConformance('DockerBackend', async () => ({
 *   backend: new DockerBackend({ namespace }),
 *   otherBackend: new DockerBackend({ namespace: `${namespace}-other` }),
 *   image: await buildBusyboxImage(),
 *   cleanup: () => removeEverything(namespace),
 * }));
 * ```
 *
 * The containers serve what they received over HTTP (busybox `httpd`) and the suite fetches it
 * from `ContainerInfo.upstream`, so the test process must be able to reach upstreams, unless the
 * fixture says `upstreamsReachable: false` and reports deliveries through `delivered`.
 */
export function describeBackendConformance(title: string, setup: () => Promise<ConformanceFixture>): void {
  describe(title, () => {
    let fixture: ConformanceFixture | undefined;
    const launched = new Set<string>();

    const current = (): ConformanceFixture => {
      if (!fixture) throw new Error('The conformance fixture failed to set up');
      return fixture;
    };
    const timeout = () => current().launchTimeoutMs ?? 60_000;
    const uniqueName = (label: string) => `cf-${label}-${randomBytes(4).toString('hex')}`;
    const launch = async (
      spec: Omit<ContainerSpec, 'image'> & { image?: string },
    ): Promise<ContainerInfo> => {
      launched.add(spec.name);
      return current().backend.launch(
        { image: current().image, port: PORT, ...spec },
        { signal: AbortSignal.timeout(timeout()) },
      );
    };
    /** A container that writes what it received under /www, then serves /www on PORT. */
    const serving = (name: string, prepare: string, extra: Partial<ContainerSpec> = {}) =>
      launch({
        name,
        command: ['sh', '-c', `mkdir -p /www && ${prepare} && exec httpd -f -p ${PORT} -h /www`],
        ...extra,
      });

    const reachable = () => current().upstreamsReachable !== false;
    /** What the container received, from the container itself or from the fixture. */
    const received = async (
      info: ContainerInfo,
      what: { env?: string; envFile?: string; file?: string; served?: string },
    ): Promise<string | undefined> => {
      if (reachable()) return fetchText(info, what.served ?? '');
      const delivered = current().delivered;
      if (!delivered) throw new Error('A fixture with upstreamsReachable: false must implement delivered()');
      const given = await delivered(info);
      return what.file === undefined ? given.env[what.env ?? ''] : given.files[what.file];
    };

    beforeAll(async () => {
      fixture = await setup();
    });
    afterEach(async () => {
      const names = [...launched];
      launched.clear();
      if (fixture) await Promise.all(names.map((name) => current().backend.remove(name)));
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('delivers the input in INPUT_JSON with envInput()', async () => {
      const info = await serving(uniqueName('env'), 'printf "%s" "$INPUT_JSON" > /www/env.json', {
        input: INPUT,
        inputs: [envInput()],
      });
      expect(info.state).toBe('running');
      expect(JSON.parse((await received(info, { served: '/env.json', env: 'INPUT_JSON' })) ?? '')).toEqual(
        INPUT,
      );
    });

    it('writes the input to a file with fileInput(), creating missing directories', async () => {
      const info = await launch({
        name: uniqueName('file'),
        command: [
          'sh',
          '-c',
          `printf "%s" "$INPUT_PATH" > /www/path.txt && exec httpd -f -p ${PORT} -h /www`,
        ],
        input: INPUT,
        inputs: [fileInput('/www/deep/er/input.json', { pathVariable: 'INPUT_PATH' })],
      }).catch(unsupportedUnlessPlacesFiles(current));
      if (!info) return;
      const file = await received(info, { served: '/deep/er/input.json', file: '/www/deep/er/input.json' });
      expect(JSON.parse(file ?? '')).toEqual(INPUT);
      expect(await received(info, { served: '/path.txt', env: 'INPUT_PATH' })).toBe(
        '/www/deep/er/input.json',
      );
    });

    it('passes the URL in INPUT_JSON_URL with urlInput()', async () => {
      const info = await serving(uniqueName('url'), 'printf "%s" "$INPUT_JSON_URL" > /www/url.txt', {
        inputs: [urlInput(INPUT_URL)],
      });
      expect(await received(info, { served: '/url.txt', env: 'INPUT_JSON_URL' })).toBe(INPUT_URL);
    });

    it('combines env, file and url deliveries', async () => {
      const info = await serving(
        uniqueName('all'),
        'printf "%s" "$INPUT_JSON" > /www/env.json && printf "%s" "$INPUT_JSON_URL" > /www/url.txt',
        {
          input: INPUT,
          inputs: [envInput(), fileInput('/www/file.json'), urlInput((name) => `${INPUT_URL}?for=${name}`)],
          env: { EXTRA: 'plain env still arrives' },
        },
      ).catch(unsupportedUnlessPlacesFiles(current));
      if (!info) return;
      expect(JSON.parse((await received(info, { served: '/env.json', env: 'INPUT_JSON' })) ?? '')).toEqual(
        INPUT,
      );
      expect(
        JSON.parse((await received(info, { served: '/file.json', file: '/www/file.json' })) ?? ''),
      ).toEqual(INPUT);
      expect(await received(info, { served: '/url.txt', env: 'INPUT_JSON_URL' })).toBe(
        `${INPUT_URL}?for=${info.name}`,
      );
      if (!reachable()) expect(await received(info, { env: 'EXTRA' })).toBe('plain env still arrives');
    });

    it('inspects and lists its own containers, and only those', async () => {
      const { backend, otherBackend } = current();
      const name = uniqueName('list');
      const launchedInfo = await launch({
        name,
        command: ['sleep', '3600'],
        owner: 'user-42',
        labels: { team: 'conformance' },
        memoryReservationMb: 16,
      });
      const info = await backend.inspect(name);
      expect(info).toMatchObject({
        name,
        id: launchedInfo.id,
        namespace: backend.namespace,
        state: 'running',
        port: PORT,
        owner: 'user-42',
        memoryReservationMb: 16,
        labels: { team: 'conformance' },
      });
      expect(info?.createdAt).toBeInstanceOf(Date);
      expect(info?.labels).not.toHaveProperty('dde.managed');
      expect((await backend.list()).map((entry) => entry.name)).toContain(name);
      expect(await otherBackend.inspect(name)).toBeUndefined();
      expect((await otherBackend.list()).map((entry) => entry.name)).not.toContain(name);
      expect(await backend.inspect(uniqueName('absent'))).toBeUndefined();
      if (otherBackend.capabilities.logs) {
        await expect(otherBackend.logs(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
    });

    it('removes a container, idempotently, and never one of another namespace', async () => {
      const { backend, otherBackend } = current();
      const name = uniqueName('rm');
      await launch({ name, command: ['sleep', '3600'] });
      expect(await otherBackend.remove(name)).toBe(false);
      expect((await backend.inspect(name))?.state).toBe('running');
      expect(await backend.remove(name)).toBe(true);
      expect(await backend.inspect(name)).toBeUndefined();
      expect((await backend.list()).map((entry) => entry.name)).not.toContain(name);
      expect(await backend.remove(name)).toBe(false);
    });

    it('refuses a duplicate name with CONFLICT and keeps the first container', async () => {
      const { backend } = current();
      const name = uniqueName('dup');
      const first = await launch({ name, command: ['sleep', '3600'] });
      const error = await launch({ name, command: ['sleep', '3600'] }).catch((caught: unknown) => caught);
      expect(isDdeError(error) && error.code).toBe('CONFLICT');
      const info = await backend.inspect(name);
      expect(info?.id).toBe(first.id);
      expect(info?.state).toBe('running');
    });

    it('leaves nothing behind when the command cannot start', async () => {
      const { backend } = current();
      // Needs a process that really fails to start.
      if (!reachable()) return;
      const name = uniqueName('nocmd');
      const error = await launch({ name, command: ['/no/such/program'] }).catch((caught: unknown) => caught);
      expect(isDdeError(error) && error.code).toBe('LAUNCH_FAILED');
      expect(await backend.inspect(name)).toBeUndefined();
      expect(await backend.list()).toEqual([]);
    });

    it('leaves nothing behind when the input file cannot be written', async () => {
      const { backend } = current();
      if (!backend.capabilities.placesFiles || !reachable()) return;
      const name = uniqueName('nofile');
      // /bin/busybox is a regular file: nothing can be created below it.
      const error = await launch({
        name,
        command: ['sleep', '3600'],
        input: INPUT,
        inputs: [fileInput('/bin/busybox/input.json')],
      }).catch((caught: unknown) => caught);
      expect(isDdeError(error) && error.code).toBe('LAUNCH_FAILED');
      expect(await backend.inspect(name)).toBeUndefined();
      expect(await backend.list()).toEqual([]);
    });

    it('refuses an input too large for the environment before creating anything', async () => {
      const { backend } = current();
      const name = uniqueName('big');
      const error = await launch({
        name,
        command: ['sleep', '3600'],
        input: { blob: 'x'.repeat(MAX_ENV_STRING_BYTES) },
        inputs: [envInput()],
      }).catch((caught: unknown) => caught);
      expect(isDdeError(error) && error.code).toBe('INPUT_TOO_LARGE');
      expect(await backend.inspect(name)).toBeUndefined();
      expect(await backend.list()).toEqual([]);
    });

    it('returns stdout and stderr in the logs', async () => {
      const { backend } = current();
      if (!backend.capabilities.logs || !reachable()) return;
      const name = uniqueName('logs');
      await launch({ name, command: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exec sleep 3600'] });
      const entries = await eventually(async () => {
        const logs = await backend.logs(name);
        return logs.some((entry) => entry.text === 'to-stderr') ? logs : undefined;
      });
      const merged = current().mergedLogStreams === true;
      expect(entries).toContainEqual(
        expect.objectContaining({ stream: merged ? expect.any(String) : 'stdout', text: 'to-stdout' }),
      );
      expect(entries).toContainEqual(
        expect.objectContaining({ stream: merged ? expect.any(String) : 'stderr', text: 'to-stderr' }),
      );
      for (const entry of entries) if (entry.time !== undefined) expect(entry.time).toBeInstanceOf(Date);
    });

    it('pushes created, started, died and destroyed events', async () => {
      const { backend } = current();
      if (!backend.capabilities.pushesEvents || !reachable()) return;
      const controller = new AbortController();
      const events: BackendEvent[] = [];
      const consumed = (async () => {
        for await (const event of backend.events({ signal: controller.signal })) events.push(event);
      })().catch((error: unknown) => error);
      try {
        // The stream has no "connected" signal: launch probes until one is seen.
        await eventually(async () => {
          const probe = uniqueName('probe');
          await launch({ name: probe, command: ['sleep', '3600'] });
          await backend.remove(probe);
          launched.delete(probe);
          await sleep(500);
          return events.some((event) => event.type === 'destroyed' && event.name === probe) || undefined;
        });
        const name = uniqueName('events');
        const info = await launch({ name, command: ['sh', '-c', 'sleep 1; exit 3'] });
        const died = await eventually(async () =>
          events.find((event) => event.type === 'died' && event.name === name),
        );
        expect(died).toMatchObject({ type: 'died', name, id: info.id, exitCode: 3 });
        const stopped = await backend.inspect(name);
        expect(stopped).toMatchObject({ state: 'exited', exitCode: 3, upstream: undefined });
        expect(await backend.remove(name)).toBe(true);
        await eventually(
          async () => events.some((event) => event.type === 'destroyed' && event.name === name) || undefined,
        );
        const types = events
          .filter((event) => 'name' in event && event.name === name)
          .map((event) => event.type);
        expect(types).toEqual(['created', 'started', 'died', 'destroyed']);
      } finally {
        controller.abort();
        expect(await consumed).toBeUndefined();
      }
    });
  });
}

/** GETs `path` from the container, retrying until its server answers 200 (it may still be starting). */
async function fetchText(info: ContainerInfo, path: string): Promise<string> {
  const upstream = info.upstream;
  if (!upstream) throw new Error(`Container ${info.name} has no upstream (state ${info.state})`);
  return eventually(async () => {
    try {
      const response = await fetch(`http://${hostPort(upstream)}${path}`, {
        signal: AbortSignal.timeout(5_000),
      });
      const text = await response.text();
      return response.status === 200 ? text : undefined;
    } catch {
      return undefined;
    }
  });
}

function hostPort(upstream: Upstream): string {
  return upstream.host.includes(':')
    ? `[${upstream.host}]:${upstream.port}`
    : `${upstream.host}:${upstream.port}`;
}

/** Polls `probe` until it returns something other than undefined, for at most `timeoutMs`. */
async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A backend that cannot place files must refuse file deliveries with UNSUPPORTED. */
function unsupportedUnlessPlacesFiles(fixture: () => ConformanceFixture) {
  return (error: unknown): undefined => {
    if (fixture().backend.capabilities.placesFiles) throw error;
    expect(isDdeError(error) && error.code).toBe('UNSUPPORTED');
    return undefined;
  };
}
