import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database';
import type { Party, PartyRegisteredData } from '../domain/events';
import { divisionCovers, residentIdDivision } from '../domain/ids';
import type { Keyring } from '../security/keys';
import { columnsOf, insertFromUnnest } from './bulk';

export interface PartyRow {
  key: string;
  kind: 'enterprise' | 'natural_person';
  name: string;
  division: string;
  /** Natural persons: the id number's division (digits 1–6). */
  idDivision: string | null;
  idEnc: Buffer | null;
  idBidx: Buffer | null;
}

/** The bureau's area: a person whose id number is from elsewhere is placed by their sales. */
const BUREAU_DIVISION = '440700';

/**
 * Party identities as they appear on records. Enterprises are keyed by USCC (their division, until
 * registered, is the one coded in positions 3–8); natural persons by an opaque person key, with
 * the id number kept only encrypted and found by its blind index; their division is the address
 * code of the id number (digits 1–6) — or, for an id number from outside the bureau's area, the
 * division where they sell (placePersons).
 */
export class PartyCollector {
  private readonly rows = new Map<string, PartyRow>();
  /** id number → person key: a person named on several records of a batch is hashed once. */
  private readonly personKeys = new Map<string, string>();
  /** Person keys met in this batch whose id number is from outside the bureau's area. */
  private readonly fromElsewhere = new Set<string>();

  constructor(private readonly keyring: Keyring) {}

  keyOf(party: Party): string {
    if (party.kind === 'enterprise') {
      if (!this.rows.has(party.uscc)) {
        this.rows.set(party.uscc, {
          key: party.uscc,
          kind: 'enterprise',
          name: party.name,
          division: party.uscc.slice(2, 8),
          idDivision: null,
          idEnc: null,
          idBidx: null,
        });
      }
      return party.uscc;
    }
    const known = this.personKeys.get(party.id_number);
    if (known !== undefined) return known;
    const key = this.keyring.personKey(party.id_number);
    this.personKeys.set(party.id_number, key);
    const idDivision = residentIdDivision(party.id_number);
    if (!divisionCovers(BUREAU_DIVISION, idDivision)) this.fromElsewhere.add(key);
    if (!this.rows.has(key)) {
      this.rows.set(key, {
        key,
        kind: 'natural_person',
        name: party.name,
        division: idDivision,
        idDivision,
        idEnc: this.keyring.encrypt('pii-encryption', party.id_number),
        idBidx: this.keyring.blindIndex(party.id_number),
      });
    }
    return key;
  }

  /** Whether a person key met in this batch has an id number from outside the bureau's area. */
  isFromElsewhere(key: string): boolean {
    return this.fromElsewhere.has(key);
  }

  get size(): number {
    return this.rows.size;
  }

  /**
   * First appearance names the party until master data arrives (a registered name always wins);
   * existing rows are not touched, so concurrent batches never fight over them. No conflict
   * target: a person has two unique keys (party key and the id number's blind index, both from
   * the id number), and a concurrent insert of the same person may meet either first — with
   * `ON CONFLICT (party_key)` a race on the blind index would be an error, not a no-op.
   */
  async flush(db: Db): Promise<void> {
    await this.insert()?.execute(db);
  }

  /** The insert `flush` runs, for a caller that runs it with others in one statement. */
  insert(): RawBuilder<unknown> | null {
    if (this.rows.size === 0) return null;
    const r = [...this.rows.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    return insertFromUnnest(
      'parties',
      columnsOf(
        r.map((x) => ({
          party_key: x.key,
          kind: x.kind,
          name: x.name,
          division: x.division,
          id_division: x.idDivision,
          id_number_enc: x.idEnc,
          id_bidx: x.idBidx,
        })),
        {
          party_key: 'text',
          kind: 'text',
          name: 'text',
          division: 'text',
          id_division: 'text',
          id_number_enc: 'bytea',
          id_bidx: 'bytea',
        },
      ),
      'ON CONFLICT DO NOTHING',
    );
  }
}

export interface Registration {
  data: PartyRegisteredData;
  eventTs: Date;
  platform: string;
  eventId: string;
}

/** Master data: the latest event by (timestamp, platform, event id) wins, whatever the arrival order. */
export async function applyRegistrations(db: Db, regs: readonly Registration[]): Promise<string[]> {
  if (regs.length === 0) return [];
  // Within one batch keep only the latest per USCC, so one statement never updates a row twice.
  const latest = new Map<string, Registration>();
  for (const r of regs) {
    const prior = latest.get(r.data.uscc);
    if (!prior || compareMaster(r, prior) > 0) latest.set(r.data.uscc, r);
  }
  const r = [...latest.values()].sort((a, b) => (a.data.uscc < b.data.uscc ? -1 : 1));
  await sql`
    INSERT INTO parties AS p (party_key, kind, name, division, registered, taxpayer_kind, established_on,
      recycling_filing_no, roles, registered_division, master_ts, master_platform, master_event_id)
    SELECT k, 'enterprise', n, d, true, tk, eo::date, f, string_to_array(ro, ','), d, ts, pl, ev
    FROM unnest(${r.map((x) => x.data.uscc)}::text[], ${r.map((x) => x.data.name)}::text[], ${r.map((x) => x.data.division)}::text[],
      ${r.map((x) => x.data.taxpayer_kind)}::text[], ${r.map((x) => x.data.established_on)}::text[],
      ${r.map((x) => x.data.recycling_filing_no ?? null)}::text[], ${r.map((x) => [...x.data.roles].sort().join(','))}::text[],
      ${r.map((x) => x.eventTs.toISOString())}::timestamptz[], ${r.map((x) => x.platform)}::text[], ${r.map((x) => x.eventId)}::text[])
      AS t(k, n, d, tk, eo, f, ro, ts, pl, ev)
    ON CONFLICT (party_key) DO UPDATE SET
      name = excluded.name, division = excluded.division, registered = true, taxpayer_kind = excluded.taxpayer_kind,
      established_on = excluded.established_on, recycling_filing_no = excluded.recycling_filing_no, roles = excluded.roles,
      registered_division = excluded.registered_division, master_ts = excluded.master_ts,
      master_platform = excluded.master_platform, master_event_id = excluded.master_event_id, updated_at = now()
    WHERE p.master_ts IS NULL
       OR (p.master_ts, p.master_platform COLLATE "C", p.master_event_id COLLATE "C")
        < (excluded.master_ts, excluded.master_platform COLLATE "C", excluded.master_event_id COLLATE "C")`.execute(
    db,
  );
  return r.map((x) => x.data.uscc);
}

function compareMaster(a: Registration, b: Registration): number {
  const t = a.eventTs.getTime() - b.eventTs.getTime();
  if (t !== 0) return t;
  if (a.platform !== b.platform) return a.platform < b.platform ? -1 : 1;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/**
 * Places persons whose id number is from outside the bureau's area (440700) in the division of
 * the buyer of their earliest sale: over the trades as they now stand (amendments and
 * cancellations included), an active sale before a cancelled one, then by (occurred_at, platform,
 * trade_id). Otherwise such a seller is in no officer's scope, not even the city's. A function of
 * the current data, so the same whatever the arrival order: a person placed by a sale that was
 * later amended to another buyer, or cancelled, moves. `persons` are the natural persons whose
 * sales (or whose buyers' divisions) changed; the others are left alone.
 *
 * Several workers: the persons' rows are locked first (in key order), in a statement of their own,
 * and their sales read after it — so a worker that waited for the lock sees the sales the one
 * before it committed, and the last to write has read everything.
 *
 * When a person moves, their trades' `seller_division` and their findings' `division` follow.
 */
export async function placePersons(db: Db, persons: readonly string[]): Promise<string[]> {
  if (persons.length === 0) return [];
  const locked = await sql<{ party_key: string }>`
    SELECT party_key FROM parties
    WHERE party_key = ANY(${[...new Set(persons)]}::text[]) AND kind = 'natural_person'
      AND id_division NOT LIKE ${`${BUREAU_DIVISION.slice(0, 4)}%`}
    ORDER BY party_key
    FOR UPDATE`.execute(db);
  if (locked.rows.length === 0) return [];
  const moved = await sql<{ party_key: string }>`
    WITH first AS (
      SELECT DISTINCT ON (t.seller_key) t.seller_key, t.buyer_division AS division,
             to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || chr(31) || t.platform || chr(31) || t.trade_id AS basis
      FROM trades t
      WHERE t.seller_key = ANY(${locked.rows.map((r) => r.party_key)}::text[])
      ORDER BY t.seller_key, t.status <> 'active', t.occurred_at, t.platform COLLATE "C", t.trade_id COLLATE "C")
    UPDATE parties p SET division = f.division, placed_by = f.basis, updated_at = now()
    FROM first f
    WHERE p.party_key = f.seller_key
      AND (p.division IS DISTINCT FROM f.division OR p.placed_by IS DISTINCT FROM f.basis)
    RETURNING p.party_key`.execute(db);
  const keys = moved.rows.map((r) => r.party_key);
  await refreshPartyDivisions(db, keys);
  return keys;
}

/** The persons from outside the bureau's area who sold to any of `buyers` (whose division changed). */
export async function personsSellingTo(db: Db, buyers: readonly string[]): Promise<string[]> {
  if (buyers.length === 0) return [];
  const r = await sql<{ seller_key: string }>`
    SELECT DISTINCT t.seller_key FROM trades t JOIN parties p ON p.party_key = t.seller_key
    WHERE t.buyer_key = ANY(${[...new Set(buyers)]}::text[]) AND t.seller_kind = 'natural_person'
      AND p.id_division NOT LIKE ${`${BUREAU_DIVISION.slice(0, 4)}%`}`.execute(db);
  return r.rows.map((x) => x.seller_key);
}

/**
 * After parties moved to another division (a registration, a person placed by an earlier sale):
 * their trades' seller and buyer divisions (trade scoping) and their findings' division follow.
 */
export async function refreshPartyDivisions(db: Db, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  await sql`UPDATE trades t SET seller_division = p.division FROM parties p
            WHERE p.party_key = t.seller_key AND t.seller_key = ANY(${keys}::text[]) AND t.seller_division <> p.division`.execute(
    db,
  );
  await sql`UPDATE trades t SET buyer_division = p.division FROM parties p
            WHERE p.party_key = t.buyer_key AND t.buyer_key = ANY(${keys}::text[]) AND t.buyer_division <> p.division`.execute(
    db,
  );
  await sql`UPDATE anomalies a SET division = p.division FROM parties p
            WHERE p.party_key = a.party_key AND a.party_key = ANY(${keys}::text[]) AND a.division <> p.division`.execute(
    db,
  );
}
