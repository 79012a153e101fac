import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '../tools/catalog.ts';
import { findTool } from '../tools/catalog.ts';
import { FormError } from '../web/form-error.ts';
import { generatedName, parseParameters } from './launcher.ts';

const viewer = findTool('viewer') as ToolDefinition;
const live = findTool('live') as ToolDefinition;

describe('parseParameters', () => {
  it('applies defaults and reads numbers and text from <tool>.<name> fields', () => {
    expect(parseParameters(viewer, {})).toEqual({ maxRows: 200 });
    expect(parseParameters(viewer, { 'viewer.maxRows': ' 25 ', 'live.greeting': 'ignored' })).toEqual({
      maxRows: 25,
    });
    expect(parseParameters(live, { 'live.greeting': 'Hi' })).toEqual({ greeting: 'Hi' });
  });

  it('refuses numbers out of range and text too long, naming the field', () => {
    for (const value of ['0', '10001', 'many']) {
      const error = (() => {
        try {
          parseParameters(viewer, { 'viewer.maxRows': value });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(FormError);
      expect((error as FormError).field).toBe('viewer.maxRows');
      expect((error as FormError).message).toBe('Rows to show must be a number from 1 to 10000.');
    }
    expect(() => parseParameters(live, { 'live.greeting': 'x'.repeat(201) })).toThrow(
      'at most 200 characters',
    );
  });
});

describe('generatedName', () => {
  it('is <owner>-<tool>-<4 characters>, usable as a container name', () => {
    const name = generatedName('alice', viewer);
    expect(name).toMatch(/^alice-viewer-[a-z0-9]{4}$/);
    expect(generatedName('alice', viewer)).not.toBe(name);
  });
});
