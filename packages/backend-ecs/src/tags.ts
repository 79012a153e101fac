import type { Tag } from '@aws-sdk/client-ecs';
import { DdeError, LABELS } from '@dde/core';

/** Tag holding the container name (the routing key). The task's `group` carries it too. */
export const NAME_TAG = 'dde.name';

// ECS limits: 50 tags per resource, keys up to 128 characters, values up to 256.
const MAX_TAGS = 50;
const MAX_KEY = 128;
const MAX_VALUE = 256;
// The `aws:` prefix is reserved by AWS.
const TAG_CHARACTERS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

const ALPHABET = 'letters, digits, spaces and _ . : / = + - @';

/**
 * The spec fields dde records in its own free-text labels, with what to do when ECS refuses
 * the value: the error names the field the user wrote, not the tag dde made of it.
 */
const SPEC_FIELDS: Readonly<Record<string, { field: string; fix: string }>> = {
  [LABELS.readinessPath]: {
    field: 'readiness.path',
    fix: 'choose a readiness path made of those characters only (no query string, no percent-encoding)',
  },
  [LABELS.owner]: {
    field: 'owner',
    fix: 'pass an owner id made of those characters only (e.g. a hash or an encoding of the user id)',
  },
};

/**
 * dde's labels as ECS tags (propagated to the task). Throws `INVALID_SPEC` naming the label
 * when a key or value breaks ECS's limits or alphabet, before anything is created.
 */
export function labelsToTags(labels: Readonly<Record<string, string>>, name: string): Tag[] {
  const entries = Object.entries({ ...labels, [NAME_TAG]: name });
  if (entries.length > MAX_TAGS) {
    throw new DdeError(
      'INVALID_SPEC',
      `Invalid container spec: labels would give the task ${entries.length} tags with dde's own, ` +
        `over ECS's limit of ${MAX_TAGS}: drop some labels`,
      { field: 'labels' },
    );
  }
  for (const [key, value] of entries) {
    const field = `labels.${key}`;
    if (key.length > MAX_KEY || key.toLowerCase().startsWith('aws:') || !TAG_CHARACTERS.test(key)) {
      throw new DdeError(
        'INVALID_SPEC',
        `Invalid container spec: ${field} is not a valid ECS tag key (at most ${MAX_KEY} ${ALPHABET}, not starting with aws:): rename the label`,
        { field },
      );
    }
    if (value.length > MAX_VALUE || !TAG_CHARACTERS.test(value)) {
      const recorded = SPEC_FIELDS[key];
      if (recorded !== undefined) {
        throw new DdeError(
          'INVALID_SPEC',
          `Invalid container spec: ${recorded.field} ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)} cannot be recorded on an ECS task: ` +
            `dde keeps it in the tag ${key}, and ECS tag values allow at most ${MAX_VALUE} ${ALPHABET}; ${recorded.fix}`,
          { field: recorded.field },
        );
      }
      throw new DdeError(
        'INVALID_SPEC',
        `Invalid container spec: ${field} is not a valid ECS tag value (at most ${MAX_VALUE} ${ALPHABET}): shorten it or drop the other characters`,
        { field },
      );
    }
  }
  return entries.map(([key, value]) => ({ key, value }));
}

/** Tags back as labels (dde's name tag included). */
export function tagsToLabels(tags: readonly Tag[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.key !== undefined) labels[tag.key] = tag.value ?? '';
  return labels;
}

/** The `startedBy` value that marks the tasks of a namespace (ListTasks filters on it). */
export function startedByFor(namespace: string): string {
  return `dde/${namespace}`;
}

/** The task `group` that carries the container name; it survives the task stopping, tags do not. */
export function groupFor(name: string): string {
  return `dde:${name}`;
}

/** The container name from a task's group, or undefined for a group dde did not set. */
export function nameFromGroup(group: string | undefined): string | undefined {
  return group?.startsWith('dde:') ? group.slice(4) : undefined;
}
