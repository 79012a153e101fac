import type { Task } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeStop, waitForRunning } from './wait.ts';

const ARN = 'arn:aws:ecs:us-east-1:123456789012:task/c/1';

/** A task that answers each DescribeTasks with the next of `answers` (the last one repeats). */
function scripted(answers: (Task | undefined)[]) {
  const times: number[] = [];
  const describe = async () => {
    times.push(Date.now());
    return answers.length > 1 ? answers.shift() : answers[0];
  };
  return { describe, times };
}

describe('waitForRunning', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off from 1 s to 5 s between polls', async () => {
    const pending: Task = { taskArn: ARN, lastStatus: 'PENDING' };
    const answers: Task[] = Array.from({ length: 8 }, () => pending);
    answers.push({ taskArn: ARN, lastStatus: 'RUNNING' });
    const { describe, times } = scripted(answers);
    const statuses: string[] = [];
    const running = waitForRunning(ARN, {
      name: 'tool',
      describe,
      missingGraceMs: 30_000,
      onStatus: (status) => statuses.push(status),
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await running).lastStatus).toBe('RUNNING');
    const gaps = times.map((time, index) => time - (times[index - 1] ?? 0));
    expect(gaps).toEqual([1000, 1500, 2250, 3375, 5000, 5000, 5000, 5000, 5000]);
    expect(statuses).toEqual(['PENDING', 'RUNNING']);
  });

  it('tolerates MISSING during the grace period', async () => {
    const { describe } = scripted([undefined, undefined, undefined, { taskArn: ARN, lastStatus: 'RUNNING' }]);
    const running = waitForRunning(ARN, { name: 'tool', describe, missingGraceMs: 10_000 });
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await running).lastStatus).toBe('RUNNING');
  });

  it('gives up when the task stays MISSING past the grace period', async () => {
    const { describe } = scripted([undefined]);
    const failed = waitForRunning(ARN, { name: 'tool', describe, missingGraceMs: 5_000 }).catch(
      (error) => error,
    );
    await vi.advanceTimersByTimeAsync(20_000);
    expect(await failed).toMatchObject({
      code: 'LAUNCH_FAILED',
      message: expect.stringContaining('MISSING'),
    });
  });

  it('fails fast on STOPPED with the stop code, the reason and the exit codes', async () => {
    const stopped: Task = {
      taskArn: ARN,
      lastStatus: 'STOPPED',
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'CannotPullContainerError: pull access denied',
      containers: [
        { name: 'tool', reason: 'CannotPullContainerError: pull access denied' },
        { name: 'dde-input', exitCode: 0 },
      ],
    };
    const { describe, times } = scripted([{ taskArn: ARN, lastStatus: 'PROVISIONING' }, stopped]);
    const failed = waitForRunning(ARN, { name: 'alice-viewer', describe, missingGraceMs: 5_000 }).catch(
      (error) => error,
    );
    await vi.advanceTimersByTimeAsync(10_000);
    const error = await failed;
    expect(error.code).toBe('LAUNCH_FAILED');
    expect(error.message).toBe(
      'alice-viewer did not start: the task stopped (TaskFailedToStart: CannotPullContainerError: pull access denied); ' +
        'container tool: CannotPullContainerError: pull access denied; container dde-input: exit code 0',
    );
    expect(times).toHaveLength(2);
  });

  it('stops polling when the signal aborts', async () => {
    const { describe, times } = scripted([{ taskArn: ARN, lastStatus: 'PENDING' }]);
    const controller = new AbortController();
    const waiting = waitForRunning(ARN, {
      name: 'tool',
      describe,
      missingGraceMs: 5_000,
      signal: controller.signal,
    }).catch((error) => error);
    await vi.advanceTimersByTimeAsync(2_600);
    controller.abort();
    expect(await waiting).toMatchObject({ code: 'ABORTED' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(times).toHaveLength(2);
  });

  it('keeps polling a RUNNING task until it is reachable', async () => {
    const { describe } = scripted([{ taskArn: ARN, lastStatus: 'RUNNING' }]);
    let calls = 0;
    const running = waitForRunning(ARN, {
      name: 'tool',
      describe,
      missingGraceMs: 5_000,
      isReady: () => ++calls >= 3,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    await running;
    expect(calls).toBe(3);
  });
});

describe('describeStop', () => {
  it('says what it knows when ECS gives little', () => {
    expect(describeStop({})).toBe('the task stopped (no stop code: no reason given)');
  });
});
