/**
 * One request to an application's hook (its call hook, an action hook of its program): a POST of a JSON body that
 * waits for the answer, unlike a webhook delivery, which is queued and retried. It goes through the same SSRF guard
 * as every delivery and is signed the same way (X-Dialplane-Signature t=<unix seconds>,v1=<hex> over "<t>." + body,
 * with the application's secret). The answer must be a 2xx whose body is JSON; anything else rejects with a
 * HookError saying why. It is never retried: a call is waiting on it.
 */
import { TIMESTAMPED_SIGNATURE_HEADER, signTimestamped } from './signer.js';
import { guardedRequest, type Connector, type Resolver } from './guarded-request.js';
import { isSsrfError } from './ssrf-guard.js';
import type { ConnectionPools } from './connection-pools.js';

export const HOOK_USER_AGENT = 'Dialplane-Hooks/1';
/** A program answer larger than this is refused (100 verbs fit many times over). */
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_MESSAGE_LENGTH = 300;

export type HookFailureReason = 'timeout' | 'status' | 'network' | 'refused' | 'not_json';

/** Why a hook gave no usable answer; `status` is the HTTP status when one came back. */
export class HookError extends Error {
  readonly reason: HookFailureReason;
  readonly status: number | undefined;

  constructor(reason: HookFailureReason, message: string, status?: number) {
    super(message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message);
    this.name = 'HookError';
    this.reason = reason;
    this.status = status;
  }
}

export function isHookError(value: unknown): value is HookError {
  return value instanceof HookError;
}

export interface HookRequestOptions {
  /** Permit loopback and private targets (DIALPLANE_WEBHOOK_ALLOW_PRIVATE). */
  readonly allowPrivate: boolean;
  /** Whole-request budget: resolution, connection, request and the answer read (DIALPLANE_HOOK_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Budget for resolution and connection; defaults to timeoutMs (never more). */
  readonly connectTimeoutMs?: number;
  /** Epoch ms; the signature's timestamp. */
  readonly now?: () => number;
  readonly resolve?: Resolver;
  readonly connect?: Connector;
  /** Keep-alive connections shared with other requests; without them each request opens and closes its own. */
  readonly pools?: ConnectionPools;
}

/** The parsed answer of a hook. */
export interface HookResponse {
  readonly status: number;
  readonly body: unknown;
}

export type HookRequest = (url: string, body: Readonly<Record<string, unknown>>, secret: string) => Promise<HookResponse>;

export function createHookRequester(options: HookRequestOptions): HookRequest {
  const now = options.now ?? Date.now;
  const connectTimeoutMs = Math.min(options.connectTimeoutMs ?? options.timeoutMs, options.timeoutMs);
  return async (url, body, secret) => {
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': HOOK_USER_AGENT,
    };
    if (secret.length > 0) headers[TIMESTAMPED_SIGNATURE_HEADER.toLowerCase()] = signTimestamped(bytes, [secret], Math.floor(now() / 1000));
    let response;
    try {
      response = await guardedRequest(
        url,
        { method: 'POST', headers, body: bytes, timeoutMs: options.timeoutMs, connectTimeoutMs, maxResponseBytes: MAX_ANSWER_BYTES },
        {
          allowPrivate: options.allowPrivate,
          ...(options.resolve ? { resolve: options.resolve } : {}),
          ...(options.connect ? { connect: options.connect } : {}),
          ...(options.pools ? { pools: options.pools } : {}),
        },
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A host with no addresses is a network failure, as for deliveries; every other guard verdict is a refusal.
      if (isSsrfError(error) && error.code !== 'no_addresses') throw new HookError('refused', message);
      const code = (error as { code?: unknown }).code;
      throw new HookError(code === 'ETIMEDOUT' ? 'timeout' : 'network', message);
    }
    if (response.status < 200 || response.status > 299) {
      throw new HookError('status', `hook answered HTTP ${response.status}`, response.status);
    }
    const text = response.body.toString('utf8');
    try {
      return { status: response.status, body: JSON.parse(text) as unknown };
    } catch {
      throw new HookError('not_json', `hook answered HTTP ${response.status} with a body that is not JSON`, response.status);
    }
  };
}
