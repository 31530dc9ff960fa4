import { sql } from 'kysely';
import type { Db } from '../db/database';

/** A platform code: a lowercase letter, then 1–31 of a-z, 0-9, "_" and "-". */
export const PLATFORM_CODE = /^[a-z][a-z0-9_-]{1,31}$/;

/**
 * NOTIFY channel for platform changes (added, secrets, status): API processes empty their platform
 * cache when they hear it (src/ingest/platform-cache.ts, src/http/token-revocations.ts). Sent
 * inside the changing transaction, so PostgreSQL delivers it exactly when the change commits.
 */
export const PLATFORMS_CHANNEL = 'retrace_platforms';

const notifyPlatformChanged = (db: Db, code: string) =>
  sql`SELECT pg_notify(${PLATFORMS_CHANNEL}, ${code})`.execute(db);

export interface PlatformRow {
  code: string;
  name: string;
  status: 'enabled' | 'disabled';
  rateLimitPerSecond: number;
  secrets: { secretNo: number; secretEnc: Buffer }[];
}

export async function findPlatform(db: Db, code: string): Promise<PlatformRow | null> {
  const p = await db
    .selectFrom('platforms')
    .select(['code', 'name', 'status', 'rate_limit_per_second'])
    .where('code', '=', code)
    .executeTakeFirst();
  if (!p) return null;
  const secrets = await db
    .selectFrom('platform_secrets')
    .select(['secret_no', 'secret_enc'])
    .where('platform', '=', code)
    .where('revoked_at', 'is', null)
    .orderBy('secret_no')
    .execute();
  return {
    code: p.code,
    name: p.name,
    status: p.status as PlatformRow['status'],
    rateLimitPerSecond: p.rate_limit_per_second,
    secrets: secrets.map((s) => ({ secretNo: s.secret_no, secretEnc: s.secret_enc })),
  };
}

export async function insertPlatform(
  db: Db,
  p: { code: string; name: string; rateLimitPerSecond?: number; secretEnc: Buffer },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('platforms')
      .values({ code: p.code, name: p.name, rate_limit_per_second: p.rateLimitPerSecond ?? 1000 })
      .onConflict((oc) => oc.column('code').doNothing())
      .returning('code')
      .executeTakeFirst();
    if (!inserted) return false;
    await trx
      .insertInto('platform_secrets')
      .values({ platform: p.code, secret_no: 1, secret_enc: p.secretEnc })
      .execute();
    await notifyPlatformChanged(trx, p.code);
    return true;
  });
}

/** Adds another active secret; earlier ones stay valid until revoked. Returns its number. */
export async function addPlatformSecret(db: Db, code: string, secretEnc: Buffer): Promise<number | null> {
  return db.transaction().execute(async (trx) => {
    const p = await trx
      .selectFrom('platforms')
      .select('code')
      .where('code', '=', code)
      .forUpdate()
      .executeTakeFirst();
    if (!p) return null;
    const max = await trx
      .selectFrom('platform_secrets')
      .select((eb) => eb.fn.max('secret_no').as('n'))
      .where('platform', '=', code)
      .executeTakeFirst();
    const next = Number(max?.n ?? 0) + 1;
    await trx
      .insertInto('platform_secrets')
      .values({ platform: code, secret_no: next, secret_enc: secretEnc })
      .execute();
    await notifyPlatformChanged(trx, code);
    return next;
  });
}

/** Revokes every active secret but the newest `keep` ones. Returns how many were revoked. */
export async function revokeOldSecrets(db: Db, code: string, keep = 1): Promise<number> {
  const active = await db
    .selectFrom('platform_secrets')
    .select('secret_no')
    .where('platform', '=', code)
    .where('revoked_at', 'is', null)
    .orderBy('secret_no', 'desc')
    .execute();
  const revoke = active.slice(keep).map((s) => s.secret_no);
  if (revoke.length === 0) return 0;
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('platform_secrets')
      .set({ revoked_at: new Date() })
      .where('platform', '=', code)
      .where('secret_no', 'in', revoke)
      .execute();
    await notifyPlatformChanged(trx, code);
  });
  return revoke.length;
}

export async function setPlatformStatus(
  db: Db,
  code: string,
  status: 'enabled' | 'disabled',
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('platforms')
      .set({ status, disabled_at: status === 'disabled' ? new Date() : null })
      .where('code', '=', code)
      .executeTakeFirst();
    if (r.numUpdatedRows === 0n) return false;
    await notifyPlatformChanged(trx, code);
    return true;
  });
}

export async function listPlatforms(db: Db) {
  return db
    .selectFrom('platforms')
    .select(['code', 'name', 'status', 'rate_limit_per_second', 'created_at'])
    .orderBy('code')
    .execute();
}

export async function listActiveMaterialCodes(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('materials').select('code').where('active', '=', true).execute();
  return rows.map((r) => r.code);
}
