import type { Json } from './template';

/** What a reference to a resource means on this machine. */
export interface Resolver {
  ref(logicalId: string): string;
  getAtt(logicalId: string, attribute: string): string;
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::AccountId': '000000000000',
  'AWS::NoValue': '',
};

/**
 * Resolves the intrinsic functions CDK emits into environment variables and
 * ARNs: Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and Fn::Sub.
 */
export function resolve(value: Json, resolver: Resolver, region: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || Array.isArray(value)) throw new Error(`cannot resolve ${JSON.stringify(value)} to a string`);
  const [fn, arg] = Object.entries(value)[0] ?? [];
  const again = (v: Json) => resolve(v, resolver, region);
  switch (fn) {
    case 'Ref': {
      const name = arg as string;
      if (name === 'AWS::Region') return region;
      return PSEUDO[name] ?? resolver.ref(name);
    }
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
      return resolver.getAtt(id!, attribute!);
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, Json[]];
      return parts.map(again).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [number | string, Json];
      return resolveList(list, resolver, region)[Number(index)] ?? '';
    }
    case 'Fn::Sub': {
      const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, Json>]);
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (name in vars) return again(vars[name]!);
        if (name.includes('.')) return resolver.getAtt(name.split('.')[0]!, name.split('.').slice(1).join('.'));
        return again({ Ref: name });
      });
    }
    default:
      throw new Error(`unsupported intrinsic ${fn ?? '(none)'} in ${JSON.stringify(value)}`);
  }
}

function resolveList(value: Json, resolver: Resolver, region: string): string[] {
  if (Array.isArray(value)) return value.map((v) => resolve(v, resolver, region));
  if (value !== null && typeof value === 'object' && 'Fn::Split' in value) {
    const [separator, source] = value['Fn::Split'] as [string, Json];
    return resolve(source, resolver, region).split(separator);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)} to a list`);
}
