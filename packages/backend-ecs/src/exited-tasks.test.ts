import type { Task } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { ExitedTasks } from './exited-tasks.ts';

const minute = 60_000;

/** A stopped task of dde's named `name`, stopped `agoMs` ago. */
function stopped(arn: string, name: string, agoMs: number, extra: Partial<Task> = {}): Task {
  const at = new Date(Date.now() - agoMs);
  return {
    taskArn: arn,
    group: `dde:${name}`,
    lastStatus: 'STOPPED',
    startedAt: new Date(at.getTime() - minute),
    stoppedAt: at,
    stoppedReason: 'Essential container in task exited',
    ...extra,
  };
}

/** ExitedTasks over a fixed set of tasks ECS describes, counting the tasks described. */
function over(tasks: Task[], retentionMs = 10 * minute) {
  const described: string[] = [];
  const exited = new ExitedTasks({
    retentionMs,
    listStopped: async () => tasks.map((task) => task.taskArn as string),
    describe: async (arns) => {
      described.push(...arns);
      return tasks.filter((task) => arns.includes(task.taskArn as string));
    },
  });
  return { exited, described };
}

const arns = (tasks: Task[]) => tasks.map((task) => task.taskArn);

describe('ExitedTasks', () => {
  it('lists the latest exited task of each name within the retention period, describing each once', async () => {
    const tasks = [
      stopped('a-old', 'a', 5 * minute),
      stopped('a-new', 'a', 1 * minute),
      stopped('b', 'b', 2 * minute),
      stopped('too-old', 'c', 11 * minute),
    ];
    const { exited, described } = over(tasks);
    expect(arns(await exited.list([]))).toEqual(['a-new', 'b']);
    expect(arns(await exited.list([]))).toEqual(['a-new', 'b']);
    expect(described.sort()).toEqual(['a-new', 'a-old', 'b', 'too-old']);
  });

  it('leaves out what dde stopped, what never ran, what was dismissed and names a live task holds', async () => {
    const tasks = [
      stopped('removed', 'a', minute, { stoppedReason: 'Removed by dde (namespace x)' }),
      stopped('never-ran', 'b', minute, { startedAt: undefined }),
      stopped('dismissed', 'c', minute),
      stopped('replaced', 'd', minute),
      stopped('kept', 'e', minute),
      // A newer task that dde removed hides an older failure of the same name.
      stopped('old-failure', 'f', 3 * minute),
      stopped('newer-removal', 'f', minute, { stoppedReason: 'Removed by dde: launch failed' }),
      { ...stopped('foreign', 'g', minute), group: 'family:other' },
    ];
    const { exited } = over(tasks);
    exited.dismiss('dismissed');
    expect(arns(await exited.list([{ taskArn: 'live', group: 'dde:d', lastStatus: 'RUNNING' }]))).toEqual([
      'kept',
    ]);
  });

  it('describes a task again while it is still stopping, and lists none with a retention of 0', async () => {
    const stopping = stopped('s', 's', 0, { lastStatus: 'STOPPING', stoppedAt: undefined });
    const { exited, described } = over([stopping]);
    expect(await exited.list([])).toEqual([]);
    expect(await exited.list([])).toEqual([]);
    expect(described).toEqual(['s', 's']);
    const none = over([stopped('x', 'x', 0)], 0);
    expect(await none.exited.list([])).toEqual([]);
    expect(none.described).toEqual([]);
  });
});
