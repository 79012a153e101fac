import type { ContainerInfo, ContainerSpec } from '@dde/core';
import { isDdeError } from '@dde/core';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  execIn,
  fetchWhenReady,
  NAMESPACE_LABEL,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DockerBackend, namespaceNetworkName } from './index.ts';
import { ICC_OPTION } from './network.ts';

// Each tool serves a page naming itself on port 80, as root: what an ordinary web tool does.
const SERVE = 'mkdir -p /www && echo "tool $HOSTNAME" > /www/index.html && exec httpd -f -p 80 -h /www';

await describeWithDocker('tools are isolated from each other', (docker) => {
  const namespace = uniqueNamespace('iso');
  const raceNamespace = `${namespace}-race`;
  const sharedNetwork = `${namespace}-shared`;
  const backends: DockerBackend[] = [];
  const backendFor = (options: ConstructorParameters<typeof DockerBackend>[0]) => {
    const backend = new DockerBackend(options);
    backends.push(backend);
    return backend;
  };
  const backend = backendFor({ namespace });
  let image: string;
  let counter = 0;
  const tool = (label: string): ContainerSpec => ({
    name: `${namespace}-${label}-${++counter}`,
    image,
    port: 80,
    command: ['sh', '-c', SERVE],
  });
  const networksNamed = async (name: string) =>
    (await docker.listNetworks({ filters: { name: [name] } })).filter((network) => network.Name === name);
  const addressOn = async (info: ContainerInfo, network: string) => {
    const inspected = await docker.getContainer(info.id).inspect();
    return inspected.NetworkSettings.Networks[network]?.IPAddress;
  };
  // From inside `from`, ask the tool at `address` for its page (busybox nc, 2 s timeout; the
  // static busybox's wget crashes in a scratch image).
  const fetchFrom = async (from: ContainerInfo, address: string) => {
    const request = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${address} 80`;
    const { exitCode, output } = await execIn(docker, from.id, ['sh', '-c', request]);
    return { exitCode, output, page: /^tool [0-9a-f]+/m.exec(output)?.[0] };
  };

  beforeAll(async () => {
    image = await buildImage(docker, `${namespace}-busybox:1`, { labels: { [NAMESPACE_LABEL]: namespace } });
  });
  afterAll(async () => {
    for (const each of backends) await each.close();
    await cleanupNamespace(docker, raceNamespace);
    await cleanupNamespace(docker, namespace);
  });

  it('puts a namespace on its own network where tools cannot reach each other, while this process reaches both', async () => {
    const [a, b] = await Promise.all([backend.launch(tool('a')), backend.launch(tool('b'))]);
    expect(backend.network).toBe(namespaceNetworkName(namespace));
    const [network, ...others] = await networksNamed(backend.network);
    expect(others).toEqual([]);
    expect(network?.Options?.[ICC_OPTION]).toBe('false');
    expect(network?.Labels).toMatchObject({ 'dde.managed': 'true', 'dde.namespace': namespace });
    for (const info of [a, b]) {
      const inspected = await docker.getContainer(info.id).inspect();
      expect(Object.keys(inspected.NetworkSettings.Networks)).toEqual([backend.network]);
      // The proxy's address for the tool is its address on that network, and it answers there.
      expect(info.upstream?.host).toBe(await addressOn(info, backend.network));
      expect(await fetchWhenReady(info.upstream, '/')).toBe(`tool ${inspected.Config.Hostname}\n`);
    }
    // Ports published on loopback (the upstream of a remote engine) answer too.
    const published = await backendFor({ namespace, upstream: 'published' }).inspect(a.name);
    expect(published?.upstream?.host).toBe('127.0.0.1');
    expect(await fetchWhenReady(published?.upstream, '/')).toMatch(/^tool /);

    const bAddress = await addressOn(b, backend.network);
    const aAddress = await addressOn(a, backend.network);
    if (bAddress === undefined || aAddress === undefined) throw new Error('no address on the network');
    const attempt = await fetchFrom(a, bAddress);
    expect(attempt.page, attempt.output).toBeUndefined();
    expect(attempt.exitCode).not.toBe(0);
    expect((await fetchFrom(b, aAddress)).page).toBeUndefined();
    // Each still reaches itself: the refusal is isolation, not a broken tool.
    expect((await fetchFrom(a, aAddress)).page).toMatch(/^tool /);
  });

  it('lets tools on an explicitly shared network reach each other', async () => {
    await docker.createNetwork({ Name: sharedNetwork, Labels: { [NAMESPACE_LABEL]: namespace } });
    const shared = backendFor({ namespace, network: sharedNetwork });
    const [c, d] = await Promise.all([shared.launch(tool('c')), shared.launch(tool('d'))]);
    const dAddress = await addressOn(d, sharedNetwork);
    if (dAddress === undefined) throw new Error('no address on the shared network');
    expect(c.upstream?.host).toBe(await addressOn(c, sharedNetwork));
    expect(await fetchWhenReady(c.upstream, '/')).toMatch(/^tool /);
    await fetchWhenReady(d.upstream, '/');
    const attempt = await fetchFrom(c, dAddress);
    expect(attempt.page, attempt.output).toMatch(/^tool /);
    // dde never removes a network it did not create.
    expect(await shared.removeNetwork()).toBe(false);
    expect(await networksNamed(sharedNetwork)).toHaveLength(1);
  });

  it('refuses a network option naming no network, with a typed error, and leaves nothing behind', async () => {
    const missing = backendFor({ namespace, network: `${namespace}-absent` });
    const spec = tool('absent');
    const error = await missing.launch(spec).catch((caught: unknown) => caught);
    expect(isDdeError(error) && { code: error.code, field: error.field }).toEqual({
      code: 'NOT_FOUND',
      field: 'network',
    });
    expect(await missing.inspect(spec.name)).toBeUndefined();
  });

  it('creates one network for concurrent first launches, adopts it after a restart, and removes it', async () => {
    const name = namespaceNetworkName(raceNamespace);
    // Two proxy instances starting at once, each launching several tools.
    const first = backendFor({ namespace: raceNamespace });
    const second = backendFor({ namespace: raceNamespace });
    const specs = Array.from({ length: 4 }, (_, index) => ({
      ...tool(`race${index}`),
      name: `${raceNamespace}-${index}`,
    }));
    const launched = await Promise.all(specs.map((spec, index) => (index % 2 ? first : second).launch(spec)));
    const networks = await networksNamed(name);
    expect(networks).toHaveLength(1);
    const networkId = networks[0]?.Id;
    for (const info of launched) {
      const inspected = await docker.getContainer(info.id).inspect();
      expect(inspected.NetworkSettings.Networks[name]?.NetworkID).toBe(networkId);
    }

    // A restarted instance adopts the network instead of creating another.
    const restarted = backendFor({ namespace: raceNamespace });
    const late = await restarted.launch({ ...tool('late'), name: `${raceNamespace}-late` });
    expect((await docker.getContainer(late.id).inspect()).NetworkSettings.Networks[name]?.NetworkID).toBe(
      networkId,
    );
    expect(await networksNamed(name)).toHaveLength(1);

    // Removal: refused while tools use it, then done, then idempotent.
    const busy = await restarted.removeNetwork().catch((caught: unknown) => caught);
    expect(isDdeError(busy) && { code: busy.code, field: busy.field }).toEqual({
      code: 'CONFLICT',
      field: 'network',
    });
    for (const info of [...launched, late]) await restarted.remove(info.name);
    expect(await restarted.removeNetwork()).toBe(true);
    expect(await networksNamed(name)).toEqual([]);
    expect(await restarted.removeNetwork()).toBe(false);

    // A backend that had the network cached finds it gone and creates it again.
    const again = await first.launch({ ...tool('again'), name: `${raceNamespace}-again` });
    expect(await networksNamed(name)).toHaveLength(1);
    expect(await fetchWhenReady(again.upstream, '/')).toMatch(/^tool /);
  });

  it('refuses to adopt a network of that name that dde did not create', async () => {
    const foreignNamespace = `${namespace}-foreign`;
    await docker.createNetwork({
      Name: namespaceNetworkName(foreignNamespace),
      Labels: { [NAMESPACE_LABEL]: namespace },
    });
    const foreign = backendFor({ namespace: foreignNamespace });
    const spec = { ...tool('foreign'), name: `${foreignNamespace}-1` };
    const error = await foreign.launch(spec).catch((caught: unknown) => caught);
    expect(isDdeError(error) && { code: error.code, field: error.field }).toEqual({
      code: 'CONFLICT',
      field: 'network',
    });
    expect(await foreign.inspect(spec.name)).toBeUndefined();
  });
});
