import type { Database, Db } from './database.js';
import type { AuthTokenFamilyRow, AuthTokenRow } from './schema.js';

/** Sign-in token families and their tokens (only hashes are stored). */
export class AuthTokensRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async startFamily(family: AuthTokenFamilyRow, tokens: readonly AuthTokenRow[]): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('auth_token_families').values(family).execute();
      await trx.insertInto('auth_tokens').values([...tokens]).execute();
    });
  }

  async find(hash: string): Promise<{ token: AuthTokenRow; family: AuthTokenFamilyRow } | undefined> {
    const token = await this.db.selectFrom('auth_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    if (!token) return undefined;
    const family = await this.db.selectFrom('auth_token_families').selectAll().where('id', '=', token.family_id).executeTakeFirst();
    return family ? { token, family } : undefined;
  }

  /**
   * Spends a refresh token and stores the next pair of its family, in one write. Only an unspent token of a live
   * family is spent: false means it was spent already (or the family was revoked) by the time the write ran.
   */
  async rotate(hash: string, spentAt: string, next: readonly AuthTokenRow[]): Promise<boolean> {
    return this.database.write(async (trx) => {
      const spent = await trx
        .updateTable('auth_tokens')
        .set({ spent_at: spentAt })
        .where('hash', '=', hash)
        .where('kind', '=', 'refresh')
        .where('spent_at', 'is', null)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('auth_token_families as f')
              .select('f.id')
              .whereRef('f.id', '=', 'auth_tokens.family_id')
              .where('f.revoked_at', 'is', null),
          ),
        )
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) === 0) return false;
      await trx.insertInto('auth_tokens').values([...next]).execute();
      return true;
    });
  }

  async revokeFamily(familyId: string, at: string, reason: string): Promise<void> {
    await this.database.write((trx) =>
      trx
        .updateTable('auth_token_families')
        .set({ revoked_at: at, revoked_reason: reason })
        .where('id', '=', familyId)
        .where('revoked_at', 'is', null)
        .execute(),
    );
  }
}
