import { sql } from 'kysely';
import type { AttemptRecord, ClaimedDelivery, ClaimReport, OutboxStore } from '../webhooks/dispatcher.js';
import { olderThan, type Cursor } from './cursor.js';
import type { Database, Db } from './database.js';
import { SecretBox } from './secret-box.js';
import type {
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookDeliveryStatus,
  WebhookEndpointRow,
  WebhookEndpointsTable,
} from './schema.js';

export type NewDeliveryRow = WebhookDeliveryRow;
export type EndpointChanges = Partial<Omit<WebhookEndpointsTable, 'id' | 'account_id' | 'created_at'>>;

export interface DeliveryFilter {
  readonly accountId?: string;
  readonly endpointId?: string;
  readonly eventId?: string;
  readonly status?: WebhookDeliveryStatus;
  readonly limit: number;
  readonly before?: Cursor;
}

/**
 * The target of ordered deliveries: `ordered:<endpoint id>:<order key>`. One is claimed only once every earlier one
 * (by id) of the same target has been delivered or given up, so they reach the receiver one by one, in order.
 */
export const ORDERED_TARGET_PREFIX = 'ordered:';

/** Candidates looked at per claim, as a multiple of the room left: room for skipping capped targets. */
const CANDIDATE_FACTOR = 4;
/**
 * How long an account's enabled endpoints are served from memory. Every change made through this repository drops
 * them at once; a change made by another server sharing the database is seen within this time.
 */
export const ENDPOINT_CACHE_MS = 2_000;
const ENDPOINT_WRITE_SETTLE_MS = 1_000;

/**
 * Webhook endpoints, the outbox of deliveries and the log of their attempts. Deliveries are inserted through a
 * caller's transaction (`insertDeliveries(trx, …)`), so an event is stored exactly when the change that caused it is.
 */
export class WebhooksRepository implements OutboxStore {
  private readonly db: Db;
  /** Every call state change reads its account's endpoints: they are kept, per account, until one changes. */
  private readonly enabled = new Map<string, { readonly rows: WebhookEndpointRow[]; readonly at: number }>();

  /** Endpoint secrets and one-off delivery secrets are sealed in the database (see SecretBox). */
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox = SecretBox.ephemeral(),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.db = database.db;
  }

  /** Until then endpoints are read each time: a write to one is under way or has just committed. */
  private uncachedUntil = 0;

  /**
   * Any write to an endpoint drops what is kept, and nothing is kept for a second after it (a write inside a
   * caller's transaction commits, or rolls back, after this returns).
   */
  private endpointsChanged(): void {
    this.enabled.clear();
    this.uncachedUntil = this.now() + ENDPOINT_WRITE_SETTLE_MS;
  }

  // --- endpoints --------------------------------------------------------------------------------------------------

  async insertEndpoint(row: WebhookEndpointRow): Promise<void> {
    this.endpointsChanged();
    const sealed = this.secrets.sealRow('webhook_endpoints', row);
    await this.database.write((trx) => trx.insertInto('webhook_endpoints').values(sealed).execute());
  }

  /** Inserts an endpoint inside the caller's transaction (one created together with what it serves). */
  async insertEndpointIn(trx: Db, row: WebhookEndpointRow): Promise<void> {
    this.endpointsChanged();
    await trx.insertInto('webhook_endpoints').values(this.secrets.sealRow('webhook_endpoints', row)).execute();
  }

  /**
   * Deletes the account's endpoints with this owner inside the caller's transaction, as deleteEndpoint does one:
   * their deliveries stay in the log, the pending ones cancelled. Returns their ids.
   */
  async deleteOwnedEndpoints(trx: Db, accountId: string, owner: string, now: string): Promise<string[]> {
    this.endpointsChanged();
    const owned = await trx
      .selectFrom('webhook_endpoints')
      .select('id')
      .where('account_id', '=', accountId)
      .where('owner', '=', owner)
      .execute();
    for (const { id } of owned) {
      await cancelPending(trx, id, 'endpoint_deleted', now);
      await trx.updateTable('webhook_deliveries').set({ endpoint_id: null }).where('endpoint_id', '=', id).execute();
      await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
    }
    return owned.map((e) => e.id);
  }

  /** Changes the account's endpoints with this owner inside the caller's transaction; returns how many. */
  async updateOwnedEndpoints(trx: Db, accountId: string, owner: string, changes: EndpointChanges): Promise<number> {
    this.endpointsChanged();
    const updated = await trx
      .updateTable('webhook_endpoints')
      .set(this.secrets.sealRow('webhook_endpoints', changes))
      .where('account_id', '=', accountId)
      .where('owner', '=', owner)
      .returning('id')
      .execute();
    return updated.length;
  }

  async updateEndpoint(accountId: string, id: string, changes: EndpointChanges): Promise<WebhookEndpointRow | undefined> {
    this.endpointsChanged();
    const sealed = this.secrets.sealRow('webhook_endpoints', changes);
    const row = await this.database.write((trx) =>
      trx
        .updateTable('webhook_endpoints')
        .set(sealed)
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    return row && this.secrets.openRow('webhook_endpoints', row);
  }

  /** Deletes an endpoint; its deliveries stay in the log, the pending ones cancelled. */
  async deleteEndpoint(accountId: string, id: string, now: string): Promise<boolean> {
    this.endpointsChanged();
    return this.database.write(async (trx) => {
      const found = await trx
        .selectFrom('webhook_endpoints')
        .select('id')
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!found) return false;
      await cancelPending(trx, id, 'endpoint_deleted', now);
      await trx.updateTable('webhook_deliveries').set({ endpoint_id: null }).where('endpoint_id', '=', id).execute();
      await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
      return true;
    });
  }

  async findEndpoint(accountId: string, id: string): Promise<WebhookEndpointRow | undefined> {
    const row = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.secrets.openRow('webhook_endpoints', row);
  }

  async listEndpoints(accountId: string, owner?: string): Promise<WebhookEndpointRow[]> {
    let query = this.db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId);
    if (owner !== undefined) query = query.where('owner', '=', owner);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => this.secrets.openRow('webhook_endpoints', row));
  }

  /** Enabled endpoints of an account, read inside the caller's transaction unless they are kept from a recent read. */
  async enabledEndpoints(trx: Db, accountId: string): Promise<WebhookEndpointRow[]> {
    const at = this.now();
    const kept = this.enabled.get(accountId);
    if (kept && at - kept.at < ENDPOINT_CACHE_MS && at >= this.uncachedUntil) return kept.rows;
    const rows = await trx
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('status', '=', 'enabled')
      .execute()
      .then((found) => found.map((row) => this.secrets.openRow('webhook_endpoints', row)));
    if (at >= this.uncachedUntil) this.enabled.set(accountId, { rows, at });
    return rows;
  }

  // --- outbox -----------------------------------------------------------------------------------------------------

  async insertDeliveries(trx: Db, rows: readonly NewDeliveryRow[]): Promise<void> {
    if (rows.length > 0) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.map((row) => this.secrets.sealRow('webhook_deliveries', row)))
        .execute();
    }
  }

  async claimDue(input: {
    now: number;
    limit: number;
    leaseMs: number;
    saturated: readonly string[];
    perTargetRoom: (targetKey: string) => number;
    claimant?: string;
    report?: ClaimReport;
  }): Promise<ClaimedDelivery[]> {
    const { now, limit, leaseMs, saturated, perTargetRoom } = input;
    const claimant = input.claimant ?? null;
    if (limit <= 0) return [];
    return this.database.write(async (trx) => {
      let query = trx
        .selectFrom('webhook_deliveries')
        .select(['id', 'target_key'])
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        // An ordered delivery waits until every earlier one of its target has been delivered or given up.
        .where((eb) =>
          eb.or([
            eb('target_key', 'not like', `${ORDERED_TARGET_PREFIX}%`),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('webhook_deliveries as earlier')
                  .select('earlier.id')
                  .whereRef('earlier.target_key', '=', 'webhook_deliveries.target_key')
                  .where('earlier.status', 'in', ['pending', 'delivering'])
                  .whereRef('earlier.id', '<', 'webhook_deliveries.id'),
              ),
            ),
          ]),
        );
      if (saturated.length > 0) query = query.where('target_key', 'not in', [...saturated]);
      query = query.orderBy('next_attempt_at').orderBy('id').limit(limit * CANDIDATE_FACTOR);
      // Several nodes claim from one PostgreSQL outbox: the candidates are locked until this transaction commits, and
      // rows another node's claim has locked are passed over rather than waited for, so two nodes never take the same
      // delivery and neither queues behind the other. SQLite has one writer at a time (one process).
      const candidates = await (this.database.dialect === 'postgres' ? query.forUpdate('webhook_deliveries').skipLocked() : query).execute();
      const taken = new Map<string, number>();
      const ids: string[] = [];
      let looked = 0;
      for (const candidate of candidates) {
        if (ids.length === limit) break;
        looked += 1;
        const used = taken.get(candidate.target_key) ?? 0;
        if (used >= perTargetRoom(candidate.target_key)) continue;
        taken.set(candidate.target_key, used + 1);
        ids.push(candidate.id);
      }
      // Fewer candidates than asked for, and each of them taken or refused for its target's room: every due delivery
      // outside the saturated targets was looked at (on PostgreSQL, every one not locked by another node's claim).
      if (input.report) input.report.exhausted = candidates.length < limit * CANDIDATE_FACTOR && looked === candidates.length;
      if (ids.length === 0) return [];
      const rows = await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'delivering', lease_until: now + leaseMs, claimed_by: claimant })
        .where('id', 'in', ids)
        .where('status', '=', 'pending')
        .returningAll()
        .execute();
      const endpointIds = [...new Set(rows.map((row) => row.endpoint_id).filter((id): id is string => id !== null))];
      const endpoints =
        endpointIds.length === 0
          ? []
          : await trx
              .selectFrom('webhook_endpoints')
              .select(['id', 'secret', 'previous_secret'])
              .where('id', 'in', endpointIds)
              .execute();
      const secretsOf = new Map(
        endpoints.map((sealed) => {
          const e = this.secrets.openRow('webhook_endpoints', sealed);
          return [e.id, [e.secret, ...(e.previous_secret ? [e.previous_secret] : [])]];
        }),
      );
      return rows
        .sort((a, b) => a.next_attempt_at - b.next_attempt_at || (a.id < b.id ? -1 : 1))
        .map((row) => ({
          id: row.id,
          eventId: row.event_id,
          endpointId: row.endpoint_id,
          targetKey: row.target_key,
          url: row.url,
          eventType: row.event_type,
          payload: row.payload,
          signatureHeader: row.signature_header,
          secrets: row.endpoint_id
            ? (secretsOf.get(row.endpoint_id) ?? [])
            : row.secret !== null
              ? [this.secrets.open('webhook_deliveries.secret', row.secret)].filter((secret) => secret !== '')
              : [],
          attempts: row.attempts,
          firstAttemptAt: row.first_attempt_at === null ? null : Number(row.first_attempt_at),
          claimedBy: row.claimed_by,
          ordered: row.target_key.startsWith(ORDERED_TARGET_PREFIX),
        }));
    });
  }

  async complete(record: AttemptRecord): Promise<void> {
    await this.completeAll([record]);
  }

  /**
   * Writes several attempts in one transaction: one insert of their log rows and one update of their deliveries, so
   * a burst of completions costs two statements and one commit rather than two statements and a commit each. Each
   * delivery still changes only while its own claim holds it.
   */
  async completeAll(records: readonly AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const written = records.map((record) => ({ record, ...outcomeOf(record) }));
    await this.database.write(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values(
          written.map(({ record, result }) => ({
            delivery_id: record.delivery.id,
            attempt: record.attempt,
            started_at: new Date(record.startedAt).toISOString(),
            latency_ms: Math.round(record.latencyMs),
            status_code: record.statusCode,
            error: record.error,
            result,
          })),
        )
        .execute();
      // An attempt whose lease ran out (and the delivery claimed again, by this node or another) leaves its log row
      // only: the claimant must still be the one this attempt was claimed for. The casts type the first row of the
      // list on PostgreSQL, whose parameters are untyped text otherwise.
      const rows = written.map(
        ({ record, status, nextAttemptAt, completedAt, finalReason }) =>
          sql`(cast(${record.delivery.id} as text), cast(${record.delivery.claimedBy ?? null} as text), cast(${status} as text),
            cast(${record.attempt} as integer), cast(${record.delivery.firstAttemptAt ?? record.startedAt} as bigint),
            cast(${record.statusCode} as integer), cast(${record.error} as text), cast(${nextAttemptAt} as bigint),
            cast(${completedAt} as text), cast(${finalReason} as text))`,
      );
      await sql`
        with done (id, claimed_by, status, attempts, first_attempt_at, last_status_code, last_error, next_attempt_at,
                   completed_at, final_reason) as (values ${sql.join(rows)})
        update webhook_deliveries set
          status = done.status,
          attempts = done.attempts,
          lease_until = null,
          claimed_by = null,
          first_attempt_at = done.first_attempt_at,
          last_status_code = done.last_status_code,
          last_error = done.last_error,
          next_attempt_at = coalesce(done.next_attempt_at, webhook_deliveries.next_attempt_at),
          completed_at = coalesce(done.completed_at, webhook_deliveries.completed_at),
          final_reason = coalesce(done.final_reason, webhook_deliveries.final_reason)
        from done
        where webhook_deliveries.id = done.id
          and webhook_deliveries.status = 'delivering'
          and webhook_deliveries.claimed_by is not distinct from done.claimed_by`.execute(trx);
      for (const { record, completedAt } of written) {
        if (record.decision.action !== 'disable_endpoint' || !record.delivery.endpointId) continue;
        this.endpointsChanged();
        await trx
          .updateTable('webhook_endpoints')
          .set({ status: 'disabled', disabled_reason: 'receiver answered 410 Gone', updated_at: completedAt! })
          .where('id', '=', record.delivery.endpointId)
          .execute();
        await cancelPending(trx, record.delivery.endpointId, 'endpoint_disabled', completedAt!);
      }
    });
  }

  async releaseExpiredLeases(now: number): Promise<number> {
    const result = await this.database.write((trx) =>
      trx
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', lease_until: null, claimed_by: null })
        .where('status', '=', 'delivering')
        .where('lease_until', '<', now)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }

  async nextDueAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  // --- the delivery log -------------------------------------------------------------------------------------------

  async listDeliveries(filter: DeliveryFilter): Promise<WebhookDeliveryRow[]> {
    let query = this.db.selectFrom('webhook_deliveries').selectAll();
    if (filter.accountId !== undefined) query = query.where('account_id', '=', filter.accountId);
    if (filter.endpointId !== undefined) query = query.where('endpoint_id', '=', filter.endpointId);
    if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.before) query = query.where(olderThan(filter.before));
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map((row) => this.secrets.openRow('webhook_deliveries', row));
  }

  async findDelivery(id: string, accountId?: string): Promise<WebhookDeliveryRow | undefined> {
    let query = this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id);
    if (accountId !== undefined) query = query.where('account_id', '=', accountId);
    const row = await query.executeTakeFirst();
    return row && this.secrets.openRow('webhook_deliveries', row);
  }

  async attempts(deliveryId: string): Promise<WebhookAttemptRow[]> {
    return this.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('seq').execute();
  }

  async countByStatus(accountId?: string): Promise<Record<WebhookDeliveryStatus, number>> {
    let query = this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status');
    if (accountId !== undefined) query = query.where('account_id', '=', accountId);
    const counts: Record<WebhookDeliveryStatus, number> = { pending: 0, delivering: 0, delivered: 0, failed: 0, cancelled: 0 };
    for (const row of await query.execute()) counts[row.status] = Number(row.n);
    return counts;
  }
}

/** What one attempt makes of its delivery. */
function outcomeOf(record: AttemptRecord): {
  readonly result: 'delivered' | 'retry' | 'disabled' | 'failed';
  readonly status: WebhookDeliveryStatus;
  readonly nextAttemptAt: number | null;
  readonly completedAt: string | null;
  readonly finalReason: string | null;
} {
  const { decision } = record;
  const doneIso = new Date(record.startedAt + record.latencyMs).toISOString();
  switch (decision.action) {
    case 'delivered':
      return { result: 'delivered', status: 'delivered', nextAttemptAt: null, completedAt: doneIso, finalReason: null };
    case 'retry':
      return { result: 'retry', status: 'pending', nextAttemptAt: decision.at, completedAt: null, finalReason: null };
    case 'disable_endpoint':
      return { result: 'disabled', status: 'failed', nextAttemptAt: null, completedAt: doneIso, finalReason: 'endpoint_gone' };
    default:
      return { result: 'failed', status: 'failed', nextAttemptAt: null, completedAt: doneIso, finalReason: decision.reason };
  }
}

async function cancelPending(trx: Db, endpointId: string, reason: string, now: string): Promise<void> {
  await trx
    .updateTable('webhook_deliveries')
    .set({ status: 'cancelled', final_reason: reason, completed_at: now, lease_until: null })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .execute();
}
