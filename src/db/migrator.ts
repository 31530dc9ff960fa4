import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

const MIGRATION_NAME = /^\d{12}_[a-z0-9_]+\.sql$/;
// Any constant shared by every migrating process: serialises concurrent `migrate` runs.
const MIGRATION_LOCK = 7_146_220_331;

export interface MigrationResult {
  database: string;
  created: boolean;
  applied: string[];
  already_applied: number;
}

/** Creates the database named in `url` when it does not exist (safe when two processes race). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (err) {
      // 42P04 duplicate_database, 23505: another process created it between our check and ours.
      const code = (err as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw err;
    }
  } finally {
    await client.end();
  }
}

/** Drops the database named in `url` (closing its connections) and creates it empty. For the demo. */
export async function recreateDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  await ensureDatabase(url);
}

export async function listMigrations(
  dir = SQL_DIR,
): Promise<{ name: string; sql: string; checksum: string }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out = [];
  for (const name of files) {
    if (!MIGRATION_NAME.test(name))
      throw new Error(`migration file name must look like YYYYMMDDHHMM_description.sql: ${name}`);
    const sql = await readFile(path.join(dir, name), 'utf8');
    out.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/**
 * Applies the plain SQL migrations in `sql/` in name order, each in its own transaction.
 * Migrations are frozen once applied: an edited file is an error, never silently re-run.
 */
export async function migrate(url: string, dir = SQL_DIR): Promise<MigrationResult> {
  const created = await ensureDatabase(url);
  const migrations = await listMigrations(dir);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    const applied: string[] = [];
    for (const m of migrations) {
      const prior = done.get(m.name);
      if (prior !== undefined) {
        if (prior !== m.checksum) {
          throw new Error(`migration ${m.name} was edited after it was applied; add a new migration instead`);
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [
          m.name,
          m.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return {
      database: new URL(url).pathname.slice(1),
      created,
      applied,
      already_applied: migrations.length - applied.length,
    };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}
