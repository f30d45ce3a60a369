import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe } from './redis-client.js';

/**
 * Messages between the nodes of one deployment: a command for one node with its reply (a live command for a call
 * that node drives), and events every node hears (a call's updates, for the live streams of other nodes). One
 * process alone has nobody to talk to: `localNodeBus`.
 */
export interface NodeCommand {
  readonly kind: string;
  readonly body: Record<string, unknown>;
}

/** What a node answered: its result, or the error it refused the command with (code, message, details). */
export type NodeReply =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string; readonly details?: Record<string, unknown> } };

export type NodeCommandHandler = (command: NodeCommand, from: string) => Promise<NodeReply>;

/** Why a command got no reply: no node listens under that id, or the bus is down, or no reply came in time. */
export class NodeUnreachable extends Error {
  constructor(
    readonly node: string,
    readonly reason: 'not_listening' | 'bus_down' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'NodeUnreachable';
  }
}

export interface NodeBus {
  /** Whether other nodes can be reached at all (false: one process). */
  readonly shared: boolean;
  /** How long a command waits for its reply by default (DIALPLANE_NODE_COMMAND_TIMEOUT_MS). */
  readonly commandTimeoutMs: number;
  /** Sends a command to `node`; resolves with its reply, rejects with NodeUnreachable. */
  request(node: string, command: NodeCommand, timeoutMs?: number): Promise<NodeReply>;
  /** Answers the commands sent to this node; one handler. */
  serve(handler: NodeCommandHandler): () => void;
  /** Tells every other node; never throws (a lost event is only missed by live streams). */
  broadcast(event: unknown): void;
  /** Events other nodes broadcast. */
  onEvent(listener: (event: unknown, from: string) => void): () => void;
  /** Called when events may have been missed (the subscription came back after Redis was unreachable). */
  onMissed(listener: () => void): () => void;
  close(): Promise<void>;
}

/** DIALPLANE_NODE_COMMAND_TIMEOUT_MS's default: a hang-up sent to the driving node waits there for the call's end. */
export const DEFAULT_NODE_COMMAND_TIMEOUT_MS = 10_000;

/** One process: no other node to ask, nobody to tell. */
export const localNodeBus: NodeBus = {
  shared: false,
  commandTimeoutMs: DEFAULT_NODE_COMMAND_TIMEOUT_MS,
  request: (node) => Promise.reject(new NodeUnreachable(node, 'bus_down', `node ${node} cannot be reached: nodes share no bus (DIALPLANE_REDIS_URL)`)),
  serve: () => () => undefined,
  broadcast: () => undefined,
  onEvent: () => () => undefined,
  onMissed: () => () => undefined,
  close: async () => undefined,
};

export const NODE_CHANNEL_PREFIX = 'dialplane:node:';
export const CALL_EVENTS_CHANNEL = 'dialplane:call-events';

interface Pending {
  readonly node: string;
  readonly resolve: (reply: NodeReply) => void;
  readonly reject: (error: NodeUnreachable) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The bus over Redis pub/sub. Each node subscribes to its own channel `dialplane:node:<id>`, where it hears commands
 * (`{"type":"command","id","from","kind","body"}`) and the replies to its own (`{"type":"reply","id","reply"}`), and
 * to `dialplane:call-events` (`{"node","event"}`, a node ignoring its own). PUBLISH answers how many subscribers heard
 * a message: a command nobody heard (the node is gone and Redis saw its connection close) fails at once instead of
 * waiting for the timeout.
 */
export class RedisNodeBus implements NodeBus {
  readonly shared = true;
  private handler: NodeCommandHandler | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: unknown, from: string) => void>();
  private readonly missedListeners = new Set<() => void>();
  private readonly ownChannel: string;
  private subscribedOnce = false;
  private closed = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly nodeId: string,
    private readonly onError: (err: unknown, context: string) => void,
    readonly commandTimeoutMs: number = DEFAULT_NODE_COMMAND_TIMEOUT_MS,
  ) {
    this.ownChannel = `${NODE_CHANNEL_PREFIX}${nodeId}`;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.ownChannel) this.receiveDirect(message);
      else if (channel === CALL_EVENTS_CHANNEL) this.receiveEvent(message);
    });
    subscriber.on('ready', () => this.onReady());
  }

  /** Subscribes now if the connection is up; otherwise when it comes up. */
  start(): void {
    if (this.subscriber.status === 'ready') this.onReady();
  }

  private onReady(): void {
    if (this.closed) return;
    if (this.subscribedOnce) for (const listener of this.missedListeners) this.call(listener);
    this.subscribedOnce = true;
    this.subscriber
      .subscribe(this.ownChannel, CALL_EVENTS_CHANNEL)
      .catch((err: unknown) => this.onError(err, 'could not subscribe to the node bus'));
  }

  request(node: string, command: NodeCommand, timeoutMs = this.commandTimeoutMs): Promise<NodeReply> {
    const id = randomBytes(9).toString('base64url');
    const message = JSON.stringify({ type: 'command', id, from: this.nodeId, kind: command.kind, body: command.body });
    return new Promise<NodeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NodeUnreachable(node, 'timeout', `node ${node} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { node, resolve, reject, timer });
      const fail = (error: NodeUnreachable): void => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        reject(error);
      };
      this.publisher.publish(`${NODE_CHANNEL_PREFIX}${node}`, message).then(
        (heard) => {
          if (heard === 0) fail(new NodeUnreachable(node, 'not_listening', `node ${node} is not listening on the node bus`));
        },
        (err: unknown) => fail(new NodeUnreachable(node, 'bus_down', `node ${node} cannot be reached: ${describe(err)}`)),
      );
    });
  }

  serve(handler: NodeCommandHandler): () => void {
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = undefined;
    };
  }

  broadcast(event: unknown): void {
    if (this.closed) return;
    this.publisher
      .publish(CALL_EVENTS_CHANNEL, JSON.stringify({ node: this.nodeId, event }))
      .catch((err: unknown) => this.onError(err, 'could not broadcast an event to the other nodes'));
  }

  onEvent(listener: (event: unknown, from: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onMissed(listener: () => void): () => void {
    this.missedListeners.add(listener);
    return () => this.missedListeners.delete(listener);
  }

  /** Stops answering and hearing; commands still waiting for a reply fail at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.handler = undefined;
    this.listeners.clear();
    this.missedListeners.clear();
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new NodeUnreachable(pending.node, 'bus_down', 'this node is stopping'));
    }
  }

  private receiveDirect(message: string): void {
    const parsed = parseObject(message);
    if (!parsed || typeof parsed.id !== 'string') return;
    if (parsed.type === 'reply') {
      const pending = this.pending.get(parsed.id);
      const reply = parseReply(parsed.reply);
      if (!pending || !reply) return;
      this.pending.delete(parsed.id);
      clearTimeout(pending.timer);
      pending.resolve(reply);
      return;
    }
    if (parsed.type !== 'command' || typeof parsed.from !== 'string' || typeof parsed.kind !== 'string') return;
    const body = typeof parsed.body === 'object' && parsed.body !== null ? (parsed.body as Record<string, unknown>) : {};
    const { id, from } = parsed;
    const handler = this.handler;
    const answer: Promise<NodeReply> = handler
      ? handler({ kind: parsed.kind, body }, from).catch((err: unknown): NodeReply => {
          this.onError(err, `node command ${parsed.kind as string} failed`);
          return { ok: false, error: { code: 'internal_error', message: 'the node driving the call failed to carry out the command' } };
        })
      : Promise.resolve({ ok: false, error: { code: 'not_ready', message: `node ${this.nodeId} does not take commands yet` } });
    void answer.then((reply) => {
      this.publisher
        .publish(`${NODE_CHANNEL_PREFIX}${from}`, JSON.stringify({ type: 'reply', id, reply }))
        .catch((err: unknown) => this.onError(err, 'could not reply to a node command'));
    });
  }

  private receiveEvent(message: string): void {
    const parsed = parseObject(message);
    if (!parsed || typeof parsed.node !== 'string' || parsed.node === this.nodeId) return;
    const { node, event } = parsed;
    for (const listener of this.listeners) this.call(() => listener(event, node));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err, 'a node bus listener failed');
    }
  }
}

function parseObject(message: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(message);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseReply(value: unknown): NodeReply | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const reply = value as Record<string, unknown>;
  if (reply.ok === true) return { ok: true, body: reply.body };
  const error = reply.error as Record<string, unknown> | undefined;
  if (reply.ok !== false || typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
  const details = typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : undefined;
  return { ok: false, error: { code: error.code, message: error.message, ...(details ? { details } : {}) } };
}
