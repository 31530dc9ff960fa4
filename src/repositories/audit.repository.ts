import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import { isValidResidentId } from '../domain/ids';
import { canonicalJson } from '../ingest/canonical';

/**
 * The audit log: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and hash-chained.
 *
 *   hash = HMAC-SHA256(chainKey, prev_hash || canonical JSON of the entry, id included)
 *
 * prev_hash is the previous entry's hash (GENESIS for the first). The key comes from the Keyring
 * ('audit-chain'), so a database user without the master key cannot re-chain after an edit.
 */

export const GENESIS_HASH = Buffer.alloc(32);

// Any constant of our own: serialises appends across every API process (see appendAuditEntries).
const AUDIT_APPEND_LOCK = 7_146_220_332;

/** Longest text kept per field: a hostile URL cannot make the log (or the hash input) balloon. */
const MAX_TEXT = 2048;

export type AuditQuery = Record<string, string | string[]>;

export interface AuditEntryInput {
  at: Date;
  actor: string;
  role: string;
  method: string;
  /** Route template (`/v1/trades/:id`), or 'unmatched'. */
  endpoint: string;
  path: string;
  query: AuditQuery;
  status: number;
  /** Party keys disclosed (USCC or person key — never a raw id number). */
  parties: string[];
  /** Trade ids disclosed (internal ids as decimal strings). */
  trades: string[];
  piiUnmasked: boolean;
  requestId: string | null;
}

export interface AuditEntry extends AuditEntryInput {
  id: bigint;
  prevHash: Buffer;
  hash: Buffer;
}

/**
 * Text as PostgreSQL will store it and give it back: no NUL (text and jsonb refuse it), no lone
 * surrogate (jsonb refuses it), at most MAX_TEXT characters. Hashing the sanitised value keeps
 * the chain verifiable, and nothing a client puts in a URL can make the audit write fail.
 */
export function auditText(s: string): string {
  // Fast path (a sheet's entry names thousands of party keys): nothing below can change a string
  // that is short enough, has no NUL and no surrogate, and no run of 17 digits (an id number needs
  // 17 digits and a check character).
  if (s.length <= MAX_TEXT && !s.includes('\u0000') && !NEEDS_CLEANING.test(s)) return s;
  return cleanAuditText(s);
}

const NEEDS_CLEANING = /[\uD800-\uDFFF]|\d{17}/;

/** `auditText` without its fast path (exported for the test that checks they agree). */
export function cleanAuditText(s: string): string {
  const cut = s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
  return maskIdLike(cut.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD'));
}

/**
 * The log must not become a store of personal data: anything shaped like a resident id number
 * (17 digits and a check character) that an officer typed into a path or parameter is kept
 * masked the way the API shows it (first 6, last 4).
 */
const ID_LIKE = /(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])/g;
function maskIdLike(s: string): string {
  // Only real id numbers (check character and birth date valid): an all-digit USCC stays readable.
  return s.replace(ID_LIKE, (m: string, head: string, tail: string) =>
    isValidResidentId(m.toUpperCase()) ? `${head}********${tail}` : m,
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Party keys and trade ids as the log keeps them: the server's own identifiers (USCCs, person keys,
 * internal ids), never text a client typed, so they are only made storable — never masked. An
 * all-digit USCC can pass for a resident id number now and then (its digits 7–14 a date, its last
 * character the right check digit), and masking it would lose the very party the entry is about.
 */
export function auditKeys(list: readonly string[]): readonly string[] {
  const clean = (k: string) =>
    k.length <= MAX_TEXT && !k.includes('\u0000') && !/[\uD800-\uDFFF]/.test(k)
      ? k
      : k.slice(0, MAX_TEXT).replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
  return list.every((k) => clean(k) === k) ? list : list.map(clean);
}

/** An entry as stored and hashed: sanitised, with its lists and query as JSON text (written once). */
interface SanitizedEntry extends AuditEntryInput {
  queryJson: string;
  partiesJson: string;
  tradesJson: string;
}

function sanitize(e: AuditEntryInput): SanitizedEntry {
  // No prototype: a `__proto__` parameter is kept as data, like any other name.
  const query: AuditQuery = Object.create(null);
  for (const [k, v] of Object.entries(e.query)) {
    query[auditText(k)] = Array.isArray(v) ? v.map(auditText) : auditText(v);
  }
  const parties = auditKeys(e.parties) as string[];
  const trades = auditKeys(e.trades) as string[];
  return {
    ...e,
    actor: auditText(e.actor),
    role: auditText(e.role),
    method: auditText(e.method),
    endpoint: auditText(e.endpoint),
    path: auditText(e.path),
    query,
    parties,
    trades,
    requestId: e.requestId === null ? null : auditText(e.requestId),
    queryJson: canonicalJson(query),
    partiesJson: stringListJson(parties),
    tradesJson: stringListJson(trades),
  };
}

/**
 * `canonicalJson` of a list: a list of strings has no keys to sort, so JSON.stringify gives the
 * same text in one native call (a sheet's entry lists 10,000 parties). Anything else (an entry
 * read back from a tampered row) goes through canonicalJson.
 */
function stringListJson(list: unknown): string {
  if (Array.isArray(list) && list.every((x) => typeof x === 'string')) return JSON.stringify(list);
  return canonicalJson(list);
}

/** An entry to hash; a sanitised one carries its lists and query as JSON already (see sanitize). */
type HashableEntry = AuditEntryInput & { id: bigint } & Partial<
    Pick<SanitizedEntry, 'queryJson' | 'partiesJson' | 'tradesJson'>
  >;

/** The chained hash of one entry. Field names are fixed here: changing them is a new version. */
export function auditEntryHash(chainKey: Buffer, prevHash: Buffer, e: HashableEntry): Buffer {
  return createHmac('sha256', chainKey).update(prevHash).update(auditHashInput(e), 'utf8').digest();
}

const hashedFields = (e: AuditEntryInput & { id: bigint }) => ({
  v: 1,
  id: e.id.toString(),
  at: e.at.toISOString(),
  actor: e.actor,
  role: e.role,
  method: e.method,
  endpoint: e.endpoint,
  path: e.path,
  query: e.query,
  status: e.status,
  parties: e.parties,
  trades: e.trades,
  pii_unmasked: e.piiUnmasked,
  request_id: e.requestId,
});

/**
 * The text the hash covers: canonicalJson (src/ingest/canonical.ts) of `hashedFields(e)`. For an
 * entry of the usual shape it is written out with the keys already in canonical order, so only
 * the query object is sorted and the party and trade lists are serialised once (a sheet's entry
 * lists 10,000 parties; their JSON is also what the INSERT stores). Anything else (an entry read
 * back from a tampered row) takes canonicalJson itself. test/audit/audit-hash.test.ts checks that
 * both give the same text.
 */
export function auditHashInput(e: HashableEntry): string {
  const usual =
    typeof e.actor === 'string' &&
    typeof e.role === 'string' &&
    typeof e.method === 'string' &&
    typeof e.endpoint === 'string' &&
    typeof e.path === 'string' &&
    typeof e.status === 'number' &&
    typeof e.piiUnmasked === 'boolean' &&
    (e.requestId === null || typeof e.requestId === 'string');
  if (!usual) return canonicalJson(hashedFields(e));
  const text = JSON.stringify;
  return (
    `{"actor":${text(e.actor)},"at":${text(e.at.toISOString())},"endpoint":${text(e.endpoint)}` +
    `,"id":${text(e.id.toString())},"method":${text(e.method)}` +
    `,"parties":${e.partiesJson ?? stringListJson(e.parties)},"path":${text(e.path)}` +
    `,"pii_unmasked":${text(e.piiUnmasked)},"query":${e.queryJson ?? canonicalJson(e.query)}` +
    `,"request_id":${text(e.requestId)},"role":${text(e.role)},"status":${text(e.status)}` +
    `,"trades":${e.tradesJson ?? stringListJson(e.trades)},"v":1}`
  );
}

/**
 * Appends entries in one transaction, in the given order. Concurrent appenders (any number of
 * API processes) must not fork the chain, so each transaction takes a transaction-scoped
 * advisory lock, reads the last hash and takes its ids while holding it, and commits: the lock is
 * held for two short statements (ids and last hash in one, then the INSERT) and the commit. The
 * lock is taken in its own statement because a READ COMMITTED statement sees only what was
 * committed before it started — reading the last hash in the same statement as the lock could
 * miss the previous holder's row.
 *
 * The caller batches (see Auditor): under load one lock acquisition carries many entries.
 */
export async function appendAuditEntries(
  db: Db,
  chainKey: Buffer,
  inputs: readonly AuditEntryInput[],
): Promise<{ id: bigint; hash: Buffer }[]> {
  if (inputs.length === 0) return [];
  const entries = inputs.map(sanitize);
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${AUDIT_APPEND_LOCK})`.execute(trx);
    // The ids and the last hash in one statement (one round trip less while the lock is held).
    // Raw SQL: kysely has no nextval over an identity column's sequence.
    const head = await sql<{ ids: bigint[]; last: Buffer | null }>`
      SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))
                   FROM generate_series(1, ${entries.length}::int)) AS ids,
             (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS last`.execute(trx);
    const sortedIds = head.rows[0]!.ids.map((id) => BigInt(id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let prev: Buffer = head.rows[0]!.last ?? GENESIS_HASH;
    const rows = entries.map((e, i) => {
      const id = sortedIds[i]!;
      const hash = auditEntryHash(chainKey, prev, { ...e, id });
      const row = { e, id, prevHash: prev, hash };
      prev = hash;
      return row;
    });
    // Raw SQL: the ids were taken above, and kysely cannot say OVERRIDING SYSTEM VALUE.
    await sql`
      INSERT INTO audit_log (id, at, actor, role, method, endpoint, path, query, status, parties, trades,
                             pii_unmasked, request_id, prev_hash, hash)
      OVERRIDING SYSTEM VALUE
      VALUES ${sql.join(
        rows.map(
          ({ e, id, prevHash, hash }) =>
            sql`(${id}, ${e.at}, ${e.actor}, ${e.role}, ${e.method}, ${e.endpoint}, ${e.path},
                 ${e.queryJson}::jsonb, ${e.status}, ${e.partiesJson}::jsonb,
                 ${e.tradesJson}::jsonb, ${e.piiUnmasked}, ${e.requestId}, ${prevHash}, ${hash})`,
        ),
      )}`.execute(trx);
    return rows.map((r) => ({ id: r.id, hash: r.hash }));
  });
}

type AuditRow = {
  id: bigint;
  at: Date;
  actor: string;
  role: string;
  method: string;
  endpoint: string;
  path: string;
  query: unknown;
  status: number;
  parties: unknown;
  trades: unknown;
  pii_unmasked: boolean;
  request_id: string | null;
  prev_hash: Buffer;
  hash: Buffer;
};

function toEntry(r: AuditRow): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    role: r.role,
    method: r.method,
    endpoint: r.endpoint,
    path: r.path,
    query: (r.query ?? {}) as AuditQuery,
    status: r.status,
    parties: (r.parties ?? []) as string[],
    trades: (r.trades ?? []) as string[],
    piiUnmasked: r.pii_unmasked,
    requestId: r.request_id,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface AuditListFilter {
  actor?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  /** Keyset cursor: only entries with a smaller id (the list is newest first). */
  beforeId?: bigint;
  limit: number;
}

/** Newest first. Returns up to `limit` entries and whether more follow. */
export async function listAuditEntries(
  db: Db,
  f: AuditListFilter,
): Promise<{ items: AuditEntry[]; more: boolean }> {
  let q = db.selectFrom('audit_log').selectAll();
  if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
  if (f.from !== undefined) q = q.where('at', '>=', f.from);
  if (f.to !== undefined) q = q.where('at', '<', f.to);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return { items: rows.slice(0, f.limit).map((r) => toEntry(r as AuditRow)), more: rows.length > f.limit };
}

export interface ChainVerification {
  ok: boolean;
  entries: number;
  /** The first entry whose prev_hash or hash does not check out (null when the chain holds). */
  firstBrokenId: bigint | null;
  reason: 'prev_hash' | 'hash' | null;
  /** The last entry: record it elsewhere (a ticket, WORM storage) to detect a cut-off tail later. */
  head: { id: bigint; hash: Buffer } | null;
}

/**
 * Walks the whole log in id order and recomputes the chain. An edited entry fails its own hash;
 * a deleted or inserted one breaks the next entry's prev_hash. A deletion of the newest entries
 * leaves a shorter valid chain: only a head recorded outside the database reveals that.
 */
export async function verifyAuditChain(
  db: Db,
  chainKey: Buffer,
  batchSize = 2_000,
): Promise<ChainVerification> {
  let prev: Buffer = GENESIS_HASH;
  let entries = 0;
  let firstBrokenId: bigint | null = null;
  let reason: ChainVerification['reason'] = null;
  let head: ChainVerification['head'] = null;
  let after: bigint | null = null;
  for (;;) {
    let q = db.selectFrom('audit_log').selectAll();
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(batchSize).execute();
    for (const raw of rows) {
      const r = toEntry(raw as AuditRow);
      entries += 1;
      head = { id: r.id, hash: r.hash };
      if (firstBrokenId === null) {
        if (!r.prevHash.equals(prev)) {
          firstBrokenId = r.id;
          reason = 'prev_hash';
        } else if (!auditEntryHash(chainKey, r.prevHash, r).equals(r.hash)) {
          firstBrokenId = r.id;
          reason = 'hash';
        }
      }
      prev = r.hash;
    }
    if (rows.length < batchSize) break;
    after = rows[rows.length - 1]!.id;
  }
  return { ok: firstBrokenId === null, entries, firstBrokenId, reason, head };
}
