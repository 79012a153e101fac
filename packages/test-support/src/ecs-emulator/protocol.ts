/**
 * The AWS wire details the emulator shares between its services: the error every handler
 * throws (serialized as AWS JSON 1.1 `{"__type", "message"}` or EC2's XML), and readers for
 * request members that answer a malformed member as the service would.
 */

/** An error answered to the client with the service's exception name and status. */
export class AwsError extends Error {
  /** The exception name the SDK maps onto its class (`ClusterNotFoundException`, ...). */
  readonly type: string;
  /** The HTTP status (400 for client errors, 500 for `ServerException`). */
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
  }
}

/** ECS's exception for a malformed or contradictory parameter. */
export function invalidParameter(message: string): AwsError {
  return new AwsError('InvalidParameterException', message);
}

/** ECS's exception for a request it understood but refuses (bad task definition, unknown one). */
export function clientError(message: string): AwsError {
  return new AwsError('ClientException', message);
}

/** The JSON request body of one call. */
export type Input = Readonly<Record<string, unknown>>;

/** An optional string member; anything else but a string is refused. */
export function optionalString(input: Input, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsError('SerializationException', `${field} must be a string`);
  return value;
}

/** A required string member. */
export function requiredString(input: Input, field: string): string {
  const value = optionalString(input, field);
  if (value === undefined || value === '') throw invalidParameter(`${field} can not be blank.`);
  return value;
}

/** An optional number member. */
export function optionalNumber(input: Input, field: string): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new AwsError('SerializationException', `${field} must be a number`);
  }
  return value;
}

/** An optional boolean member. */
export function optionalBoolean(input: Input, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new AwsError('SerializationException', `${field} must be a boolean`);
  return value;
}

/** An optional list member (empty when absent). */
export function list(input: Input, field: string): readonly unknown[] {
  const value = input[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AwsError('SerializationException', `${field} must be a list`);
  return value;
}

/** An optional list of strings (empty when absent). */
export function stringList(input: Input, field: string): readonly string[] {
  const values = list(input, field);
  for (const value of values) {
    if (typeof value !== 'string') throw new AwsError('SerializationException', `${field} must hold strings`);
  }
  return values as readonly string[];
}

/** An optional structure member (undefined when absent). */
export function optionalObject(input: Input, field: string): Input | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AwsError('SerializationException', `${field} must be a structure`);
  }
  return value as Input;
}

/** Each element of a list of structures. */
export function objects(input: Input, field: string): readonly Input[] {
  return list(input, field).map((value, index) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new AwsError('SerializationException', `${field}[${index}] must be a structure`);
    }
    return value as Input;
  });
}

/** A page of `items` after the opaque `nextToken`, at most `maxResults` (default and cap `cap`). */
export function page<T>(
  items: readonly T[],
  input: Input,
  cap: number,
): { readonly items: readonly T[]; readonly nextToken?: string } {
  const max = optionalNumber(input, 'maxResults') ?? cap;
  if (max < 1 || max > cap) throw invalidParameter(`maxResults must be between 1 and ${cap}.`);
  const token = optionalString(input, 'nextToken');
  let start = 0;
  if (token !== undefined) {
    start = Number.parseInt(Buffer.from(token, 'base64url').toString(), 10);
    if (!Number.isInteger(start) || start < 0) throw invalidParameter('Invalid nextToken.');
  }
  const end = start + max;
  return {
    items: items.slice(start, end),
    ...(end < items.length ? { nextToken: Buffer.from(String(end)).toString('base64url') } : {}),
  };
}

/** Seconds since the epoch, as AWS JSON carries timestamps. */
export function epochSeconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}
