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

/** A resource's construct name: its logical id without the 8-digit hash CDK adds (`Connect5B7625CA` → `Connect`). */
export const constructName = (logicalId: string): string => logicalId.replace(/[0-9A-F]{8}$/, '');

/** A table's ARN, and one of its indexes', as the template writes them in a policy. */
export const tableArn = (tableId: string) => ({ 'Fn::GetAtt': [tableId, 'Arn'] });
export const indexArn = (tableId: string, index: string) => ({ 'Fn::Join': ['', [tableArn(tableId), `/index/${index}`]] });

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

/** Every statement the role of a function (its logical id) holds: its inline policies and the policies attached to it. */
export function roleStatements(resources: Record<string, Resource>, functionId: string): Statement[] {
  const role = text(at(resources[functionId]?.Properties, 'Role', 'Fn::GetAtt', 0));
  const inline = list(at(resources[role]?.Properties, 'Policies') ?? []).flatMap((policy) =>
    statementsIn({ Type: 'inline', Properties: { PolicyDocument: at(policy, 'PolicyDocument') } }),
  );
  const attached = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && list(r.Properties['Roles']).some((ref) => at(ref, 'Ref') === role))
    .flatMap(statementsIn);
  return [...inline, ...attached];
}

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

/** Whether the only condition IAM would find here (LeadingKeys, for all values) holds for a request on `leadingKey`. */
function conditionHolds(condition: unknown, leadingKey: string | undefined): boolean {
  if (condition === undefined) return true;
  const patterns = at(condition, 'ForAllValues:StringLike', 'dynamodb:LeadingKeys');
  if (typeof condition !== 'object' || condition === null || Object.keys(condition).length !== 1 || !Array.isArray(patterns)) {
    throw new Error(`a condition this test cannot evaluate: ${JSON.stringify(condition)}`);
  }
  if (leadingKey === undefined) throw new Error('a LeadingKeys condition needs the key the request names');
  return patterns.some((pattern) => glob(text(pattern)).test(leadingKey));
}

/**
 * Whether `statements` allow `action` on `resource` (an ARN as the template writes it) for an item
 * whose partition key is `leadingKey`: an evaluation of the statements, not a match on their text.
 * Wildcard actions and the LeadingKeys condition count; any other condition fails the test.
 */
export function allows(statements: readonly Statement[], action: string, resource: unknown, leadingKey?: string): boolean {
  const arn = JSON.stringify(resource);
  const applies = (s: Statement) =>
    [s.Action].flat().some((pattern) => glob(pattern).test(action)) &&
    [s.Resource].flat().some((r) => r === '*' || JSON.stringify(r) === arn) &&
    conditionHolds(s.Condition, leadingKey);
  return statements.some((s) => s.Effect === 'Allow' && applies(s)) && !statements.some((s) => s.Effect === 'Deny' && applies(s));
}
