import type { Database, Db } from './database.js';
import type { SipRegistrationRow } from './schema.js';

/** The registrar's bindings, written through as devices register, so a restarted server still reaches them. */
export class RegistrationsRepository {
  private readonly db: Db;

  constructor(database: Database) {
    this.db = database.db;
  }

  /**
   * Every binding unexpired at `nowIso` whose device still exists; the expired ones and those of deleted devices are
   * removed first (what a server that was down could not clean).
   */
  async loadCurrent(nowIso: string): Promise<SipRegistrationRow[]> {
    await this.db.deleteFrom('sip_registrations').where('expires_at', '<=', nowIso).execute();
    await this.db
      .deleteFrom('sip_registrations')
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('devices').select('devices.id').whereRef('devices.id', '=', 'sip_registrations.device_id'))),
      )
      .execute();
    return this.db.selectFrom('sip_registrations').selectAll().orderBy('device_id').orderBy('binding_key').execute();
  }

  /** One device's bindings unexpired at `nowIso`. */
  async listForDevice(deviceId: string, nowIso: string): Promise<SipRegistrationRow[]> {
    return this.db
      .selectFrom('sip_registrations')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('expires_at', '>', nowIso)
      .orderBy('binding_key')
      .execute();
  }

  /** Every binding unexpired at `nowIso`, removing nothing. */
  async listCurrent(nowIso: string): Promise<SipRegistrationRow[]> {
    return this.db.selectFrom('sip_registrations').selectAll().where('expires_at', '>', nowIso).orderBy('device_id').orderBy('binding_key').execute();
  }

  /** Adds or refreshes one binding. */
  async put(row: SipRegistrationRow): Promise<void> {
    await this.db
      .insertInto('sip_registrations')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['device_id', 'binding_key']).doUpdateSet({
          account_id: row.account_id,
          extension_id: row.extension_id,
          uri: row.uri,
          instance: row.instance,
          transport: row.transport,
          address: row.address,
          port: row.port,
          call_id: row.call_id,
          cseq: row.cseq,
          expires_at: row.expires_at,
        }),
      )
      .execute();
  }

  async remove(deviceId: string, bindingKey: string): Promise<void> {
    await this.db.deleteFrom('sip_registrations').where('device_id', '=', deviceId).where('binding_key', '=', bindingKey).execute();
  }

  async removeDevice(deviceId: string): Promise<void> {
    await this.db.deleteFrom('sip_registrations').where('device_id', '=', deviceId).execute();
  }
}
