import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { DatabaseDialect } from '../../config/config.js';
import type { ListQuery } from '../../core/query/list-query.js';
import { compileFilter, orderBy, type SourceSql } from './filter-sql.js';
import type { FieldType } from '../../core/query/list-query.js';

/** The parts of one page's SQL: the filter (true when none), ORDER BY, LIMIT and OFFSET. */
export interface PageSql {
  readonly where: RawBuilder<SqlBool>;
  readonly order: RawBuilder<unknown>[];
  readonly limit: number;
  readonly offset: number;
}

export function pageSql(query: ListQuery, source: SourceSql, types: Readonly<Record<string, FieldType>>, dialect: DatabaseDialect): PageSql {
  return {
    where: query.filter ? compileFilter(query.filter, source, dialect) : sql<SqlBool>`1 = 1`,
    order: orderBy(query.sort, source, types, dialect),
    limit: query.pageSize,
    offset: (query.pageNumber - 1) * query.pageSize,
  };
}

/** count(*) comes back as a string from PostgreSQL (bigint) and a number from SQLite. */
export function countOf(row: { n: unknown } | undefined): number {
  return Number(row?.n ?? 0);
}

export interface PageRows<T> {
  readonly rows: T[];
  readonly total: number;
}
