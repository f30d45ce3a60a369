import type { Database, Db } from './database.js';
import { SecretBox } from './secret-box.js';
import type { DeviceRow, ExtensionRow, RoutedPhoneNumberRow } from './schema.js';

/** The routing columns of a number; at most one of them routes somewhere. */
export interface RouteColumns {
  readonly extension_id: string | null;
  readonly forward_to: string | null;
  readonly answer_here: number;
  readonly application_id: string | null;
}

/** What deleting an extension took with it. */
export interface DeletedExtension {
  readonly deviceIds: string[];
  /** Numbers that routed to the extension and now route nowhere. */
  readonly unroutedNumbers: string[];
}

/** Extensions, their devices, and the routing columns of phone_numbers. Every lookup but two is scoped to an account. */
export class ExtensionsRepository {
  private readonly db: Db;

  /** A device's HA1 is sealed in the database (see SecretBox): read from a copy of it, it registers nothing. */
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox = SecretBox.ephemeral(),
  ) {
    this.db = database.db;
  }

  async insertExtension(row: ExtensionRow): Promise<void> {
    await this.db.insertInto('extensions').values(row).execute();
  }

  async findExtension(accountId: string, id: string): Promise<ExtensionRow | undefined> {
    return this.db
      .selectFrom('extensions')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The account's extension dialled by `number` (309). */
  async findExtensionByNumber(accountId: string, number: string): Promise<ExtensionRow | undefined> {
    return this.db
      .selectFrom('extensions')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('number', '=', number)
      .executeTakeFirst();
  }

  /** Changes an extension's name, number, mobile or SRTP policy; undefined when it is not the account's. */
  async updateExtension(
    accountId: string,
    id: string,
    changes: Partial<Pick<ExtensionRow, 'name' | 'number' | 'mobile' | 'srtp'>>,
  ): Promise<ExtensionRow | undefined> {
    if (Object.keys(changes).length === 0) return this.findExtension(accountId, id);
    return this.db
      .updateTable('extensions')
      .set(changes)
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async listExtensions(accountId: string): Promise<ExtensionRow[]> {
    return this.db
      .selectFrom('extensions')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** Removes an extension, its devices and the routes to it in one transaction; undefined when it is not the account's. */
  async deleteExtension(accountId: string, id: string): Promise<DeletedExtension | undefined> {
    return this.database.write(async (trx) => {
      const extension = await trx
        .selectFrom('extensions')
        .select('id')
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!extension) return undefined;
      const unrouted = await trx
        .updateTable('phone_numbers')
        .set({ extension_id: null })
        .where('account_id', '=', accountId)
        .where('extension_id', '=', id)
        .returning('number')
        .execute();
      const devices = await trx
        .deleteFrom('devices')
        .where('account_id', '=', accountId)
        .where('extension_id', '=', id)
        .returning('id')
        .execute();
      await trx.deleteFrom('extensions').where('account_id', '=', accountId).where('id', '=', id).execute();
      return {
        deviceIds: devices.map((d) => d.id).sort(),
        unroutedNumbers: unrouted.map((n) => n.number).sort(),
      };
    });
  }

  async insertDevice(row: DeviceRow): Promise<void> {
    await this.db.insertInto('devices').values(this.secrets.sealRow('devices', row)).execute();
  }

  async findDevice(accountId: string, id: string): Promise<DeviceRow | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.secrets.openRow('devices', row);
  }

  /** Across accounts: a REGISTER names only its username. */
  async findDeviceByUsername(username: string): Promise<DeviceRow | undefined> {
    const row = await this.db.selectFrom('devices').selectAll().where('username', '=', username).executeTakeFirst();
    return row && this.secrets.openRow('devices', row);
  }

  async listDevices(accountId: string, extensionId?: string): Promise<DeviceRow[]> {
    let query = this.db.selectFrom('devices').selectAll().where('account_id', '=', accountId);
    if (extensionId !== undefined) query = query.where('extension_id', '=', extensionId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => this.secrets.openRow('devices', row));
  }

  async deleteDevice(accountId: string, id: string): Promise<boolean> {
    const deleted = await this.db
      .deleteFrom('devices')
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .returning('id')
      .executeTakeFirst();
    return deleted !== undefined;
  }

  /** Across accounts: an inbound call names only the number dialled. */
  async findNumber(number: string): Promise<RoutedPhoneNumberRow | undefined> {
    return this.db.selectFrom('phone_numbers').selectAll().where('number', '=', number).executeTakeFirst();
  }

  /**
   * Sets where a number of the account rings. The extension or application is checked to be the account's in the same
   * transaction, so a route can never point across accounts. Undefined when the number (or the extension, or the
   * application) is not the account's.
   */
  async setRoute(
    accountId: string,
    numberId: string,
    route: RouteColumns,
  ): Promise<RoutedPhoneNumberRow | undefined> {
    return this.database.write(async (trx) => {
      if (route.extension_id !== null) {
        const owned = await trx
          .selectFrom('extensions')
          .select('id')
          .where('account_id', '=', accountId)
          .where('id', '=', route.extension_id)
          .executeTakeFirst();
        if (!owned) return undefined;
      }
      if (route.application_id !== null) {
        const owned = await trx
          .selectFrom('applications')
          .select('id')
          .where('account_id', '=', accountId)
          .where('id', '=', route.application_id)
          .executeTakeFirst();
        if (!owned) return undefined;
      }
      return trx
        .updateTable('phone_numbers')
        .set({
          extension_id: route.extension_id,
          forward_to: route.forward_to,
          answer_here: route.answer_here,
          application_id: route.application_id,
        })
        .where('account_id', '=', accountId)
        .where('id', '=', numberId)
        .returningAll()
        .executeTakeFirst();
    });
  }

  async listRoutedNumbers(accountId: string): Promise<RoutedPhoneNumberRow[]> {
    return this.db
      .selectFrom('phone_numbers')
      .selectAll()
      .where('account_id', '=', accountId)
      .where((eb) => eb.or([eb('extension_id', 'is not', null), eb('forward_to', 'is not', null), eb('answer_here', '=', 1), eb('application_id', 'is not', null)]))
      .orderBy('number')
      .execute();
  }
}
