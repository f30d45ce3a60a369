import type { CheckedCondition, CheckedFilter, TypedValue } from './list-query.js';

/**
 * The meaning of a checked filter, stated over plain objects. The SQL the store compiles must select exactly the
 * records this accepts (a property test holds the two together on SQLite and PostgreSQL):
 *
 * - Text compares by its UTF-8 bytes (SQLite's BINARY, PostgreSQL's "C" collation), numbers as numbers, times as
 *   instants (stored as ISO-8601 text of one width, so text order is time order), booleans only for (in)equality.
 * - isnull holds for a missing value and for empty text; isnotnull is its negation.
 * - eq, gt, gte, lt, lte, in, btn (inclusive) and like never hold for a missing value; neq, nin and notlike are their
 *   negations, so they do hold for it.
 * - like: the value occurs in the field, ignoring the case of ASCII letters only (other letters match exactly).
 * - A field inside a nested list (phoneNumbers.phoneNumber) holds when the condition holds for at least one item.
 */

export type FieldValue = string | number | boolean | null;

export interface EvaluableRecord {
  readonly [field: string]: FieldValue | readonly Readonly<Record<string, FieldValue>>[];
}

export function evaluateFilter(filter: CheckedFilter, record: EvaluableRecord): boolean {
  if (filter.kind === 'group') {
    return filter.op === 'AND'
      ? filter.children.every((child) => evaluateFilter(child, record))
      : filter.children.some((child) => evaluateFilter(child, record));
  }
  if (filter.list !== undefined) {
    const items = (record[filter.list] ?? []) as readonly Readonly<Record<string, FieldValue>>[];
    return items.some((item) => evaluateCondition(filter, item[filter.field] ?? null));
  }
  return evaluateCondition(filter, (record[filter.field] ?? null) as FieldValue);
}

export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** <0, 0, >0 as the databases order two values of one field. */
export function compareValues(a: TypedValue, b: TypedValue): number {
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return Number(a) - Number(b);
}

function evaluateCondition(condition: CheckedCondition, value: FieldValue): boolean {
  const { op, values } = condition;
  const present = value !== null && !(typeof value === 'string' && value === '' && (op === 'isnull' || op === 'isnotnull'));
  switch (op) {
    case 'isnull':
      return !present;
    case 'isnotnull':
      return present;
    case 'neq':
    case 'nin':
    case 'notlike':
      return !evaluateCondition({ ...condition, op: op === 'neq' ? 'eq' : op === 'nin' ? 'in' : 'like' }, value);
    default:
      break;
  }
  if (value === null) return false;
  const cmp = (other: TypedValue) => compareValues(value, other);
  switch (op) {
    case 'eq':
      return cmp(values[0]!) === 0;
    case 'gt':
      return cmp(values[0]!) > 0;
    case 'gte':
      return cmp(values[0]!) >= 0;
    case 'lt':
      return cmp(values[0]!) < 0;
    case 'lte':
      return cmp(values[0]!) <= 0;
    case 'in':
      return values.some((other) => cmp(other) === 0);
    case 'btn':
      return cmp(values[0]!) >= 0 && cmp(values[1]!) <= 0;
    case 'like':
      return asciiLower(String(value)).includes(asciiLower(String(values[0])));
  }
}
