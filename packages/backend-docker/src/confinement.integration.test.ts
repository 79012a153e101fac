import type { ContainerInfo, ContainerSpec } from '@dde/core';
import { isDdeError } from '@dde/core';
import {
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  execIn,
  NAMESPACE_LABEL,
  uniqueNamespace,
} from '@dde/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_DROPPED_CAPABILITIES, DEFAULT_PIDS_LIMIT, DockerBackend } from './index.ts';

const MIB = 1024 * 1024;
// Starts 40 short sleeps in the background: a small fork bomb.
const FORK_40 = 'i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; echo started';
// Allocates and fills a 200 MB buffer.
const ALLOCATE_200MB = 'dd if=/dev/zero of=/dev/null bs=200M count=1';
// A packet socket, what ARP spoofing needs (NET_RAW).
const ARPING = 'arping -c 1 -w 1 -I eth0 $(ip route | awk "/default/ { print \\$3 }")';

await describeWithDocker('containers are confined by default, each default overridable', (docker) => {
  const namespace = uniqueNamespace('iso');
  const backend = new DockerBackend({ namespace });
  let image: string;
  let counter = 0;
  const launch = (extra: Partial<ContainerSpec> = {}, on: DockerBackend = backend) =>
    on.launch({
      name: `${namespace}-c${++counter}`,
      image,
      port: 8080,
      command: ['sleep', '3600'],
      ...extra,
    });
  const hostConfigOf = async (info: ContainerInfo) =>
    (await docker.getContainer(info.id).inspect()).HostConfig;
  const run = (info: ContainerInfo, script: string) => execIn(docker, info.id, ['sh', '-c', script]);
  const sortedCaps = (names: readonly string[] | null | undefined) =>
    (names ?? []).map((name) => name.replace(/^CAP_/, '')).sort();

  beforeAll(async () => {
    image = await buildImage(docker, `${namespace}-busybox:1`, { labels: { [NAMESPACE_LABEL]: namespace } });
  });
  afterAll(async () => {
    await backend.close();
    await cleanupNamespace(docker, namespace);
  });

  it('sets no-new-privileges, drops NET_RAW and co., caps processes, and limits memory to 4x a lone reservation', async () => {
    const info = await launch({ memoryReservationMb: 16 });
    const host = await hostConfigOf(info);
    expect(host.SecurityOpt).toEqual(['no-new-privileges']);
    expect(sortedCaps(host.CapDrop)).toEqual([...DEFAULT_DROPPED_CAPABILITIES].sort());
    expect(host.CapAdd ?? []).toEqual([]);
    expect(host.PidsLimit).toBe(DEFAULT_PIDS_LIMIT);
    expect(host.Memory).toBe(64 * MIB);
    expect(host.MemoryReservation).toBe(16 * MIB);
    expect(info.memoryLimitMb).toBe(64);

    // Enforced, not just recorded:
    expect((await run(info, 'grep NoNewPrivs /proc/self/status')).output).toMatch(/NoNewPrivs:\s+1/);
    const arping = await run(info, ARPING);
    expect(arping.output).toMatch(/Operation not permitted/);
    expect(arping.exitCode).not.toBe(0);
    expect((await run(info, ALLOCATE_200MB)).exitCode).toBe(137); // OOM-killed
    // What ordinary tools do as root still works: ownership changes, a few dozen processes.
    expect((await run(info, 'touch /f && chown 101:101 /f && chmod 640 /f && echo ok')).output).toMatch(
      /^ok/,
    );
    expect(await run(info, FORK_40)).toMatchObject({ exitCode: 0, output: expect.stringMatching(/started/) });
  });

  it('stops a fork bomb at the pids limit', async () => {
    const info = await launch({ security: { pidsLimit: 16 } });
    expect((await hostConfigOf(info)).PidsLimit).toBe(16);
    const bomb = await run(info, FORK_40);
    expect(bomb.output).toMatch(/can't fork/);
    expect(bomb.exitCode).not.toBe(0);
  });

  it('honours every override of the spec and the backend', async () => {
    const info = await launch({
      memoryReservationMb: 16,
      memoryLimitMb: 300,
      security: {
        noNewPrivileges: false,
        addCapabilities: ['NET_RAW'],
        dropCapabilities: ['CHOWN'],
        pidsLimit: false,
      },
    });
    const host = await hostConfigOf(info);
    expect(host.SecurityOpt ?? []).toEqual([]);
    expect(sortedCaps(host.CapAdd)).toEqual(['NET_RAW']);
    expect(sortedCaps(host.CapDrop)).toEqual(['AUDIT_WRITE', 'CHOWN', 'MKNOD', 'SETFCAP']);
    expect(host.PidsLimit ?? 0).toBeLessThanOrEqual(0); // no limit
    expect(host.Memory).toBe(300 * MIB);
    expect((await run(info, 'grep NoNewPrivs /proc/self/status')).output).toMatch(/NoNewPrivs:\s+0/);
    expect((await run(info, ARPING)).output).not.toMatch(/Operation not permitted/);
    expect((await run(info, ALLOCATE_200MB)).exitCode).toBe(0);
    expect((await run(info, 'touch /f && chown 101:101 /f')).output).toMatch(/Operation not permitted/);

    const unlimited = new DockerBackend({ namespace, memoryLimitFactor: false });
    const roomy = await launch({ memoryReservationMb: 16 }, unlimited);
    expect((await hostConfigOf(roomy)).Memory ?? 0).toBe(0);
    const doubled = await launch(
      { memoryReservationMb: 16 },
      new DockerBackend({ namespace, memoryLimitFactor: 2 }),
    );
    expect((await hostConfigOf(doubled)).Memory).toBe(32 * MIB);
  });

  it('refuses bad values with typed errors and creates nothing', async () => {
    const before = (await backend.list()).length;
    for (const [security, field] of [
      [{ pidsLimit: 0 }, 'security.pidsLimit'],
      [{ addCapabilities: ['NET_RAWW'] }, 'security.addCapabilities[0]'],
      [{ noNewPrivileges: 'no' }, 'security.noNewPrivileges'],
      [{ capabilities: [] }, 'security.capabilities'],
    ] as const) {
      const error = await launch({ security } as Partial<ContainerSpec>).catch((caught: unknown) => caught);
      expect(isDdeError(error) && { code: error.code, field: error.field }).toEqual({
        code: 'INVALID_SPEC',
        field,
      });
    }
    expect((await backend.list()).length).toBe(before);
    let caught: unknown;
    try {
      new DockerBackend({ namespace, memoryLimitFactor: 0 });
    } catch (error) {
      caught = error;
    }
    expect(isDdeError(caught) && { code: caught.code, field: caught.field }).toEqual({
      code: 'INVALID_OPTION',
      field: 'memoryLimitFactor',
    });
  });
});
