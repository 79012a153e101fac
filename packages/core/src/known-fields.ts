import type { DdeError } from './errors.ts';

/**
 * Every field of an options type, as a record the compiler keeps complete and exact: adding a
 * field to the type without listing it here (or listing one the type lacks) fails to compile.
 */
export type FieldList<T> = { readonly [K in keyof Required<T>]: true };

/**
 * Throws, through `refuse`, for the first field of `value` that `fields` does not list: a
 * misspelt field (`memoryReservationMB`) would otherwise be ignored without a word and its
 * default used. `prefix` names where the object sits (`capacity.`), `owner` what it configures.
 */
export function refuseUnknownFields(
  value: unknown,
  fields: Readonly<Record<string, true>>,
  owner: string,
  refuse: (field: string, message: string) => DdeError,
  prefix = '',
): void {
  // Not an object at all: the field's own check says what it must be.
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(fields, key)) continue;
    const known = Object.keys(fields);
    const near = known.find((field) => field.toLowerCase() === key.toLowerCase());
    throw refuse(
      `${prefix}${key}`,
      near === undefined
        ? `is not a field of ${owner} (known: ${known.join(', ')})`
        : `is not a field of ${owner}: did you mean ${near}?`,
    );
  }
}
