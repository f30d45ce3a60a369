import { DialplaneError, isDialplaneError } from '../errors.js';
import { isForeignKeyViolation, type ApplicationChanges } from '../store/applications-repository.js';
import type { ApplicationRow, WebhookEndpointRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { validateProgram, type Program } from './calls/program.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';
import { DIALPLANE_FORMAT, generateWebhookSecret, validUrl, type WebhookService } from './webhooks.js';

/** An account's voice application: a call hook (plus an optional status hook), or a stored program. */
export interface Application {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  readonly callHook: string | null;
  readonly statusHook: string | null;
  readonly program: Program | null;
  readonly createdAt: string;
}

export interface CreateApplicationInput {
  readonly name: string;
  readonly callHook?: string | undefined;
  readonly statusHook?: string | undefined;
  /** Validated by validateProgram before anything is stored. */
  readonly program?: unknown;
}

/**
 * What an update changes: only what is given. A `callHook` makes it a hook application (its program goes), a
 * `program` a program application (its call hook goes); `statusHook: null` removes the status hook.
 */
export interface UpdateApplicationInput {
  readonly name?: string | undefined;
  readonly callHook?: string | undefined;
  readonly statusHook?: string | null | undefined;
  /** Validated by validateProgram before anything is stored. */
  readonly program?: unknown;
  /** A new hook secret, returned by update this once; the old one stops signing at once. */
  readonly rotateHookSecret?: boolean | undefined;
}

/** What a hook answered: a 2xx status and its parsed JSON body. */
export interface HookAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * POSTs `body` as JSON to a hook URL, signed with `secret`, and resolves with the parsed 2xx JSON answer; rejects
 * otherwise (the composition root gives webhooks/hook-request.ts's, which rejects with a HookError).
 */
export type HookRequester = (url: string, body: Readonly<Record<string, unknown>>, secret: string) => Promise<HookAnswer>;

/** Owner of the webhook endpoint that carries an application's status events. */
export const APPLICATION_OWNER_PREFIX = 'application:';

export function applicationOwner(applicationId: string): string {
  return `${APPLICATION_OWNER_PREFIX}${applicationId}`;
}

/**
 * The `only` filter for WebhookService.enqueue of a call's events: an application's status-hook endpoint takes the
 * events of that application's calls only, and every other endpoint (account-wide, a face's) takes them all. A call
 * that runs no application passes null: no application's endpoint receives it.
 */
export function applicationEndpointFilter(applicationId: string | null): (endpoint: WebhookEndpointRow) => boolean {
  const own = applicationId === null ? undefined : applicationOwner(applicationId);
  return (endpoint) => endpoint.owner === null || !endpoint.owner.startsWith(APPLICATION_OWNER_PREFIX) || endpoint.owner === own;
}

const MAX_NAME_LENGTH = 100;

/**
 * Applications, their hook secret and the webhook endpoint of their status hook. Another account's application is
 * not_found, exactly like one that does not exist. An application a number routes to cannot be deleted (conflict):
 * route the number elsewhere first, so no number is left ringing nothing by surprise.
 */
export class ApplicationService {
  private requester: HookRequester | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly webhooks: WebhookService,
  ) {}

  /** The composition root connects the guarded, signed hook request (webhooks/hook-request.ts). */
  attach(options: { request: HookRequester }): void {
    this.requester = options.request;
  }

  /** A new application; its hook secret is returned here only. */
  async create(accountId: string, input: CreateApplicationInput): Promise<{ application: Application; hookSecret: string }> {
    const name = validName(input.name);
    const hasHook = input.callHook !== undefined;
    const hasProgram = input.program !== undefined;
    if (hasHook === hasProgram) {
      throw new DialplaneError('validation_failed', 'give exactly one of call_hook and program', {
        field: hasHook ? 'program' : 'call_hook',
      });
    }
    const callHook = hasHook ? validUrl(input.callHook as string, 'call_hook') : null;
    const statusHook = input.statusHook === undefined ? null : validUrl(input.statusHook, 'status_hook');
    const program = hasProgram ? checkedProgram(input.program) : null;
    const hookSecret = generateWebhookSecret();
    const row: ApplicationRow = {
      id: newId('app'),
      account_id: accountId,
      name,
      call_hook: callHook,
      status_hook: statusHook,
      program: program === null ? null : JSON.stringify(program),
      hook_secret: hookSecret,
      created_at: isoNow(this.clock),
    };
    const endpoint = statusHook === null ? undefined : this.statusEndpoint(accountId, row.id, statusHook, hookSecret);
    await this.store.database.write(async (trx) => {
      await this.store.applications.insert(trx, row);
      if (endpoint) await this.store.webhooks.insertEndpointIn(trx, endpoint);
    });
    return { application: toApplication(row), hookSecret };
  }

  /**
   * Changes what is given, checked as create checks it; another account's application is not_found. The hook secret
   * stays unless `rotateHookSecret` asks for a new one, which is then returned (this once) and signs the call hook's
   * requests and the status hook's events from then on. The status-hook endpoint follows: made, moved to the new URL
   * (enabled again if it had been disabled) or deleted with it.
   *
   * A call already running keeps what it started with: the stored program it runs, or the call hook URL it asked
   * first (and the action hooks its answers name); calls that start afterwards run the new program or ask the new
   * hook. What is read as it is used applies to running calls too: the hook secret that signs their next hook
   * request, and the status-hook endpoint their next events go to.
   */
  async update(
    accountId: string,
    id: string,
    input: UpdateApplicationInput,
  ): Promise<{ application: Application; hookSecret?: string }> {
    const given = (value: unknown) => value !== undefined;
    if (![input.name, input.callHook, input.statusHook, input.program].some(given) && !input.rotateHookSecret) {
      throw new DialplaneError('validation_failed', 'nothing to change: give name, call_hook, status_hook, program or rotate_hook_secret');
    }
    if (given(input.callHook) && given(input.program)) {
      throw new DialplaneError('validation_failed', 'give at most one of call_hook and program', { field: 'program' });
    }
    const changes: ApplicationChanges = {};
    if (given(input.name)) changes.name = validName(input.name);
    if (given(input.callHook)) {
      changes.call_hook = validUrl(input.callHook as string, 'call_hook');
      changes.program = null;
    }
    if (given(input.program)) {
      changes.program = JSON.stringify(checkedProgram(input.program));
      changes.call_hook = null;
    }
    if (input.statusHook !== undefined) changes.status_hook = input.statusHook === null ? null : validUrl(input.statusHook, 'status_hook');
    const hookSecret = input.rotateHookSecret ? generateWebhookSecret() : undefined;
    if (hookSecret !== undefined) changes.hook_secret = hookSecret;

    const current = await this.row(accountId, id);
    const owner = applicationOwner(id);
    const now = isoNow(this.clock);
    const statusHook = changes.status_hook;
    const row = await this.store.applications.update(accountId, id, changes, async (trx, updated) => {
      if (statusHook === null) {
        await this.store.webhooks.deleteOwnedEndpoints(trx, accountId, owner, now);
        return;
      }
      const moved = statusHook !== undefined && statusHook !== current.status_hook;
      if (!moved && hookSecret === undefined) return;
      const endpointChanges = {
        ...(moved ? { url: statusHook, status: 'enabled' as const, disabled_reason: null } : {}),
        ...(hookSecret !== undefined ? { secret: hookSecret, previous_secret: null } : {}),
        updated_at: now,
      };
      const changed = await this.store.webhooks.updateOwnedEndpoints(trx, accountId, owner, endpointChanges);
      if (changed === 0 && updated.status_hook !== null) {
        await this.store.webhooks.insertEndpointIn(trx, this.statusEndpoint(accountId, id, updated.status_hook, updated.hook_secret));
      }
    });
    if (!row) throw notFound();
    return { application: toApplication(row), ...(hookSecret !== undefined ? { hookSecret } : {}) };
  }

  async get(accountId: string, id: string): Promise<Application> {
    return toApplication(await this.row(accountId, id));
  }

  async list(accountId: string): Promise<Application[]> {
    return (await this.store.applications.list(accountId)).map(toApplication);
  }

  /** Deletes the application and its status-hook endpoint; refused (conflict) while a number routes to it. */
  async remove(accountId: string, id: string): Promise<Application> {
    const application = await this.get(accountId, id);
    const now = isoNow(this.clock);
    let result: { routedNumbers: string[] } | undefined;
    try {
      result = await this.store.applications.deleteUnrouted(accountId, id, async (trx) => {
        await this.store.webhooks.deleteOwnedEndpoints(trx, accountId, applicationOwner(id), now);
      });
    } catch (error) {
      // A route set to it between the check and the delete: the reference refuses the delete.
      if (isForeignKeyViolation(error)) throw routedConflict(id, []);
      throw error;
    }
    if (!result) throw notFound();
    if (result.routedNumbers.length > 0) throw routedConflict(id, result.routedNumbers);
    return application;
  }

  /**
   * POSTs `body` to one of the application's hooks (its call hook unless `url` is given: an action hook of its
   * program), signed with its secret. Rejects with the requester's error (a HookError) when the hook fails.
   */
  async hook(accountId: string, applicationId: string, body: Readonly<Record<string, unknown>>, url?: string): Promise<HookAnswer> {
    const row = await this.row(accountId, applicationId);
    const target = url ?? row.call_hook;
    if (target === null) throw new DialplaneError('validation_failed', 'the application has no call_hook', { field: 'call_hook' });
    return this.request(target, body, row.hook_secret);
  }

  /** The hook request itself, for a hook with a secret of its own. */
  request(url: string, body: Readonly<Record<string, unknown>>, secret: string): Promise<HookAnswer> {
    if (!this.requester) return Promise.reject(new DialplaneError('not_ready', 'hook requests are not running'));
    return this.requester(url, body, secret);
  }

  /** The webhook endpoint that carries an application's status events, signed with its hook secret. */
  private statusEndpoint(accountId: string, applicationId: string, url: string, secret: string): WebhookEndpointRow {
    return this.webhooks.newEndpointRow(accountId, {
      url,
      eventTypes: ['call.*'],
      description: `status hook of application ${applicationId}`,
      secret,
      format: DIALPLANE_FORMAT,
      owner: applicationOwner(applicationId),
    });
  }

  private async row(accountId: string, id: string): Promise<ApplicationRow> {
    const row = await this.store.applications.find(accountId, id);
    if (!row) throw notFound();
    return row;
  }
}

function validName(input: unknown): string {
  const name = typeof input === 'string' ? input.trim() : '';
  if (!name || name.length > MAX_NAME_LENGTH) {
    throw new DialplaneError('validation_failed', `name must be 1 to ${MAX_NAME_LENGTH} characters`, { field: 'name' });
  }
  return name;
}

function notFound(): DialplaneError {
  return new DialplaneError('not_found', 'application not found', { field: 'application_id' });
}

function routedConflict(id: string, numbers: readonly string[]): DialplaneError {
  const which = numbers.length === 0 ? 'a number routes' : numbers.length === 1 ? `${numbers[0]} routes` : `${numbers.join(', ')} route`;
  return new DialplaneError('conflict', `${which} to application ${id}: route ${numbers.length > 1 ? 'them' : 'it'} elsewhere first`, {
    field: 'application_id',
    numbers: [...numbers],
  });
}

/** validateProgram's verdict, its error naming `program` as the field (with the verb's index and field kept). */
function checkedProgram(input: unknown): Program {
  try {
    return validateProgram(input);
  } catch (error) {
    if (!isDialplaneError(error)) throw error;
    const details = error.details ?? {};
    throw new DialplaneError(
      error.code,
      error.message,
      { ...details, field: 'program', ...(details['field'] !== undefined && details['field'] !== 'program' ? { verb_field: details['field'] } : {}) },
      { ...error.headers },
    );
  }
}

export function toApplication(row: ApplicationRow): Application {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    callHook: row.call_hook,
    statusHook: row.status_hook,
    program: row.program === null ? null : (JSON.parse(row.program) as Program),
    createdAt: row.created_at,
  };
}
