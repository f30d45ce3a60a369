import { Agent, request } from 'node:http';

export interface RawRequest {
  readonly method: string;
  /** Sent as written: percent-encoding (or its absence) is the caller's. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** A stream (server-sent events, NDJSON) was cut after its headers. */
  readonly streamed: boolean;
}

const STREAM_TYPES = /text\/event-stream|application\/x-ndjson/;

/**
 * One request over a real socket with exactly the bytes given: no client-side JSON, URL or header normalisation
 * (fetch would fix up what the fuzz means to send broken). A streaming answer is cut once its headers arrive.
 */
export function sendRaw(base: { host: string; port: number; agent: Agent }, raw: RawRequest, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...raw.headers };
    if (raw.body !== undefined) headers['content-length'] = raw.body.length;
    const req = request({ host: base.host, port: base.port, agent: base.agent, method: raw.method, path: raw.path, headers }, (res) => {
      const contentType = String(res.headers['content-type'] ?? '');
      if (STREAM_TYPES.test(contentType)) {
        res.destroy();
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', streamed: true });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), streamed: false }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: ${raw.method} ${raw.path.slice(0, 120)}`)));
    req.on('error', reject);
    req.end(raw.body);
  });
}
