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
  /** Person keys whose id number's division is outside the bureau's area (see placePersons). */
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

  get size(): number {
    return this.rows.size;
  }

  /** Whether a person key met in this batch has an id number from outside the bureau's area. */
  isFromElsewhere(key: string): boolean {
    return this.fromElsewhere.has(key);
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

/** A sale by a natural person whose id number is from outside the bureau's area. */
export interface PlacementCandidate {
  sellerKey: string;
  buyerKey: string;
  platform: string;
  tradeId: string;
  occurredAt: Date;
}

/**
 * Places persons whose id number is from outside the bureau's area (440700) in the division of
 * the buyer of their earliest sale — by (occurred_at, platform, trade_id) over every trade
 * version ever processed, so the result is a minimum: the same whatever the arrival order, and
 * several workers converge on it (each update only ever moves `placed_by` earlier, re-checked
 * under the row lock). Otherwise such a seller is in no officer's scope, not even the city's.
 * When a person moves, their trades' `seller_division` and their findings' `division` follow.
 */
export async function placePersons(db: Db, candidates: readonly PlacementCandidate[]): Promise<string[]> {
  if (candidates.length === 0) return [];
  const basis = (c: PlacementCandidate) =>
    `${c.occurredAt.toISOString()}\u001f${c.platform}\u001f${c.tradeId}`;
  const moved = await sql<{ party_key: string }>`
    WITH c AS (
      SELECT DISTINCT ON (k.seller_key) k.seller_key, b.division, k.basis
      FROM unnest(${candidates.map((c) => c.sellerKey)}::text[], ${candidates.map((c) => c.buyerKey)}::text[],
                  ${candidates.map(basis)}::text[]) AS k(seller_key, buyer_key, basis)
      JOIN parties b ON b.party_key = k.buyer_key
      ORDER BY k.seller_key, k.basis COLLATE "C"),
    locked AS (
      SELECT p.party_key FROM parties p JOIN c ON c.seller_key = p.party_key
      WHERE p.kind = 'natural_person' AND (p.placed_by IS NULL OR c.basis COLLATE "C" < p.placed_by)
      ORDER BY p.party_key
      FOR UPDATE OF p)
    UPDATE parties p SET division = c.division, placed_by = c.basis, updated_at = now()
    FROM c JOIN locked l ON l.party_key = c.seller_key
    WHERE p.party_key = c.seller_key AND (p.placed_by IS NULL OR c.basis COLLATE "C" < p.placed_by)
    RETURNING p.party_key`.execute(db);
  const keys = moved.rows.map((r) => r.party_key);
  await refreshPartyDivisions(db, keys);
  return keys;
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
