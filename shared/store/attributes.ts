/**
 * Reading DynamoDB items (as the document client returns them, or as
 * `unmarshall` makes them from a stream image) into typed values: a row that
 * does not hold what its store wrote is reported as MalformedItem, naming the
 * attribute, instead of flowing on as a wrongly typed value.
 */
export type Item = Readonly<Record<string, unknown>>;

export class MalformedItem extends Error {
  override readonly name = 'MalformedItem';
}

export const isItem = (value: unknown): value is Item => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Set);

export function asItem(value: unknown, what: string): Item {
  if (!isItem(value)) throw new MalformedItem(`${what} is not a map`);
  return value;
}

export function stringAt(item: Item, name: string): string {
  const value = item[name];
  if (typeof value !== 'string') throw new MalformedItem(`attribute ${name} is not a string`);
  return value;
}

export function optionalStringAt(item: Item, name: string): string | undefined {
  return item[name] === undefined ? undefined : stringAt(item, name);
}

export function numberAt(item: Item, name: string): number {
  const value = item[name];
  if (typeof value !== 'number') throw new MalformedItem(`attribute ${name} is not a number`);
  return value;
}

export function optionalNumberAt(item: Item, name: string): number | undefined {
  return item[name] === undefined ? undefined : numberAt(item, name);
}

/** A string set; DynamoDB stores no empty set, so an absent one is empty. */
export function stringSetAt(item: Item, name: string): ReadonlySet<string> {
  const value = item[name];
  if (value === undefined) return new Set();
  if (!(value instanceof Set)) throw new MalformedItem(`attribute ${name} is not a set`);
  const strings = new Set<string>();
  for (const member of value) {
    if (typeof member !== 'string') throw new MalformedItem(`attribute ${name} is not a string set`);
    strings.add(member);
  }
  return strings;
}

/** An attribute value as a DynamoDB stream event carries it (aws-lambda's type; binary arrives base64). */
export interface StreamAttributeValue {
  S?: string | undefined;
  N?: string | undefined;
  B?: string | undefined;
  BOOL?: boolean | undefined;
  NULL?: boolean | undefined;
  SS?: string[] | undefined;
  NS?: string[] | undefined;
  BS?: string[] | undefined;
  M?: Record<string, StreamAttributeValue> | undefined;
  L?: StreamAttributeValue[] | undefined;
}

/**
 * A stream image as the document client would return the row: strings,
 * numbers, booleans, null, maps, lists and sets (binary as Buffer). Rows here
 * hold no number beyond 2^53, so numbers are plain numbers.
 */
export function fromStreamImage(image: Readonly<Record<string, StreamAttributeValue>>): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(image)) item[name] = fromStreamValue(value, name);
  return item;
}

function fromStreamValue(value: StreamAttributeValue, name: string): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.M !== undefined) return fromStreamImage(value.M);
  if (value.L !== undefined) return value.L.map((member) => fromStreamValue(member, name));
  if (value.SS !== undefined) return new Set(value.SS);
  if (value.NS !== undefined) return new Set(value.NS.map(Number));
  if (value.B !== undefined) return Buffer.from(value.B, 'base64');
  if (value.BS !== undefined) return new Set(value.BS.map((member) => Buffer.from(member, 'base64')));
  throw new MalformedItem(`attribute ${name} has no value of a known type`);
}
