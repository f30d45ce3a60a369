import { sql, type RawBuilder, type SqlBool } from 'kysely';

/** Where a newest-first listing left off: the last row's creation time and id (ids break ties). */
export interface Cursor {
  readonly createdAt: string;
  readonly id: string;
}

/** Rows older than the cursor in `created_at desc, id desc` order, for a table with those two columns. */
export function olderThan(cursor: Cursor): RawBuilder<SqlBool> {
  return sql<SqlBool>`(created_at < ${cursor.createdAt} or (created_at = ${cursor.createdAt} and id < ${cursor.id}))`;
}
