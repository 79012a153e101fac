import { describe, expect, it } from 'vitest';
import { DdeError } from './errors.ts';
import { envInput, fileInput, MAX_ENV_STRING_BYTES, planInputs, urlInput } from './input.ts';

const context = (json: string | undefined) => ({ name: 'tool', json });

function caught(run: () => unknown): DdeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DdeError);
    return error as DdeError;
  }
  throw new Error('expected an error');
}

describe('envInput', () => {
  it('puts the JSON in INPUT_JSON, or the chosen variable', () => {
    expect(envInput().plan(context('{"a":1}'))).toEqual({ env: { INPUT_JSON: '{"a":1}' }, files: [] });
    expect(envInput({ variable: 'TOOL_INPUT' }).plan(context('[]')).env).toEqual({ TOOL_INPUT: '[]' });
  });

  it('accepts the largest input one environment string holds and refuses one byte more', () => {
    const room = MAX_ENV_STRING_BYTES - 'INPUT_JSON='.length - 1; // minus the terminating NUL
    const fits = `"${'x'.repeat(room - 2)}"`;
    expect(envInput().plan(context(fits)).env.INPUT_JSON).toHaveLength(room);
    const error = caught(() => envInput().plan(context(`"${'x'.repeat(room - 1)}"`)));
    expect(error.code).toBe('INPUT_TOO_LARGE');
    expect(error.field).toBe('input');
    expect(error.message).toMatch(/too large for the environment variable INPUT_JSON/);
    expect(error.message).toMatch(/fileInput\(path\).*urlInput\(url\)/);
  });

  it('counts bytes, not characters', () => {
    const room = MAX_ENV_STRING_BYTES - 'INPUT_JSON='.length - 1;
    const multibyte = `"${'é'.repeat(Math.ceil(room / 2))}"`; // 2 bytes each
    expect(caught(() => envInput().plan(context(multibyte))).code).toBe('INPUT_TOO_LARGE');
  });

  it('refuses an invalid variable name', () => {
    const error = caught(() => envInput({ variable: 'BAD-NAME' }));
    expect(error.code).toBe('INVALID_SPEC');
    expect(error.message).toMatch(/not a valid environment variable name/);
  });
});

describe('fileInput', () => {
  it('plans a file with the JSON and optional path variable', () => {
    const plan = fileInput('/data//input.json', { mode: 0o600, pathVariable: 'INPUT_JSON_FILE' }).plan(
      context('{"b":2}'),
    );
    expect(plan.env).toEqual({ INPUT_JSON_FILE: '/data/input.json' });
    expect(plan.files).toHaveLength(1);
    expect(plan.files[0]?.path).toBe('/data/input.json');
    expect(plan.files[0]?.mode).toBe(0o600);
    expect(Buffer.from(plan.files[0]?.content ?? []).toString()).toBe('{"b":2}');
  });

  it('refuses relative paths, dot segments and bad modes', () => {
    expect(caught(() => fileInput('input.json')).field).toBe('fileInput(path)');
    expect(caught(() => fileInput('/a/../b')).message).toMatch(/"\.\." segments/);
    expect(caught(() => fileInput('/in.json', { mode: 0o10000 })).field).toBe('fileInput(mode)');
  });

  it('holds inputs far larger than the environment can', () => {
    const big = JSON.stringify({ data: 'x'.repeat(2 * MAX_ENV_STRING_BYTES) });
    expect(fileInput('/in.json').plan(context(big)).files[0]?.content.byteLength).toBe(big.length);
  });
});

describe('urlInput', () => {
  it('passes the URL in INPUT_JSON_URL, also from a function of the name', () => {
    expect(urlInput('https://example.org/in.json').plan(context(undefined)).env).toEqual({
      INPUT_JSON_URL: 'https://example.org/in.json',
    });
    expect(urlInput((name) => `http://app.internal/inputs/${name}`).plan(context(undefined)).env).toEqual({
      INPUT_JSON_URL: 'http://app.internal/inputs/tool',
    });
  });

  it('refuses URLs that are not absolute http(s)', () => {
    expect(caught(() => urlInput('/relative')).message).toMatch(/not an absolute URL/);
    expect(caught(() => urlInput('file:///etc/passwd')).message).toMatch(/http or https/);
    expect(caught(() => urlInput(() => 'ftp://x/y').plan(context(undefined))).field).toBe('urlInput(url)');
  });
});

describe('planInputs', () => {
  it('combines deliveries', () => {
    const plan = planInputs([envInput(), fileInput('/in.json'), urlInput('http://x.test/in')], context('{}'));
    expect(Object.keys(plan.env).sort()).toEqual(['INPUT_JSON', 'INPUT_JSON_URL']);
    expect(plan.files.map((file) => file.path)).toEqual(['/in.json']);
  });

  it('refuses two deliveries that set the same variable or path', () => {
    expect(caught(() => planInputs([envInput(), envInput()], context('{}'))).message).toMatch(
      /sets INPUT_JSON/,
    );
    expect(
      caught(() => planInputs([fileInput('/in.json'), fileInput('/in.json')], context('{}'))).field,
    ).toBe('inputs[1]');
  });
});
