import type { BackendEvent } from '@dde/core';
import { DdeError } from '@dde/core';
import { describe, expect, it } from 'vitest';
import type { EngineEventMessage, OpenEventStream } from './events.ts';
import { followEvents, toBackendEvent } from './events.ts';

function message(
  action: string,
  second: number,
  attributes: Record<string, string> = {},
): EngineEventMessage {
  return {
    Type: 'container',
    Action: action,
    Actor: { ID: `id-${attributes.name ?? 'a'}`, Attributes: { name: 'a', ...attributes } },
    time: second,
    timeNano: second * 1e9 + 1234,
  };
}

describe('toBackendEvent', () => {
  it('maps the lifecycle actions', () => {
    const time = new Date(1_700_000_000_000);
    expect(toBackendEvent(message('create', 1_700_000_000))).toEqual({
      type: 'created',
      name: 'a',
      id: 'id-a',
      time,
    });
    expect(toBackendEvent(message('start', 1_700_000_000))?.type).toBe('started');
    expect(toBackendEvent(message('destroy', 1_700_000_000))?.type).toBe('destroyed');
    expect(toBackendEvent(message('die', 1_700_000_000, { exitCode: '137' }))).toEqual({
      type: 'died',
      name: 'a',
      id: 'id-a',
      time,
      exitCode: 137,
    });
    expect(toBackendEvent(message('die', 1_700_000_000))).toMatchObject({
      type: 'died',
      exitCode: undefined,
    });
  });

  it('maps health status changes', () => {
    expect(toBackendEvent(message('health_status: healthy', 1))).toMatchObject({
      type: 'health',
      health: 'healthy',
    });
    expect(toBackendEvent(message('health_status: unhealthy', 1))).toMatchObject({ health: 'unhealthy' });
    expect(toBackendEvent(message('health_status: bogus', 1))).toBeUndefined();
  });

  it('maps pause, unpause and network (dis)connections, and filters containers by label', () => {
    expect(toBackendEvent(message('pause', 1))).toMatchObject({ type: 'paused', name: 'a', id: 'id-a' });
    expect(toBackendEvent(message('unpause', 1))).toMatchObject({ type: 'unpaused', name: 'a' });
    const network = (action: string): EngineEventMessage => ({
      Type: 'network',
      Action: action,
      Actor: { ID: 'net-id', Attributes: { container: 'container-id', name: 'bridge', type: 'bridge' } },
      time: 1,
    });
    expect(toBackendEvent(network('connect'), ['dde.namespace=x'])).toEqual({
      type: 'network-connected',
      id: 'container-id',
      network: 'bridge',
      time: new Date(1000),
    });
    expect(toBackendEvent(network('disconnect'))?.type).toBe('network-disconnected');
    expect(toBackendEvent(network('create'))).toBeUndefined();
    const labels = ['dde.managed=true', 'dde.namespace=x'];
    expect(
      toBackendEvent(message('start', 1, { 'dde.managed': 'true', 'dde.namespace': 'x' }), labels)?.type,
    ).toBe('started');
    expect(
      toBackendEvent(message('start', 1, { 'dde.managed': 'true', 'dde.namespace': 'y' }), labels),
    ).toBeUndefined();
    expect(toBackendEvent(message('start', 1), labels)).toBeUndefined();
  });

  it('ignores other actions, other types and events without a name', () => {
    expect(toBackendEvent(message('exec_start: sh', 1))).toBeUndefined();
    expect(toBackendEvent({ ...message('create', 1), Type: 'image' })).toBeUndefined();
    expect(
      toBackendEvent({ Type: 'container', Action: 'create', Actor: { ID: 'x' }, time: 1 }),
    ).toBeUndefined();
  });
});

/** A scripted engine: each connection gets the next script (chunks, then an end or an error). */
function scriptedEngine(scripts: { chunks: string[]; fail?: Error; hang?: boolean }[]) {
  const calls: (number | undefined)[] = [];
  const open: OpenEventStream = async (since, signal) => {
    calls.push(since);
    const script = scripts.shift();
    if (!script) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return (async function* () {
      for (const chunk of script.chunks) yield Buffer.from(chunk);
      if (script.fail) throw script.fail;
      if (script.hang && !signal.aborted) {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      }
    })();
  };
  return { open, calls };
}

const line = (value: EngineEventMessage) => `${JSON.stringify(value)}\n`;
const fast = {
  backoff: { initialMs: 1, maxMs: 4 },
  mapError: (error: unknown) => new DdeError('ENGINE_UNAVAILABLE', String(error)),
};

async function collect(events: AsyncIterable<BackendEvent>, count: number, controller: AbortController) {
  const seen: BackendEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (seen.length === count) controller.abort();
  }
  return seen;
}

describe('followEvents', () => {
  it('parses events split across chunks', async () => {
    const text = line(message('create', 100)) + line(message('start', 100));
    const { open } = scriptedEngine([
      { chunks: [text.slice(0, 7), text.slice(7, 150), text.slice(150)], hang: true },
    ]);
    const controller = new AbortController();
    const seen = await collect(followEvents(open, controller.signal, fast), 2, controller);
    expect(seen.map((event) => event.type)).toEqual(['created', 'started']);
  });

  it('reconnects after the stream ends, from the last second seen, skipping replayed events, then resyncs', async () => {
    const { open, calls } = scriptedEngine([
      { chunks: [line(message('create', 100)), line(message('start', 101))] },
      { fail: new Error('socket hang up'), chunks: [] },
      {
        // The engine replays second 101, then goes on.
        chunks: [line(message('start', 101)), line(message('die', 102, { exitCode: '0' }))],
        hang: true,
      },
    ]);
    const controller = new AbortController();
    const seen = await collect(followEvents(open, controller.signal, fast), 5, controller);
    expect(seen.map((event) => event.type)).toEqual(['created', 'started', 'resync', 'resync', 'died']);
    expect(calls).toEqual([undefined, 101, 101]);
    const resync = seen[2];
    expect(resync?.type === 'resync' && resync.reason).toContain('closed');
    const failed = seen[3];
    expect(failed?.type === 'resync' && failed.reason).toContain('socket hang up');
  });

  it('keeps retrying while the engine is down, then resyncs once', async () => {
    const scripts = [{ chunks: [line(message('create', 100))] }];
    let attempts = 0;
    const open: OpenEventStream = async (since, signal) => {
      attempts++;
      if (attempts === 1) return scriptedEngine(scripts).open(since, signal);
      if (attempts < 5) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return scriptedEngine([{ chunks: [line(message('destroy', 103))], hang: true }]).open(since, signal);
    };
    const controller = new AbortController();
    const seen = await collect(followEvents(open, controller.signal, fast), 3, controller);
    expect(seen.map((event) => event.type)).toEqual(['created', 'resync', 'destroyed']);
    expect(attempts).toBe(5);
  });

  it('throws when the first connection fails', async () => {
    const { open } = scriptedEngine([]);
    const events = followEvents(open, new AbortController().signal, fast);
    await expect(collect(events, 1, new AbortController())).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
    });
  });

  it('ends quietly when the signal aborts, even while waiting to reconnect', async () => {
    const { open } = scriptedEngine([{ chunks: [line(message('create', 100))] }]);
    const controller = new AbortController();
    const events = followEvents(open, controller.signal, {
      ...fast,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    const seen: BackendEvent[] = [];
    const done = (async () => {
      for await (const event of events) seen.push(event);
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await done;
    expect(seen.map((event) => event.type)).toEqual(['created']);
  });
});
