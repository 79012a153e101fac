import { describe, expect, it } from 'vitest';
import { groupFor, labelsToTags, nameFromGroup, startedByFor, tagsToLabels } from './tags.ts';

describe('tags', () => {
  it('carries labels and the name, and reads them back', () => {
    const tags = labelsToTags({ 'dde.managed': 'true', team: 'a b' }, 'alice-viewer');
    expect(tags).toEqual([
      { key: 'dde.managed', value: 'true' },
      { key: 'team', value: 'a b' },
      { key: 'dde.name', value: 'alice-viewer' },
    ]);
    expect(tagsToLabels(tags)).toEqual({ 'dde.managed': 'true', team: 'a b', 'dde.name': 'alice-viewer' });
  });

  it('refuses what ECS would refuse, naming the label', () => {
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`l${index}`, 'x']));
    expect(() => labelsToTags(many, 'n')).toThrow(
      expect.objectContaining({ code: 'INVALID_SPEC', field: 'labels' }),
    );
    expect(() => labelsToTags({ long: 'x'.repeat(257) }, 'n')).toThrow(
      expect.objectContaining({ field: 'labels.long', message: expect.stringContaining('256') }),
    );
    expect(() => labelsToTags({ 'aws:x': 'y' }, 'n')).toThrow(
      expect.objectContaining({ field: 'labels.aws:x' }),
    );
    expect(() => labelsToTags({ quote: 'it"s' }, 'n')).toThrow(
      expect.objectContaining({ field: 'labels.quote' }),
    );
  });

  it("names the user's field, not dde's tag, when a readiness path or owner cannot be a tag", () => {
    const readiness = (() => {
      try {
        labelsToTags({ 'dde.managed': 'true', 'dde.readiness-path': '/health?probe=1' }, 'n');
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(readiness).toMatchObject({ code: 'INVALID_SPEC', field: 'readiness.path' });
    expect((readiness as Error).message).toMatch(
      /^Invalid container spec: readiness\.path "\/health\?probe=1"/,
    );
    expect((readiness as Error).message).toMatch(/choose a readiness path made of those characters only/);
    expect((readiness as Error).message).not.toMatch(/labels\./);
    expect(() => labelsToTags({ 'dde.owner': 'auth0|12345' }, 'n')).toThrow(
      expect.objectContaining({ field: 'owner', message: expect.stringMatching(/pass an owner id/) }),
    );
  });

  it('marks namespaces and names in fields that survive a stopped task', () => {
    expect(startedByFor('my-app')).toBe('dde/my-app');
    expect(nameFromGroup(groupFor('alice-viewer'))).toBe('alice-viewer');
    expect(nameFromGroup('family:dde-x')).toBeUndefined();
    expect(nameFromGroup(undefined)).toBeUndefined();
  });
});
