import { createQueryId, type Compilable, type CompiledQuery, type QueryResult } from 'kysely';
import type { Database, Db } from './database.js';

/** Where each parameter of a compiled statement comes from: an index into the values, or a constant of the query. */
type ParameterSource = { readonly index: number } | { readonly constant: unknown };

interface CachedStatement {
  readonly sql: string;
  readonly query: CompiledQuery['query'];
  readonly sources: readonly ParameterSource[];
  /** SQLite: the statement prepared on the connection, run directly inside a write. */
  readonly direct: ((parameters: readonly unknown[]) => { rows: unknown[]; numAffectedRows?: bigint }) | undefined;
}

const MARKER = '\u0000dialplane-parameter:';
const MAX_SHAPES = 512;

/**
 * Compiles each shape of a hot statement once. Building and compiling a Kysely query costs more than SQLite takes to
 * run a small one, and the writes every call makes (its row, its events, its credit hold) come in a few fixed shapes.
 * The first time a shape is seen, its query is built with marker values in place of the real ones and compiled; the
 * compiled SQL records which value goes to which parameter. Later runs of that shape only put the values in that
 * order and run the SQL: no builder, no compiler.
 *
 * A shape names everything that changes the SQL text (the columns set, the length of an `in` list); the values
 * never do. One cache belongs to one database (its SQL is in that dialect).
 */
export class StatementCache {
  private readonly statements = new Map<string, CachedStatement>();
  private readonly shapes = new Map<string, { readonly columns: readonly string[]; readonly extra: number; readonly key: string }[]>();
  private readonly prepareInWrite: Database['prepareInWrite'];

  /** With a SQLite database, statements run directly on the connection the write holds (no driver queue). */
  constructor(database?: Pick<Database, 'prepareInWrite'>) {
    this.prepareInWrite = database?.prepareInWrite;
  }

  /** Runs one shape's statement in `trx`, the transaction of a `Database.write` (never outside one). */
  async execute<R>(
    db: Db,
    shape: string,
    values: readonly unknown[],
    build: (values: readonly unknown[]) => Compilable<R>,
  ): Promise<QueryResult<R>> {
    let statement = this.statements.get(shape);
    if (!statement) {
      statement = compileShape(values.length, build, this.prepareInWrite);
      if (this.statements.size >= MAX_SHAPES) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(shape, statement);
    }
    const parameters = new Array<unknown>(statement.sources.length);
    for (let i = 0; i < parameters.length; i++) {
      const source = statement.sources[i]!;
      parameters[i] = 'index' in source ? values[source.index] : source.constant;
    }
    if (statement.direct) return statement.direct(parameters) as QueryResult<R>;
    return db.executeQuery<R>({ sql: statement.sql, parameters, query: statement.query, queryId: createQueryId() });
  }

  /**
   * The shape key of a statement on `columns` (plus `extra`, e.g. the length of an `in` list), without building a
   * string per run: the same column lists come back call after call.
   */
  shapeKey(prefix: string, columns: readonly string[], extra = 0): string {
    let known = this.shapes.get(prefix);
    if (!known) {
      known = [];
      this.shapes.set(prefix, known);
    }
    for (const shape of known) {
      if (shape.extra === extra && sameColumns(shape.columns, columns)) return shape.key;
    }
    const key = `${prefix}:${extra}:${columns.join(',')}`;
    if (known.length < MAX_SHAPES) known.push({ columns: [...columns], extra, key });
    return key;
  }

  /** The first row of execute's result (an insert or update `returning`), or undefined. */
  async first<R>(
    db: Db,
    shape: string,
    values: readonly unknown[],
    build: (values: readonly unknown[]) => Compilable<R>,
  ): Promise<R | undefined> {
    return (await this.execute(db, shape, values, build)).rows[0];
  }
}

function compileShape<R>(
  count: number,
  build: (values: readonly unknown[]) => Compilable<R>,
  prepareInWrite: Database['prepareInWrite'],
): CachedStatement {
  const markers = Array.from({ length: count }, (_, index) => `${MARKER}${index}`);
  const compiled = build(markers).compile();
  const seen = new Set<number>();
  const sources = compiled.parameters.map((parameter): ParameterSource => {
    if (typeof parameter === 'string' && parameter.startsWith(MARKER)) {
      const index = Number(parameter.slice(MARKER.length));
      seen.add(index);
      return { index };
    }
    return { constant: parameter };
  });
  // A value the query did not take as a parameter (folded into the SQL, or dropped) would be lost on later runs.
  if (seen.size !== count) throw new Error(`statement shape takes ${seen.size} of its ${count} values as parameters`);
  return { sql: compiled.sql, query: compiled.query, sources, direct: prepareInWrite?.(compiled.sql) };
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The columns of a row or a change set that have a value (Kysely leaves out undefined ones) into `columns`, and their
 * values into `values`.
 */
export function definedColumns(object: object, columns: string[], values: unknown[]): void {
  for (const key in object) {
    const value = (object as Record<string, unknown>)[key];
    if (value !== undefined) {
      columns.push(key);
      values.push(value);
    }
  }
}
