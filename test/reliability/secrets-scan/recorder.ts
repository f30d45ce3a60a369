import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import pg from 'pg';
import type { ReceivedRequest } from '../../helpers/webhook-receiver.js';
import type { Source } from './scanner.js';

export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  /** The whole answer as the scan sees it: status, every header, body. */
  readonly source: Source;
  json(): any;
}

export interface RequestOptions {
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  readonly form?: Record<string, string>;
  /** A body sent exactly as given (with the content type in `headers`). */
  readonly raw?: string;
}

/** Sends requests to one server and keeps every answer (status, headers, body) for the scan. */
export class Recorder {
  readonly responses: Source[] = [];

  constructor(private readonly base: string) {}

  async http(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
    } else if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const response = await fetch(`${this.base}${path}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    const text = await response.text();
    const head: string[] = [];
    response.headers.forEach((value, name) => head.push(`${name}: ${value}`));
    for (const cookie of response.headers.getSetCookie()) head.push(`set-cookie: ${cookie}`);
    const source: Source = {
      kind: 'response',
      // The label never carries the query string: it may hold a key the test sent.
      label: `${method} ${path.split('?')[0]} -> ${response.status}`,
      bytes: Buffer.from(`HTTP ${response.status}\n${head.join('\n')}\n\n${text}`),
    };
    this.responses.push(source);
    return { status: response.status, text, headers: response.headers, source, json: () => JSON.parse(text) };
  }
}

/** The requests the server sent to the test's receiver (webhooks, hooks), headers and body. */
export function requestSources(requests: readonly ReceivedRequest[]): Source[] {
  return requests.map((r) => ({
    kind: 'request-sent',
    label: `${r.method} ${r.path.split('?')[0]}`,
    bytes: Buffer.concat([
      Buffer.from(`${r.method} ${r.path}\n${Object.entries(r.headers).map(([name, value]) => `${name}: ${String(value)}`).join('\n')}\n\n`),
      r.body,
    ]),
  }));
}

/** Every file under the data directory, labelled by its relative path and the moment it was read. */
export function dataDirSources(dataDir: string, when: string): Source[] {
  const out: Source[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push({ kind: 'file', label: `${relative(dataDir, path)} (${when})`, bytes: readFileSync(path) });
    }
  };
  walk(dataDir);
  return out;
}

/** Every row of every table of a PostgreSQL schema, as JSON text, one source per table. */
export async function postgresSources(url: string, schema: string, when: string): Promise<Source[]> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>('select table_name as name from information_schema.tables where table_schema = $1 order by 1', [schema]);
    const out: Source[] = [];
    for (const { name } of tables.rows) {
      const rows = await client.query<{ text: string | null }>(`select string_agg(to_jsonb(t)::text, E'\\n') as text from "${name}" t`);
      out.push({ kind: 'database', label: `${name} (${when})`, bytes: Buffer.from(rows.rows[0]?.text ?? '') });
    }
    return out;
  } finally {
    await client.end();
  }
}
