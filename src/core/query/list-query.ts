import { DialplaneError } from '../../errors.js';
import {
  FilterSyntaxError,
  parseFilter,
  CONDITION_OPERATORS,
  ARITY,
  type ConditionOperator,
  type FilterNode,
  type GroupOperator,
} from './filter-parser.js';

/**
 * Listing rules shared by every DialLink list: which fields a resource can be filtered and sorted by (the
 * allow-list), how query parameters become a checked query, and the paging numbers. The store compiles a checked
 * query to SQL; filter-evaluate.ts states the same meaning over objects in memory.
 */

export type FieldType = 'string' | 'integer' | 'boolean' | 'timestamp';

export interface FieldSpec {
  readonly type: FieldType;
  /** Sortable fields can be named in `sort`; fields inside a nested list never are. */
  readonly sortable?: boolean;
}

/** A resource's fields: scalars by name, and nested lists (phoneNumbers) with their own fields. */
export interface ResourceSpec {
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly lists?: Readonly<Record<string, Readonly<Record<string, FieldSpec>>>>;
}

export type TypedValue = string | number | boolean;

/** A condition after its field was found in the allow-list and its values converted to the field's type. */
export interface CheckedCondition {
  readonly kind: 'condition';
  readonly op: ConditionOperator;
  /** The nested list the field is in, or undefined for a field of the resource itself. */
  readonly list: string | undefined;
  readonly field: string;
  readonly type: FieldType;
  readonly values: readonly TypedValue[];
}

export interface CheckedGroup {
  readonly kind: 'group';
  readonly op: GroupOperator;
  readonly children: readonly CheckedFilter[];
}

export type CheckedFilter = CheckedCondition | CheckedGroup;

export interface SortKey {
  readonly field: string;
  readonly direction: 'asc' | 'desc';
}

export interface ListQuery {
  readonly filter: CheckedFilter | undefined;
  readonly sort: readonly SortKey[];
  readonly pageNumber: number;
  readonly pageSize: number;
}

export interface Paging {
  readonly pageNumber: number;
  readonly pageSize: number;
  readonly totalNumberOfRecords: number;
  readonly totalNumberOfPages: number;
  readonly hasNextPage: boolean;
  readonly hasPreviousPage: boolean;
  readonly sortingCriteria: string | null;
  readonly hasMore: boolean;
}

export interface Page<T> {
  readonly data: readonly T[];
  readonly paging: Paging;
}

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

const ORDERED: readonly ConditionOperator[] = ['gt', 'gte', 'lt', 'lte', 'btn'];
const TEXT_ONLY: readonly ConditionOperator[] = ['like', 'notlike'];
const RESERVED = new Set(['pageNumber', 'pageSize', 'sort', 'filter']);

function invalidFilter(message: string, position: number | undefined, extra: Record<string, unknown> = {}): DialplaneError {
  return new DialplaneError('invalid_filter', message, { ...(position !== undefined ? { position } : {}), ...extra });
}

/** Finds a field (`firstName`, `phoneNumbers.phoneNumber`) in the resource's allow-list. */
export function resolveField(spec: ResourceSpec, path: string, position?: number): { list: string | undefined; field: string; spec: FieldSpec } {
  const dot = path.indexOf('.');
  if (dot === -1) {
    const field = Object.hasOwn(spec.fields, path) ? spec.fields[path] : undefined;
    if (field) return { list: undefined, field: path, spec: field };
  } else {
    const listName = path.slice(0, dot);
    const name = path.slice(dot + 1);
    const list = spec.lists && Object.hasOwn(spec.lists, listName) ? spec.lists[listName] : undefined;
    const field = list && Object.hasOwn(list, name) ? list[name] : undefined;
    if (field) return { list: listName, field: name, spec: field };
  }
  throw new DialplaneError('unknown_field', `${spec.name} cannot be filtered by '${path}'`, {
    field: path,
    ...(position !== undefined ? { position } : {}),
    allowed: fieldNames(spec),
  });
}

export function fieldNames(spec: ResourceSpec): string[] {
  const names = Object.keys(spec.fields);
  for (const [list, fields] of Object.entries(spec.lists ?? {})) for (const name of Object.keys(fields)) names.push(`${list}.${name}`);
  return names;
}

/** Converts one value of a filter to its field's type, or explains why it cannot be. */
export function convertValue(type: FieldType, raw: string, field: string, position?: number): TypedValue {
  // PostgreSQL refuses NUL in text and both databases would store a lone surrogate as U+FFFD: neither can match.
  if (raw.includes('\u0000') || !isWellFormed(raw)) {
    throw invalidFilter(`a value of '${field}' contains a NUL character or a lone surrogate`, position, { field });
  }
  switch (type) {
    case 'string':
      return raw;
    case 'integer': {
      if (!/^-?\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw invalidFilter(`'${field}' takes whole numbers; '${raw}' is not one`, position, { field });
      }
      return Number(raw);
    }
    case 'boolean': {
      const lower = raw.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      throw invalidFilter(`'${field}' takes true or false; '${raw}' is neither`, position, { field });
    }
    case 'timestamp': {
      const iso = parseInstant(raw);
      if (iso === undefined) {
        throw invalidFilter(`'${field}' takes an ISO-8601 date-time or epoch milliseconds; '${raw}' is neither`, position, { field });
      }
      return iso;
    }
  }
}

/** Times are stored as toISOString() text, so a value in that form compares as the instant it names. */
function parseInstant(raw: string): string | undefined {
  let ms: number;
  if (/^-?\d{1,15}$/.test(raw)) ms = Number(raw);
  else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) {
    ms = Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : /Z|[+-]\d{2}:?\d{2}$/.test(raw) ? raw : `${raw}Z`);
  } else return undefined;
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) return undefined;
  return date.toISOString();
}

/** Checks a parsed tree against the resource's allow-list and types. */
export function checkFilter(spec: ResourceSpec, node: FilterNode): CheckedFilter {
  if (node.kind === 'group') return { kind: 'group', op: node.op, children: node.children.map((child) => checkFilter(spec, child)) };
  const { list, field, spec: fieldSpec } = resolveField(spec, node.field, node.fieldPosition);
  return checkCondition(node.op, list, field, node.field, fieldSpec, node.values, node.position);
}

function checkCondition(
  op: ConditionOperator,
  list: string | undefined,
  field: string,
  path: string,
  fieldSpec: FieldSpec,
  raw: readonly string[],
  position: number | undefined,
): CheckedCondition {
  const { type } = fieldSpec;
  if (TEXT_ONLY.includes(op) && type !== 'string') throw invalidFilter(`${op} applies to text fields; '${path}' is ${article(type)}`, position, { field: path });
  if (ORDERED.includes(op) && type === 'boolean') throw invalidFilter(`${op} does not apply to '${path}', which is true or false`, position, { field: path });
  const values = raw.map((value) => convertValue(type, value, path, position));
  return { kind: 'condition', op, list, field, type, values };
}

function article(type: FieldType): string {
  return type === 'integer' ? 'an integer' : type === 'boolean' ? 'a boolean' : `a ${type}`;
}

function integerParam(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value)) throw new DialplaneError('validation_failed', `${name} must be a whole number`, { field: name });
  const n = Number(value);
  if (n < min || n > max) throw new DialplaneError('validation_failed', `${name} must be between ${min} and ${max}`, { field: name });
  return n;
}

/** `sort=+lastName,-createdAt`; a "+" sent unencoded arrives as a space and means the same. */
export function parseSort(spec: ResourceSpec, text: string | undefined): SortKey[] {
  if (text === undefined || text === '') return [];
  return text.split(',').map((part) => {
    const sign = part[0];
    const direction = sign === '-' ? 'desc' : 'asc';
    const field = sign === '-' || sign === '+' || sign === ' ' ? part.slice(1) : part;
    const found = Object.hasOwn(spec.fields, field) ? spec.fields[field] : undefined;
    if (!found?.sortable) {
      throw new DialplaneError('unknown_field', `${spec.name} cannot be sorted by '${field}'`, {
        field,
        allowed: Object.entries(spec.fields).filter(([, f]) => f.sortable).map(([name]) => name),
      });
    }
    return { field, direction };
  });
}

export function printSort(sort: readonly SortKey[]): string | null {
  return sort.length === 0 ? null : sort.map((key) => `${key.direction === 'desc' ? '-' : '+'}${key.field}`).join(',');
}

/**
 * Builds a checked query from a request's query parameters: paging, sort, `filter=` (the advanced language) and any
 * other parameter as a basic filter on the field of that name: `field=value` (equals) or `field=op::value`
 * (values of in, nin and btn separated by commas). Every condition is ANDed. Unknown fields are refused by name.
 */
export function parseListQuery(spec: ResourceSpec, params: Readonly<Record<string, string | readonly string[] | undefined>>): ListQuery {
  const single = (name: string): string | undefined => {
    const value = params[name];
    if (Array.isArray(value)) throw new DialplaneError('validation_failed', `${name} is given more than once`, { field: name });
    return value as string | undefined;
  };
  const conditions: CheckedFilter[] = [];
  const filterText = single('filter');
  if (filterText !== undefined && filterText !== '') {
    let tree: FilterNode;
    try {
      tree = parseFilter(filterText);
    } catch (error) {
      if (error instanceof FilterSyntaxError) throw invalidFilter(error.message, error.position);
      throw error;
    }
    conditions.push(checkFilter(spec, tree));
  }
  for (const [name, value] of Object.entries(params)) {
    if (RESERVED.has(name) || value === undefined) continue;
    for (const text of Array.isArray(value) ? (value as readonly string[]) : [value as string]) {
      conditions.push(basicCondition(spec, name, text));
    }
  }
  const filter: CheckedFilter | undefined =
    conditions.length === 0 ? undefined : conditions.length === 1 ? conditions[0] : { kind: 'group', op: 'AND', children: conditions };
  return {
    filter,
    sort: parseSort(spec, single('sort')),
    pageNumber: integerParam(single('pageNumber'), 'pageNumber', 1, 1, 1_000_000_000),
    pageSize: integerParam(single('pageSize'), 'pageSize', PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX),
  };
}

function basicCondition(spec: ResourceSpec, name: string, text: string): CheckedCondition {
  const { list, field, spec: fieldSpec } = resolveField(spec, name);
  const match = /^([A-Za-z]+)::([\s\S]*)$/.exec(text);
  const opName = match?.[1]?.toLowerCase();
  if (!match || !opName || !(CONDITION_OPERATORS as readonly string[]).includes(opName)) {
    return checkCondition('eq', list, field, name, fieldSpec, [text], undefined);
  }
  const op = opName as ConditionOperator;
  const rest = match[2] ?? '';
  const [least, most] = ARITY[op];
  const values = most === 0 ? (rest === '' ? [] : [rest]) : most === 1 ? [rest] : rest.split(',');
  if (values.length < least || values.length > most) {
    throw invalidFilter(`${name}=${op}::… takes ${least === most ? least : `at least ${least}`} value(s), not ${values.length}`, undefined, {
      field: name,
    });
  }
  return checkCondition(op, list, field, name, fieldSpec, values, undefined);
}

/** The paging block for a page of a list of `total` records. */
export function paging(query: ListQuery, total: number): Paging {
  const totalNumberOfPages = Math.ceil(total / query.pageSize);
  const hasMore = query.pageNumber * query.pageSize < total;
  return {
    pageNumber: query.pageNumber,
    pageSize: query.pageSize,
    totalNumberOfRecords: total,
    totalNumberOfPages,
    hasNextPage: query.pageNumber < totalNumberOfPages,
    hasPreviousPage: query.pageNumber > 1,
    sortingCriteria: printSort(query.sort),
    hasMore,
  };
}

/** True unless the text holds a lone surrogate (String.prototype.isWellFormed, which TypeScript's ES2022 lib lacks). */
export function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
