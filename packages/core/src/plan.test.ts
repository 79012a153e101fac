import { describe, expect, it } from 'vitest';
import type { BackendCapabilities } from './backend.ts';
import type { DdeError } from './errors.ts';
import { envInput, fileInput, urlInput } from './input.ts';
import { LABELS } from './labels.ts';
import { planLaunch } from './plan.ts';

const capable: BackendCapabilities = {
  placesFiles: true,
  pushesEvents: true,
  volumes: true,
  logs: true,
  pullsImages: true,
};
const backend = { namespace: 'ns1', capabilities: capable };

function failure(run: () => unknown): DdeError {
  try {
    run();
  } catch (error) {
    return error as DdeError;
  }
  throw new Error('expected an error');
}

describe('planLaunch', () => {
  it('merges spec env with delivery env, plans files and labels', () => {
    const plan = planLaunch(
      {
        name: 'tool',
        image: 'busybox',
        input: { x: 1 },
        inputs: [envInput(), fileInput('/in.json'), urlInput('http://x.test/in')],
        env: { MODE: 'a' },
      },
      backend,
    );
    expect(plan.env).toEqual({ MODE: 'a', INPUT_JSON: '{"x":1}', INPUT_JSON_URL: 'http://x.test/in' });
    expect(plan.files.map((file) => file.path)).toEqual(['/in.json']);
    expect(plan.labels[LABELS.namespace]).toBe('ns1');
    expect(plan.spec.image).toBe('busybox:latest');
  });

  it('refuses an env variable that a delivery also sets', () => {
    const error = failure(() =>
      planLaunch({ name: 'tool', image: 'busybox', input: 1, env: { INPUT_JSON: 'x' } }, backend),
    );
    expect(error.code).toBe('INVALID_SPEC');
    expect(error.field).toBe('env.INPUT_JSON');
  });

  it('refuses file delivery and extra directories on a backend that cannot do them', () => {
    const limited = { namespace: 'ns1', capabilities: { ...capable, placesFiles: false, volumes: false } };
    const files = failure(() =>
      planLaunch({ name: 'tool', image: 'busybox', input: 1, inputs: [fileInput('/in.json')] }, limited),
    );
    expect(files.code).toBe('UNSUPPORTED');
    expect(files.field).toBe('inputs[0]');
    expect(files.message).toMatch(/use envInput\(\) or urlInput\(\)/);
    const volumes = failure(() =>
      planLaunch({ name: 'tool', image: 'busybox', extraDirectories: ['/x'] }, limited),
    );
    expect(volumes.field).toBe('extraDirectories');
  });

  it('refuses an input too large for the environment before anything else happens', () => {
    const error = failure(() =>
      planLaunch({ name: 'tool', image: 'busybox', input: 'x'.repeat(200_000) }, backend),
    );
    expect(error.code).toBe('INPUT_TOO_LARGE');
  });
});
