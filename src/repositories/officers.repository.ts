import { createHmac, randomBytes } from 'node:crypto';
import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Db } from '../db/database';
import type { Keyring } from '../security/keys';

/**
 * Officers and their bearer tokens. A token is shown once (when issued) and stored only as
 * HMAC-SHA256 under the Keyring's 'token-hash' key: the table alone yields no usable token.
 */

export const OFFICER_ROLES = ['officer', 'supervisor', 'auditor', 'admin'] as const;
export type OfficerRole = (typeof OFFICER_ROLES)[number];

export const OFFICER_LOGIN = /^[a-z][a-z0-9._-]{1,63}$/;

/** `rt_` + 32 random bytes in base64url (43 characters): 256 bits, never guessable. */
export const TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

export function generateOfficerToken(): string {
  return `rt_${randomBytes(32).toString('base64url')}`;
}

export function hashOfficerToken(keyring: Keyring, token: string): Buffer {
  return createHmac('sha256', keyring.key('token-hash')).update(token, 'utf8').digest();
}

export interface OfficerRecord {
  login: string;
  role: OfficerRole;
  divisions: string[];
  pii: boolean;
  status: 'enabled' | 'disabled';
}

function toRecord(r: { login: string; role: string; divisions: string[]; pii: boolean; status: string }) {
  return {
    login: r.login,
    role: r.role as OfficerRole,
    divisions: r.divisions,
    pii: r.pii,
    status: r.status as OfficerRecord['status'],
  };
}

/**
 * The enabled officer holding this active (unrevoked) token, or null. Tokens that do not even
 * look like ours are refused without a query.
 */
export async function findOfficerByToken(
  db: Db,
  keyring: Keyring,
  token: string,
): Promise<OfficerRecord | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const row = await db
    .selectFrom('officer_tokens as t')
    .innerJoin('officers as o', 'o.login', 't.officer')
    .select(['o.login', 'o.role', 'o.divisions', 'o.pii', 'o.status'])
    .where('t.token_hash', '=', hashOfficerToken(keyring, token))
    .where('t.revoked_at', 'is', null)
    .where('o.status', '=', 'enabled')
    .executeTakeFirst();
  return row ? toRecord(row) : null;
}

export async function findOfficer(db: Db, login: string): Promise<OfficerRecord | null> {
  const row = await db
    .selectFrom('officers')
    .select(['login', 'role', 'divisions', 'pii', 'status'])
    .where('login', '=', login)
    .executeTakeFirst();
  return row ? toRecord(row) : null;
}

/**
 * Creates the officer with a first token, in one transaction. Returns the token, or null when
 * the login is taken.
 */
export async function insertOfficer(
  db: Db,
  keyring: Keyring,
  o: { login: string; role: OfficerRole; divisions: string[]; pii: boolean },
): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('officers')
      .values({ login: o.login, role: o.role, divisions: o.divisions, pii: o.pii })
      .onConflict((oc) => oc.column('login').doNothing())
      .returning('login')
      .executeTakeFirst();
    if (!inserted) return null;
    const token = generateOfficerToken();
    await trx
      .insertInto('officer_tokens')
      .values({ token_hash: hashOfficerToken(keyring, token), officer: o.login })
      .execute();
    return token;
  });
}

/**
 * NOTIFY channel for changes to officers' tokens or status; API processes empty their token
 * caches when they hear it (src/http/token-revocations.ts). Sent inside the changing transaction,
 * so PostgreSQL delivers it exactly when the change commits.
 */
export const OFFICER_TOKENS_CHANNEL = 'retrace_officer_tokens';

const notifyTokensChanged = (db: Db, login: string) =>
  sql`SELECT pg_notify(${OFFICER_TOKENS_CHANNEL}, ${login})`.execute(db);

/**
 * Revokes every active token of the officer and issues a new one. Returns it, or null when there
 * is no such officer. The row lock serialises two rotations of the same officer.
 */
export async function rotateOfficerToken(db: Db, keyring: Keyring, login: string): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    const o = await trx
      .selectFrom('officers')
      .select('login')
      .where('login', '=', login)
      .forUpdate()
      .executeTakeFirst();
    if (!o) return null;
    await trx
      .updateTable('officer_tokens')
      .set({ revoked_at: new Date() })
      .where('officer', '=', login)
      .where('revoked_at', 'is', null)
      .execute();
    const token = generateOfficerToken();
    await trx
      .insertInto('officer_tokens')
      .values({ token_hash: hashOfficerToken(keyring, token), officer: login })
      .execute();
    await notifyTokensChanged(trx, login);
    return token;
  });
}

/**
 * Disabling also revokes the officer's tokens, so enabling again needs `rotate-token`: a token
 * that may have leaked while the account was off never comes back to life.
 */
export async function setOfficerStatus(
  db: Db,
  login: string,
  status: 'enabled' | 'disabled',
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('officers')
      .set({ status, disabled_at: status === 'disabled' ? new Date() : null })
      .where('login', '=', login)
      .executeTakeFirst();
    if (r.numUpdatedRows === 0n) return false;
    if (status === 'disabled') {
      await trx
        .updateTable('officer_tokens')
        .set({ revoked_at: new Date() })
        .where('officer', '=', login)
        .where('revoked_at', 'is', null)
        .execute();
    }
    await notifyTokensChanged(trx, login);
    return true;
  });
}

export async function listOfficers(db: Db) {
  return db
    .selectFrom('officers as o')
    .select((eb) => [
      'o.login',
      'o.role',
      'o.divisions',
      'o.pii',
      'o.status',
      'o.created_at',
      'o.disabled_at',
      eb
        .selectFrom('officer_tokens as t')
        .select((e) => e.fn.countAll<string>().as('n'))
        .whereRef('t.officer', '=', 'o.login')
        .where('t.revoked_at', 'is', null)
        .as('active_tokens'),
    ])
    .orderBy('o.login')
    .execute();
}

// ---------------------------------------------------------------------------------------------
// Division scope in queries
// ---------------------------------------------------------------------------------------------

/**
 * Which divisions a query may return, as plain data (built by `divisionFilter()` in
 * src/http/auth.ts from the officer's scope): `exact` codes match themselves, `prefixes` match
 * every code that starts with them ('4407' for 440700 = all of Jiangmen). `all` = no restriction
 * (system jobs only). Empty `exact` and `prefixes` without `all` match nothing.
 */
export interface DivisionFilter {
  all: boolean;
  exact: readonly string[];
  prefixes: readonly string[];
}

/**
 * A WHERE condition: `column` (a qualified column holding a 6-digit division code, e.g.
 * 'trades.seller_division') lies in the filter. Combine with `eb.or([...])` to see a trade when
 * its seller or its buyer is in scope:
 *
 *   .where((eb) => eb.or([inDivisions('t.seller_division', f), inDivisions('t.buyer_division', f)]))
 *
 * Raw SQL because `= ANY(array)` / `LIKE ANY(array)` take the lists as two parameters whatever
 * their length, which the builder's IN-lists cannot. Prefixes are digits only (checked), so no
 * LIKE wildcard can come from the data.
 */
export function inDivisions(column: string, f: DivisionFilter): RawBuilder<SqlBool> {
  if (f.all) return sql<SqlBool>`true`;
  const exact = f.exact.filter((d) => /^\d{6}$/.test(d));
  const patterns = f.prefixes.filter((p) => /^\d{1,6}$/.test(p)).map((p) => `${p}%`);
  if (exact.length === 0 && patterns.length === 0) return sql<SqlBool>`false`;
  const ref = sql.ref(column);
  return sql<SqlBool>`(${ref} = ANY(${exact}::text[]) OR ${ref} LIKE ANY(${patterns}::text[]))`;
}
