/**
 * Lambda event filtering, as event source mappings apply it: a record is kept
 * when any filter's pattern matches. Supports what patterns are made of:
 * exact values, prefix, suffix, anything-but, exists, numeric and
 * equals-ignore-case, nested to any depth.
 */
type Pattern = Record<string, unknown>;

export function matchesAny(record: unknown, patterns: readonly Pattern[]): boolean {
  return patterns.length === 0 || patterns.some((pattern) => matches(record, pattern));
}

function matches(value: unknown, pattern: Pattern): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const field = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(rule)) return rule.some((condition) => satisfies(field, condition));
    if (rule !== null && typeof rule === 'object') return field !== undefined && matches(field, rule as Pattern);
    return false;
  });
}

function satisfies(field: unknown, condition: unknown): boolean {
  if (condition === null || typeof condition !== 'object') {
    return Array.isArray(field) ? field.includes(condition) : field === condition;
  }
  const [operator, operand] = Object.entries(condition as Record<string, unknown>)[0] ?? [];
  const values = Array.isArray(field) ? field : [field];
  switch (operator) {
    case 'exists':
      return operand ? field !== undefined : field === undefined;
    case 'prefix':
      return values.some((v) => typeof v === 'string' && v.startsWith(String(operand)));
    case 'suffix':
      return values.some((v) => typeof v === 'string' && v.endsWith(String(operand)));
    case 'equals-ignore-case':
      return values.some((v) => typeof v === 'string' && v.toLowerCase() === String(operand).toLowerCase());
    case 'anything-but': {
      if (field === undefined) return false;
      if (operand !== null && typeof operand === 'object' && !Array.isArray(operand)) {
        const prefix = (operand as { prefix?: string }).prefix;
        return prefix !== undefined && values.every((v) => typeof v !== 'string' || !v.startsWith(prefix));
      }
      const excluded = Array.isArray(operand) ? operand : [operand];
      return values.every((v) => !excluded.includes(v));
    }
    case 'numeric':
      return values.some((v) => typeof v === 'number' && numeric(v, operand as (string | number)[]));
    default:
      throw new Error(`unsupported filter operator ${operator}`);
  }
}

function numeric(value: number, comparisons: (string | number)[]): boolean {
  for (let i = 0; i < comparisons.length; i += 2) {
    const op = comparisons[i];
    const bound = Number(comparisons[i + 1]);
    const ok = op === '=' ? value === bound : op === '<' ? value < bound : op === '<=' ? value <= bound : op === '>' ? value > bound : op === '>=' ? value >= bound : false;
    if (!ok) return false;
  }
  return true;
}
