import type { Template } from 'aws-cdk-lib/assertions';

/**
 * Reading a synthesized template's JSON in tests without `any`: resources with
 * their type and properties, and values found by path, checked where a test
 * needs a string or a list.
 */
export interface Resource {
  readonly Type: string;
  readonly Properties: Readonly<Record<string, unknown>>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
  readonly DependsOn?: readonly string[];
}

export interface Statement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Effect: string;
  readonly Condition?: unknown;
}

/** The value at `path` inside template JSON, or undefined where the path leads nowhere. */
export function at(value: unknown, ...path: readonly (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Reflect.get(current, key);
  }
  return current;
}

export function text(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string in the template, found ${JSON.stringify(value)}`);
  return value;
}

export function list(value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw new Error(`expected a list in the template, found ${JSON.stringify(value)}`);
  return value;
}

type RawResource = Omit<Resource, 'Properties'> & { readonly Properties?: Resource['Properties'] };

function isResource(value: unknown): value is RawResource {
  return typeof at(value, 'Type') === 'string' && (at(value, 'Properties') === undefined || typeof at(value, 'Properties') === 'object');
}

export function resourcesOf(template: Template): Record<string, Resource> {
  const resources: Record<string, Resource> = {};
  const all: unknown = template.toJSON()['Resources'];
  if (typeof all !== 'object' || all === null) throw new Error('the template has no Resources');
  for (const [id, value] of Object.entries(all)) {
    if (!isResource(value)) throw new Error(`resource ${id} has no Type`);
    // A resource with no properties reads as one with none set.
    resources[id] = { Properties: {}, ...value };
  }
  return resources;
}

/** The statements of an IAM policy resource. */
export const statementsIn = (policy: Resource): Statement[] => list(at(policy.Properties, 'PolicyDocument', 'Statement')).filter(isStatement);

function isStatement(value: unknown): value is Statement {
  return typeof at(value, 'Effect') === 'string' && at(value, 'Action') !== undefined;
}
