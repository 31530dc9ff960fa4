import { sql } from 'kysely';
import { type Config, ConfigError } from '../config';
import { createDb, createPool, type Db } from '../db/database';
import { listMigrations } from '../db/migrator';
import { resolveMasterKey } from '../runtime';
import { Keyring } from '../security/keys';

/**
 * What a process checks of its database before it serves: that every migration of this code is
 * applied, and that RETRACE_MASTER_KEY is the key the database's secrets were sealed with. Either
 * mismatch would otherwise show as a 500 on every request — and a platform secret added under the
 * wrong key would lock its platform out even once the right key is back — so it is reported at
 * start instead, naming the variable, as bad configuration is.
 *
 * The key is tested on a platform secret, the first thing any deployment seals: one that does not
 * open with the configured key proves the key wrong. A database with no platform yet accepts any
 * key (there is nothing to compare with), and the key it is given becomes the one to keep.
 */
export async function databaseProblems(db: Db, keyring: Keyring): Promise<string[]> {
  const migrations = await listMigrations();
  let applied: Set<string>;
  try {
    const r = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(db);
    applied = new Set(r.rows.map((x) => x.name));
  } catch (err) {
    // 42P01 undefined_table: never migrated.
    if ((err as { code?: string }).code !== '42P01') throw err;
    applied = new Set();
  }
  const missing = migrations.filter((m) => !applied.has(m.name));
  if (missing.length > 0) {
    return [
      `DATABASE_URL names a database that is not migrated (${missing.length} of ${migrations.length} migrations not applied, from ${missing[0]!.name}): run \`retrace migrate\` first`,
    ];
  }
  const secret = await db
    .selectFrom('platform_secrets')
    .select(['platform', 'secret_enc'])
    .orderBy('platform')
    .orderBy('secret_no')
    .limit(1)
    .executeTakeFirst();
  if (secret) {
    try {
      keyring.decrypt('platform-secrets', secret.secret_enc);
    } catch {
      return [
        `RETRACE_MASTER_KEY is not the key this database was set up with: platform ${secret.platform}'s secret does not open with it (configure the original key)`,
      ];
    }
  }
  return [];
}

/** databaseProblems on a connection of its own; throws ConfigError when there is any. */
export async function assertDatabaseReady(config: Config): Promise<void> {
  const db = createDb(createPool({ url: config.databaseUrl, poolSize: 1, applicationName: 'retrace-check' }));
  try {
    let problems: string[];
    try {
      problems = await databaseProblems(db, new Keyring(resolveMasterKey(config)));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const u = new URL(config.databaseUrl);
      throw new Error(
        `cannot use the database of DATABASE_URL (${u.host}${u.pathname}): ${(err as Error).message}`,
      );
    }
    if (problems.length > 0) throw new ConfigError(problems);
  } finally {
    await db.destroy();
  }
}
