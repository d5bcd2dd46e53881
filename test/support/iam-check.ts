import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { LedgerEntry } from '../../local/dynamodb-ledger';
import { loadApp } from '../../local/template';
import { allows, indexArn, resourcesOf, roleStatements, tableArn, type Resource } from './template-json';

interface Assembly {
  readonly resources: Record<string, Resource>;
  /** Tables' logical ids by their local name. */
  readonly tableIds: ReadonlyMap<string, string>;
}

const assemblies = new Map<string, Assembly>();

function assembly(dir: string): Assembly {
  let loaded = assemblies.get(dir);
  if (!loaded) {
    const app = loadApp(dir);
    const json = JSON.parse(readFileSync(path.join(dir, `${app.stackName}.template.json`), 'utf8')) as Record<string, unknown>;
    loaded = { resources: resourcesOf(Template.fromJSON(json)), tableIds: new Map([...app.tables.values()].map((table) => [table.name, table.logicalId])) };
    assemblies.set(dir, loaded);
  }
  return loaded;
}

/**
 * The DynamoDB requests of a local stack's functions (its ledger, local/dynamodb-ledger.ts) that
 * their roles in the stack's template would not allow on AWS: the action, on the table or index,
 * for every partition key it names (`dynamodb:LeadingKeys`). DynamoDB Local enforces no IAM, so
 * without this a grant the code has outgrown fails first in a deployed stack. One line each.
 */
export function deniedRequests(entries: readonly LedgerEntry[], assemblyDir: string): string[] {
  const { resources, tableIds } = assembly(assemblyDir);
  const denied = entries.flatMap((entry) =>
    entry.access.flatMap(({ action, table, index, leadingKeys }) => {
      const id = tableIds.get(table);
      if (!id) return [`${entry.fn} ${action} on ${table}, a table not in the template`];
      const resource = index ? indexArn(id, index) : tableArn(id);
      const statements = roleStatements(resources, entry.fn);
      const keys = leadingKeys.length > 0 ? leadingKeys : [undefined];
      return keys.filter((key) => !allows(statements, `dynamodb:${action}`, resource, key)).map((key) => `${entry.fn} ${action} on ${id}${index ? `/${index}` : ''} ${key ?? ''}`.trim());
    }),
  );
  return [...new Set(denied)];
}
