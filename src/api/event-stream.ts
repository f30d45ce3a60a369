import type { ServerResponse } from 'node:http';

/**
 * A long-lived stream of events on a raw HTTP response, with a heartbeat so that quiet stretches do not look like a
 * dead connection: Node's fetch (undici) gives up on a body that sends nothing for 300 s ("terminated"), and proxies
 * close idle connections sooner. Two formats:
 *
 * - ndjson (application/x-ndjson): one JSON value per line; the heartbeat is `{"heartbeat":"<ISO time>"}`, which
 *   readers skip.
 * - sse (text/event-stream, the WHATWG EventSource format): `event:`/`id:`/`data:` fields ending with a blank line;
 *   the heartbeat is a comment line (`: heartbeat <ISO time>`), which EventSource ignores by definition.
 */
export type EventStreamFormat = 'ndjson' | 'sse';

/** How often a heartbeat is written while nothing else is. */
export const EVENT_STREAM_HEARTBEAT_MS = 15_000;

export interface EventStreamTimers {
  every(name: 'Heartbeat', ms: number, fire: () => void): { cancel(): void };
}

export const systemEventStreamTimers: EventStreamTimers = {
  every(_name, ms, fire) {
    const timer = setInterval(fire, ms);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
};

export interface EventStreamOptions {
  readonly format: EventStreamFormat;
  /** Default EVENT_STREAM_HEARTBEAT_MS; 0 sends none. */
  readonly heartbeatMs?: number;
  readonly timers?: EventStreamTimers;
  /** The time written in heartbeats. */
  readonly now?: () => Date;
}

export interface SseFields {
  /** The `event:` field (EventSource dispatches on it); absent means "message". */
  readonly event?: string;
  /** The `id:` field, sent back by a reconnecting EventSource as Last-Event-ID. */
  readonly id?: string;
}

/**
 * Opens the stream on `out` (status 200 and headers go out at once, so the client's headers timeout never fires)
 * and sends until end() or until the client goes away. Writing after either is a no-op.
 */
export class EventStream {
  private heartbeat: { cancel(): void } | undefined;
  private open = true;
  private readonly closeListeners = new Set<() => void>();

  constructor(
    private readonly out: ServerResponse,
    private readonly options: EventStreamOptions,
  ) {
    out.writeHead(200, {
      'content-type': options.format === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson',
      'cache-control': 'no-store',
      // nginx buffers proxied responses unless told not to; a buffered event stream is no stream.
      'x-accel-buffering': 'no',
    });
    out.flushHeaders();
    out.on('close', () => this.closed());
    const every = options.heartbeatMs ?? EVENT_STREAM_HEARTBEAT_MS;
    if (every > 0) this.heartbeat = (options.timers ?? systemEventStreamTimers).every('Heartbeat', every, () => this.beat());
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Sends one event: a line of JSON (ndjson), or a `data:` event with optional name and id (sse). */
  send(data: unknown, fields: SseFields = {}): void {
    if (!this.open) return;
    const json = JSON.stringify(data);
    if (this.options.format === 'ndjson') {
      this.out.write(`${json}\n`);
      return;
    }
    let text = '';
    if (fields.event !== undefined) text += `event: ${singleLine(fields.event)}\n`;
    if (fields.id !== undefined) text += `id: ${singleLine(fields.id)}\n`;
    // JSON.stringify escapes newlines inside strings, so the value is one data line.
    this.out.write(`${text}data: ${json}\n\n`);
  }

  /** Ends the response (the last event has been sent). */
  end(): void {
    if (!this.open) return;
    this.out.end();
    this.closed();
  }

  /** Runs when the stream ends, by end() or because the client went away. */
  onClose(listener: () => void): void {
    if (!this.open) listener();
    else this.closeListeners.add(listener);
  }

  private beat(): void {
    if (!this.open) return;
    const at = (this.options.now?.() ?? new Date()).toISOString();
    this.out.write(this.options.format === 'ndjson' ? `${JSON.stringify({ heartbeat: at })}\n` : `: heartbeat ${at}\n\n`);
  }

  private closed(): void {
    if (!this.open) return;
    this.open = false;
    this.heartbeat?.cancel();
    this.heartbeat = undefined;
    for (const listener of this.closeListeners) {
      try {
        listener();
      } catch {
        // One listener's failure does not keep the others from running.
      }
    }
    this.closeListeners.clear();
  }
}

/** A CR or LF inside an SSE field would start a new field. */
function singleLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/** Whether an NDJSON line parsed from such a stream is a heartbeat rather than an event. */
export function isHeartbeat(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'heartbeat' in value && Object.keys(value).length === 1;
}
