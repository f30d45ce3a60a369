import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { DatabaseDialect } from '../../config/config.js';
import { asciiLower } from '../../core/query/filter-evaluate.js';
import type { CheckedCondition, CheckedFilter, FieldType, SortKey, TypedValue } from '../../core/query/list-query.js';

/**
 * Compiles a checked filter (core/query/list-query.ts) to a kysely expression. Every value is a bound parameter;
 * the only identifiers are the column names of a source below, written in code, chosen by the allow-listed field
 * name. The meaning is core/query/filter-evaluate.ts's, on both dialects:
 *
 * - text is compared under PostgreSQL's "C" collation (bytes of UTF-8), which is SQLite's BINARY;
 * - like uses instr/strpos on lower(): ASCII-only on SQLite, and on PostgreSQL under "C" too; the value is lowered
 *   the same way in code, so no LIKE pattern (and no wildcard escaping) is involved;
 * - each condition is two-valued (a missing value makes a positive condition false, never NULL), so the negated
 *   operators are plain NOTs.
 */

/** A column of the listed table, or an expression over its columns (a computed field such as fullName). */
export type ColumnSql = (alias: string) => RawBuilder<unknown>;

export interface ListSql {
  /** A nested list of the resource: its child table, the column naming the parent and the parent's key. */
  readonly table: string;
  readonly parentKey: string;
  readonly columns: Readonly<Record<string, string>>;
}

export interface SourceSql {
  readonly alias: string;
  readonly columns: Readonly<Record<string, ColumnSql>>;
  readonly lists?: Readonly<Record<string, ListSql>>;
}

/** A plain column of the listed table. */
export function column(name: string): ColumnSql {
  return (alias) => sql.ref(`${alias}.${name}`);
}

const CHILD_ALIAS = 'li';

export function compileFilter(filter: CheckedFilter, source: SourceSql, dialect: DatabaseDialect): RawBuilder<SqlBool> {
  if (filter.kind === 'group') {
    const parts = filter.children.map((child) => compileFilter(child, source, dialect));
    return sql<SqlBool>`(${sql.join(parts, sql.raw(filter.op === 'AND' ? ' and ' : ' or '))})`;
  }
  if (filter.list !== undefined) {
    const list = source.lists?.[filter.list];
    const name = list?.columns[filter.field];
    if (!list || !name) throw new Error(`no column for ${filter.list}.${filter.field}`);
    const inner = condition(filter, sql.ref(`${CHILD_ALIAS}.${name}`), dialect);
    return sql<SqlBool>`exists (select 1 from ${sql.table(list.table)} as ${sql.raw(CHILD_ALIAS)} where ${sql.ref(
      `${CHILD_ALIAS}.${list.parentKey}`,
    )} = ${sql.ref(`${source.alias}.id`)} and ${inner})`;
  }
  const expression = source.columns[filter.field];
  if (!expression) throw new Error(`no column for ${filter.field}`);
  return condition(filter, expression(source.alias), dialect);
}

function param(type: FieldType, value: TypedValue): unknown {
  return type === 'boolean' ? (value ? 1 : 0) : value;
}

function condition(filter: CheckedCondition, column: RawBuilder<unknown>, dialect: DatabaseDialect): RawBuilder<SqlBool> {
  const { op, type, values } = filter;
  const text = type === 'string' || type === 'timestamp';
  const col = text && dialect === 'postgres' ? sql`(${column} collate "C")` : column;
  const v = (i: number) => sql`${param(type, values[i]!)}`;
  switch (op) {
    case 'isnull':
      return type === 'string' ? sql<SqlBool>`(${column} is null or ${col} = '')` : sql<SqlBool>`(${column} is null)`;
    case 'isnotnull':
      return sql<SqlBool>`(not ${condition({ ...filter, op: 'isnull' }, column, dialect)})`;
    case 'neq':
      return sql<SqlBool>`(not ${condition({ ...filter, op: 'eq' }, column, dialect)})`;
    case 'nin':
      return sql<SqlBool>`(not ${condition({ ...filter, op: 'in' }, column, dialect)})`;
    case 'notlike':
      return sql<SqlBool>`(not ${condition({ ...filter, op: 'like' }, column, dialect)})`;
    case 'eq':
      return sql<SqlBool>`(${column} is not null and ${col} = ${v(0)})`;
    case 'gt':
      return sql<SqlBool>`(${column} is not null and ${col} > ${v(0)})`;
    case 'gte':
      return sql<SqlBool>`(${column} is not null and ${col} >= ${v(0)})`;
    case 'lt':
      return sql<SqlBool>`(${column} is not null and ${col} < ${v(0)})`;
    case 'lte':
      return sql<SqlBool>`(${column} is not null and ${col} <= ${v(0)})`;
    case 'btn':
      return sql<SqlBool>`(${column} is not null and ${col} >= ${v(0)} and ${col} <= ${v(1)})`;
    case 'in':
      return sql<SqlBool>`(${column} is not null and ${col} in (${sql.join(values.map((_, i) => v(i)))}))`;
    case 'like': {
      const needle = asciiLower(String(values[0]));
      return dialect === 'postgres'
        ? sql<SqlBool>`(${column} is not null and strpos(lower(${col}), ${needle}) > 0)`
        : sql<SqlBool>`(${column} is not null and instr(lower(${column}), ${needle}) > 0)`;
    }
  }
}

/**
 * ORDER BY for a sort: missing values first when ascending (both dialects are told, their defaults differ), text
 * in byte order, then the id so that pages never overlap or skip. Without a sort, the order records were made in.
 */
export function orderBy(sort: readonly SortKey[], source: SourceSql, types: Readonly<Record<string, FieldType>>, dialect: DatabaseDialect): RawBuilder<unknown>[] {
  const keys = sort.length > 0 ? sort : [{ field: 'createdAt', direction: 'asc' as const }];
  const out = keys.map((key) => {
    const expression = source.columns[key.field];
    if (!expression) throw new Error(`no column for ${key.field}`);
    const text = types[key.field] === 'string' || types[key.field] === 'timestamp';
    const col = text && dialect === 'postgres' ? sql`(${expression(source.alias)} collate "C")` : expression(source.alias);
    return key.direction === 'desc' ? sql`${col} desc nulls last` : sql`${col} asc nulls first`;
  });
  const last = keys[keys.length - 1]!.direction;
  const id = dialect === 'postgres' ? sql`(${sql.ref(`${source.alias}.id`)} collate "C")` : sql.ref(`${source.alias}.id`);
  out.push(last === 'desc' ? sql`${id} desc` : sql`${id} asc`);
  return out;
}
