import type { Json } from './template';

/** What a reference to a resource means in the local stack. */
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
  const malformed = () => new Error(`malformed ${fn ?? 'intrinsic'} in ${JSON.stringify(value)}`);
  const list: readonly Json[] = Array.isArray(arg) ? arg : [];
  switch (fn) {
    case 'Ref': {
      if (typeof arg !== 'string') throw malformed();
      if (arg === 'AWS::Region') return region;
      return PSEUDO[arg] ?? resolver.ref(arg);
    }
    case 'Fn::GetAtt': {
      const [id, attribute] = typeof arg === 'string' ? arg.split('.') : list;
      if (typeof id !== 'string' || typeof attribute !== 'string') throw malformed();
      return resolver.getAtt(id, attribute);
    }
    case 'Fn::Join': {
      const [separator, parts] = list;
      if (typeof separator !== 'string' || !Array.isArray(parts)) throw malformed();
      return parts.map(again).join(separator);
    }
    case 'Fn::Select': {
      const [index, from] = list;
      if ((typeof index !== 'number' && typeof index !== 'string') || from === undefined) throw malformed();
      return resolveList(from, resolver, region)[Number(index)] ?? '';
    }
    case 'Fn::Sub': {
      const noVars: Json = {};
      const [text, vars] = typeof arg === 'string' ? [arg, noVars] : list;
      if (typeof text !== 'string' || vars === null || typeof vars !== 'object' || Array.isArray(vars)) throw malformed();
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        const bound = vars[name];
        if (bound !== undefined) return again(bound);
        const [id, ...attribute] = name.split('.');
        if (id !== undefined && attribute.length > 0) return resolver.getAtt(id, attribute.join('.'));
        return again({ Ref: name });
      });
    }
    default:
      throw new Error(`unsupported intrinsic ${fn ?? '(none)'} in ${JSON.stringify(value)}`);
  }
}

function resolveList(value: Json, resolver: Resolver, region: string): string[] {
  if (Array.isArray(value)) return value.map((v) => resolve(v, resolver, region));
  const split = value !== null && typeof value === 'object' && 'Fn::Split' in value ? value['Fn::Split'] : undefined;
  if (Array.isArray(split)) {
    const [separator, source] = split;
    if (typeof separator === 'string' && source !== undefined) return resolve(source, resolver, region).split(separator);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)} to a list`);
}
