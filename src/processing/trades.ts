import { type RawBuilder, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';
import type { Party, TradeData } from '../domain/events';
import { parseMoney, parseQuantity } from '../domain/money';
import { currentTradeState } from '../domain/trade-state';
import { columnsOf, insertFromUnnest } from './bulk';
import { type StreamKey, streamKeyString, type TradeKey, tradeKeyString } from './context';
import { lockKeys } from './locks';
import type { PartyCollector } from './parties';

/** A trade version as stored: wire data with the parties replaced by their keys (no id numbers). */
export interface StoredTradeData {
  trade_id: string;
  version: number;
  occurred_at: string;
  seller: { kind: Party['kind']; key: string; name: string };
  buyer: { kind: Party['kind']; key: string; name: string };
  site: TradeData['site'];
  lines: TradeData['lines'];
  total_amount: string;
  tax_treatment: string;
  upstream?: TradeData['upstream'];
}

export interface TradeVersionInput {
  platform: string;
  tradeId: string;
  version: number;
  kind: 'created' | 'amended' | 'cancelled';
  eventId: string;
  eventTs: Date;
  receivedAt: Date;
  data: StoredTradeData | { trade_id: string; version: number; reason: string };
}

/** Every column but the key takes the new row's value. */
const TRADE_UPDATE = [
  'version',
  'status',
  'occurred_at',
  'seller_key',
  'buyer_key',
  'seller_kind',
  'seller_division',
  'buyer_division',
  'site_code',
  'site_division',
  'site_lat',
  'site_lon',
  'total_fen',
  'quantity_g',
  'materials',
  'tax_treatment',
  'lines',
  'upstream',
  'updated_at',
]
  .map((c) => `${c} = excluded.${c}`)
  .join(', ');

export interface DirtyStream extends StreamKey {
  from: Date;
}

export function storedTradeData(d: TradeData, parties: PartyCollector): StoredTradeData {
  const ref = (p: Party) => ({ kind: p.kind, key: parties.keyOf(p), name: p.name });
  return {
    trade_id: d.trade_id,
    version: d.version,
    occurred_at: d.occurred_at,
    seller: ref(d.seller),
    buyer: ref(d.buyer),
    site: d.site,
    lines: d.lines,
    total_amount: d.total_amount,
    tax_treatment: d.tax_treatment,
    ...(d.upstream ? { upstream: d.upstream } : {}),
  };
}

interface EntryRow {
  party_key: string;
  material: string;
  role: 'purchase' | 'sale';
  platform: string;
  trade_id: string;
  occurred_at: Date;
  quantity_g: bigint;
  amount_fen: bigint;
  claims: { platform: string; trade_id: string; quantity_g: string }[];
}

const entryKey = (e: Pick<EntryRow, 'party_key' | 'material' | 'role' | 'platform' | 'trade_id'>) =>
  `${e.party_key}\u001f${e.material}\u001f${e.role}\u001f${e.platform}\u001f${e.trade_id}`;

const sameEntry = (a: EntryRow, b: EntryRow) =>
  a.occurred_at.getTime() === b.occurred_at.getTime() &&
  a.quantity_g === b.quantity_g &&
  a.amount_fen === b.amount_fen &&
  JSON.stringify(a.claims) === JSON.stringify(b.claims);

/**
 * Stores trade versions and brings each touched trade's current state, and its entries in the
 * parties' material streams, up to date. Returns the trades whose flows need recomputing and the
 * streams that need re-allocation (from the earliest time that changed).
 */
export async function applyTradeVersions(
  db: Db,
  inputs: readonly TradeVersionInput[],
): Promise<{ trades: TradeKey[]; dirty: DirtyStream[]; personSellers: string[] }> {
  if (inputs.length === 0) return { trades: [], dirty: [], personSellers: [] };
  const keys = uniqueTrades(inputs.map((v) => ({ platform: v.platform, tradeId: v.tradeId })));
  // The versions are stored and the trades locked in one statement (the insert first).
  await lockKeys(db, 'trade', keys.map(tradeKeyString), {
    after: insertFromUnnest(
      'trade_versions',
      [
        { name: 'platform', type: 'text', values: inputs.map((v) => v.platform) },
        { name: 'trade_id', type: 'text', values: inputs.map((v) => v.tradeId) },
        { name: 'version', type: 'int', values: inputs.map((v) => v.version) },
        { name: 'kind', type: 'text', values: inputs.map((v) => v.kind) },
        { name: 'event_id', type: 'text', values: inputs.map((v) => v.eventId) },
        { name: 'event_ts', type: 'timestamptz', values: inputs.map((v) => v.eventTs) },
        { name: 'data', type: 'jsonb', values: inputs.map((v) => JSON.stringify(v.data)) },
        { name: 'received_at', type: 'timestamptz', values: inputs.map((v) => v.receivedAt) },
      ],
      'ON CONFLICT (platform, trade_id, version) DO NOTHING RETURNING 1',
    ),
  });

  const platforms = keys.map((k) => k.platform);
  const ids = keys.map((k) => k.tradeId);
  // Every stored version of the touched trades, with their parties' divisions. The data of this
  // batch's own version of a trade (when it has just one) is not sent back: a stored record
  // version always has the same content (ingestion answers 409 to any other), already in memory.
  const own = new Map<string, TradeVersionInput | null>();
  for (const v of inputs) {
    const k = tradeKeyString(v);
    own.set(k, own.has(k) ? null : v);
  }
  const versions = await sql<{
    platform: string;
    trade_id: string;
    version: number;
    kind: string;
    data: StoredTradeData | null;
    seller_division: string | null;
    buyer_division: string | null;
  }>`
    SELECT v.platform, v.trade_id, v.version, v.kind, CASE WHEN v.version = k.own THEN NULL ELSE v.data END AS data,
           sd.division AS seller_division, bd.division AS buyer_division
    FROM unnest(${arrayLiteral(platforms)}::text[], ${arrayLiteral(ids)}::text[],
                ${arrayLiteral(keys.map((k) => own.get(tradeKeyString(k))?.version ?? null))}::int[]) AS k(platform, trade_id, own)
    JOIN trade_versions v ON v.platform = k.platform AND v.trade_id = k.trade_id
    LEFT JOIN parties sd ON sd.party_key = v.data #>> '{seller,key}'
    LEFT JOIN parties bd ON bd.party_key = v.data #>> '{buyer,key}'`.execute(db);
  const oldEntries = await sql<EntryRow>`
    SELECT e.* FROM stream_entries e JOIN unnest(${arrayLiteral(platforms)}::text[], ${arrayLiteral(ids)}::text[]) AS k(platform, trade_id)
      ON e.platform = k.platform AND e.trade_id = k.trade_id`.execute(db);

  const byTrade = new Map<
    string,
    { version: number; kind: 'created' | 'amended' | 'cancelled'; data: StoredTradeData }[]
  >();
  const divisions = new Map<string, string>();
  // Natural persons who sell in any version of the touched trades: where such a person is placed
  // may change (placePersons in ./parties.ts), even when an amendment named another seller.
  const personSellers = new Set<string>();
  for (const v of versions.rows) {
    const k = tradeKeyString({ platform: v.platform, tradeId: v.trade_id });
    const data = v.data ?? (own.get(k)!.data as StoredTradeData);
    const list = byTrade.get(k) ?? [];
    if (list.length === 0) byTrade.set(k, list);
    list.push({ version: v.version, kind: v.kind as 'created', data });
    if (v.kind !== 'cancelled' && data.seller.kind === 'natural_person') personSellers.add(data.seller.key);
    if (v.kind !== 'cancelled') {
      if (v.seller_division !== null) divisions.set(data.seller.key, v.seller_division);
      if (v.buyer_division !== null) divisions.set(data.buyer.key, v.buyer_division);
    }
  }

  const tradeRows = [];
  const newEntries: EntryRow[] = [];
  for (const key of keys) {
    const state = currentTradeState(byTrade.get(tradeKeyString(key)) ?? []);
    if (!state) continue; // only a cancellation so far: nothing to show until the trade itself arrives
    const d = state.dataVersion.data;
    const occurred = new Date(d.occurred_at);
    const perMaterial = new Map<string, { g: bigint; fen: bigint }>();
    const lines = d.lines.map((l) => {
      const g = parseQuantity(l.quantity, l.unit)!;
      const amountFen = fen(l.amount);
      const m = perMaterial.get(l.material) ?? { g: 0n, fen: 0n };
      perMaterial.set(l.material, { g: m.g + g, fen: m.fen + amountFen });
      return {
        material: l.material,
        quantity_g: g.toString(),
        unit: l.unit,
        unit_price: l.unit_price,
        amount_fen: amountFen.toString(),
      };
    });
    const claims = (d.upstream ?? []).map((u) => ({
      platform: key.platform,
      trade_id: u.trade_id,
      quantity_g: parseQuantity(u.quantity, u.unit)!.toString(),
    }));
    tradeRows.push({
      platform: key.platform,
      trade_id: key.tradeId,
      version: state.version,
      status: state.status,
      occurred_at: occurred,
      seller_key: d.seller.key,
      buyer_key: d.buyer.key,
      seller_kind: d.seller.kind,
      seller_division: divisions.get(d.seller.key) ?? '000000',
      buyer_division: divisions.get(d.buyer.key) ?? '000000',
      site_code: d.site.code,
      site_division: d.site.division,
      site_lat: d.site.location ? String(d.site.location.lat) : null,
      site_lon: d.site.location ? String(d.site.location.lon) : null,
      total_fen: fen(d.total_amount),
      quantity_g: [...perMaterial.values()].reduce((s, m) => s + m.g, 0n),
      materials: [...perMaterial.keys()].sort(),
      tax_treatment: d.tax_treatment,
      lines: JSON.stringify(lines),
      upstream: JSON.stringify(claims),
      updated_at: new Date(),
    });
    if (state.status === 'active') {
      for (const [material, m] of perMaterial) {
        const base = {
          material,
          platform: key.platform,
          trade_id: key.tradeId,
          occurred_at: occurred,
          quantity_g: m.g,
          amount_fen: m.fen,
        };
        newEntries.push({ ...base, party_key: d.buyer.key, role: 'purchase', claims: [] });
        // A multi-material sale's claims cannot be split by material here: each stream keeps the
        // claims and ignores the ones on trades that are not its purchases (see allocate.ts).
        newEntries.push({ ...base, party_key: d.seller.key, role: 'sale', claims });
      }
    }
  }

  const tradesInsert =
    tradeRows.length === 0
      ? null
      : insertFromUnnest(
          'trades',
          columnsOf(tradeRows, {
            platform: 'text',
            trade_id: 'text',
            version: 'int',
            status: 'text',
            occurred_at: 'timestamptz',
            seller_key: 'text',
            buyer_key: 'text',
            seller_kind: 'text',
            seller_division: 'text',
            buyer_division: 'text',
            site_code: 'text',
            site_division: 'text',
            site_lat: 'numeric',
            site_lon: 'numeric',
            total_fen: 'bigint',
            quantity_g: 'bigint',
            materials: 'text[]',
            tax_treatment: 'text',
            lines: 'jsonb',
            upstream: 'jsonb',
            updated_at: 'timestamptz',
          }),
          `ON CONFLICT (platform, trade_id) DO UPDATE SET ${TRADE_UPDATE}`,
        );

  // Stream entries: only what changed marks a stream dirty, from the earliest time involved.
  const oldByKey = new Map(oldEntries.rows.map((e) => [entryKey(e), e]));
  const newByKey = new Map(newEntries.map((e) => [entryKey(e), e]));
  const dirty = new Map<string, DirtyStream>();
  const mark = (e: Pick<EntryRow, 'party_key' | 'material' | 'occurred_at'>) => {
    const k = streamKeyString({ partyKey: e.party_key, material: e.material });
    const prior = dirty.get(k);
    if (!prior || e.occurred_at < prior.from)
      dirty.set(k, { partyKey: e.party_key, material: e.material, from: e.occurred_at });
  };
  const toDelete: EntryRow[] = [];
  const toInsert: EntryRow[] = [];
  for (const [k, e] of oldByKey) {
    const n = newByKey.get(k);
    if (!n || !sameEntry(e, n)) {
      toDelete.push(e);
      mark(e);
    }
  }
  for (const [k, e] of newByKey) {
    const o = oldByKey.get(k);
    if (!o || !sameEntry(o, e)) {
      toInsert.push(e);
      mark(e);
    }
  }
  const entriesDelete =
    toDelete.length === 0
      ? null
      : sql`DELETE FROM stream_entries e USING unnest(${arrayLiteral(toDelete.map((e) => e.party_key))}::text[], ${arrayLiteral(toDelete.map((e) => e.material))}::text[],
        ${arrayLiteral(toDelete.map((e) => e.role))}::text[], ${arrayLiteral(toDelete.map((e) => e.platform))}::text[], ${arrayLiteral(toDelete.map((e) => e.trade_id))}::text[])
        AS d(party_key, material, role, platform, trade_id)
      WHERE e.party_key = d.party_key AND e.material = d.material AND e.role = d.role AND e.platform = d.platform AND e.trade_id = d.trade_id`;
  const entriesInsert =
    toInsert.length === 0
      ? null
      : insertFromUnnest(
          'stream_entries',
          columnsOf(
            toInsert.map((e) => ({ ...e, claims: JSON.stringify(e.claims) })),
            {
              party_key: 'text',
              material: 'text',
              role: 'text',
              platform: 'text',
              trade_id: 'text',
              occurred_at: 'timestamptz',
              quantity_g: 'bigint',
              amount_fen: 'bigint',
              claims: 'jsonb',
            },
          ),
          '',
        );

  // A sale's claim on a purchase is judged against that purchase (is it earlier? how much is
  // left?), so a changed purchase also dirties the stream from the earliest sale claiming it,
  // which may be earlier than the purchase itself. Read in the statement that writes the trades
  // (and deletes the changed entries), so from the entries as they were before this batch. The
  // new entries go in the same statement unless some must be deleted first (an entry replaced by
  // one with the same key): a statement's CTEs run in no set order.
  const changedPurchases = [...toDelete, ...toInsert].filter((e) => e.role === 'purchase');
  const writes = [tradesInsert, entriesDelete, entriesDelete ? null : entriesInsert].flatMap((w) =>
    w ? [w] : [],
  );
  const ctes =
    writes.length === 0
      ? sql``
      : sql`WITH ${sql.join(
          writes.map((w, i) => sql`${sql.raw(`w${i}`)} AS (${w})`),
          sql`, `,
        )} `;
  if (writes.length === 0 && changedPurchases.length === 0)
    return { trades: keys, dirty: [...dirty.values()], personSellers: [...personSellers] };
  const claiming = await sql<{ party_key: string; material: string; first: Date }>`
    ${ctes}SELECT s.party_key, s.material, min(s.occurred_at) AS first
    FROM unnest(${arrayLiteral(changedPurchases.map((e) => e.party_key))}::text[], ${arrayLiteral(changedPurchases.map((e) => e.material))}::text[],
                ${arrayLiteral(changedPurchases.map((e) => e.platform))}::text[], ${arrayLiteral(changedPurchases.map((e) => e.trade_id))}::text[])
      AS p(party_key, material, platform, trade_id)
    JOIN stream_entries s ON s.party_key = p.party_key AND s.material = p.material AND s.role = 'sale'
      AND s.claims @> jsonb_build_array(jsonb_build_object('platform', p.platform, 'trade_id', p.trade_id))
    GROUP BY s.party_key, s.material`.execute(db);
  for (const c of claiming.rows) {
    mark({ party_key: c.party_key, material: c.material, occurred_at: c.first });
  }
  if (entriesDelete && entriesInsert) await entriesInsert.execute(db);
  return { trades: keys, dirty: [...dirty.values()], personSellers: [...personSellers] };
}

/**
 * Marks streams for re-allocation; the earliest `from` and a new generation win. `after`, an
 * independent write (the flows' upsert), runs in the same statement.
 */
export async function markStreamsDirty(
  db: Db,
  dirty: readonly DirtyStream[],
  opts: { after?: RawBuilder<unknown> | null } = {},
): Promise<{ partyKey: string; material: string; generation: bigint }[]> {
  if (dirty.length === 0) {
    await opts.after?.execute(db);
    return [];
  }
  const merged = new Map<string, DirtyStream>();
  for (const d of dirty) {
    const k = streamKeyString(d);
    const prior = merged.get(k);
    if (!prior || d.from < prior.from) merged.set(k, d);
  }
  const rows = [...merged.values()].sort((a, b) => (streamKeyString(a) < streamKeyString(b) ? -1 : 1));
  const marked = await sql<{ party_key: string; material: string; generation: bigint }>`
    ${opts.after ? sql`WITH w AS (${opts.after}) ` : sql``}INSERT INTO stream_dirty AS s (party_key, material, dirty_from)
    SELECT * FROM unnest(${arrayLiteral(rows.map((r) => r.partyKey))}::text[], ${arrayLiteral(rows.map((r) => r.material))}::text[],
      ${arrayLiteral(rows.map((r) => r.from))}::timestamptz[])
    ON CONFLICT (party_key, material) DO UPDATE SET
      dirty_from = LEAST(s.dirty_from, excluded.dirty_from), generation = s.generation + 1, marked_at = now()
    RETURNING party_key, material, generation`.execute(db);
  return marked.rows.map((r) => ({ partyKey: r.party_key, material: r.material, generation: r.generation }));
}

export function uniqueTrades(keys: readonly TradeKey[]): TradeKey[] {
  const m = new Map<string, TradeKey>();
  for (const k of keys) m.set(tradeKeyString(k), k);
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
}

/** Stored data passed validation at ingestion, so the money strings are well-formed. */
function fen(s: string): bigint {
  return parseMoney(s, { allowNegative: true })!;
}
