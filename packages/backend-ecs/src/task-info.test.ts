import type { Task } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { toContainerInfo } from './task-info.ts';

const TAGS = [
  { key: 'dde.managed', value: 'true' },
  { key: 'dde.namespace', value: 'my-app' },
  { key: 'dde.port', value: '8080' },
  { key: 'dde.owner', value: 'alice' },
  { key: 'dde.readiness-path', value: '/health' },
  { key: 'dde.name', value: 'alice-viewer' },
  { key: 'course', value: 'bio' },
];
const TASK: Task = {
  taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/tools/abc',
  startedBy: 'dde/my-app',
  group: 'dde:alice-viewer',
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  cpu: '512',
  memory: '1024',
  createdAt: new Date('2026-01-01T00:00:00Z'),
  tags: TAGS,
  containers: [{ name: 'tool', image: 'viewer:1' }],
};
const UPSTREAM = { host: '10.0.1.5', port: 8080 };

describe('toContainerInfo', () => {
  it('reads a running task and its tags', () => {
    expect(toContainerInfo(TASK, { namespace: 'my-app', upstream: UPSTREAM })).toMatchObject({
      name: 'alice-viewer',
      id: TASK.taskArn,
      image: 'viewer:1',
      namespace: 'my-app',
      state: 'running',
      port: 8080,
      upstream: UPSTREAM,
      owner: 'alice',
      readiness: { path: '/health' },
      cpus: 0.5,
      memoryLimitMb: 1024,
      labels: { course: 'bio' },
    });
  });

  it('reports a running task without an address yet as still starting', () => {
    expect(toContainerInfo(TASK, { namespace: 'my-app', upstream: undefined })).toMatchObject({
      state: 'created',
      upstream: undefined,
    });
    expect(
      toContainerInfo({ ...TASK, lastStatus: 'PROVISIONING' }, { namespace: 'my-app', upstream: UPSTREAM })
        ?.state,
    ).toBe('created');
  });

  it('names a stopped task without its tags from group and startedBy, which survive', () => {
    const stopped: Task = {
      ...TASK,
      lastStatus: 'STOPPED',
      tags: [],
      stoppedAt: new Date('2026-01-01T01:00:00Z'),
      containers: [{ name: 'tool', image: 'viewer:1', exitCode: 137 }],
    };
    expect(
      toContainerInfo(stopped, { namespace: 'my-app', upstream: undefined, fallbackPort: 8080 }),
    ).toMatchObject({
      name: 'alice-viewer',
      state: 'exited',
      exitCode: 137,
      port: 8080,
      owner: undefined,
      finishedAt: new Date('2026-01-01T01:00:00Z'),
    });
  });

  it('sees no task of another namespace or one dde did not start', () => {
    expect(toContainerInfo(TASK, { namespace: 'other', upstream: UPSTREAM })).toBeUndefined();
    expect(
      toContainerInfo({ ...TASK, group: 'family:web' }, { namespace: 'my-app', upstream: UPSTREAM }),
    ).toBeUndefined();
    expect(
      toContainerInfo({ ...TASK, startedBy: 'ecs-svc/1' }, { namespace: 'my-app', upstream: UPSTREAM }),
    ).toBeUndefined();
  });
});
