import { sql } from 'kysely';
import { compiledQuery } from '../db/compiled';
import type { Db } from '../db/database';
import type { TradeKey } from './chains.repository';
import { type DivisionFilter, inDivisions } from './officers.repository';

/**
 * Read side of trades for the officers' query API (GET /v1/trades…). Every function takes the
 * connection first; scoping is applied in SQL with `inDivisions` so that nothing out of scope is
 * ever read into the process for a list.
 */

/** `status` filter of the list: a trade status, or a flow overall status (which implies active). */
export const TRADE_LIST_STATUSES = ['active', 'cancelled', 'reconciled', 'pending', 'discrepant'] as const;
export type TradeListStatus = (typeof TRADE_LIST_STATUSES)[number];

export interface TradeListFilter {
  /** The officer's scope: a trade is listed when its seller or its buyer is in it. */
  scope: DivisionFilter;
  /** `division=`, already intersected with the scope: seller or buyer in it. */
  division?: DivisionFilter;
  /** Seller or buyer. */
  party?: string;
  seller?: string;
  buyer?: string;
  material?: string;
  /** occurred_at ≥ from. */
  from?: Date;
  /** occurred_at < to. */
  to?: Date;
  status?: TradeListStatus;
  /** Keyset position: only trades strictly after it in (occurred_at desc, platform desc, trade_id desc). */
  after?: TradeCursor;
  limit: number;
}

/**
 * A position in the list order: occurred_at in microseconds since the epoch (PostgreSQL's
 * precision), then the trade's natural key — never the internal id, which reflects arrival.
 */
export interface TradeCursor {
  atMicros: bigint;
  platform: string;
  tradeId: string;
}

export interface TradeRow {
  id: bigint;
  platform: string;
  trade_id: string;
  version: number;
  status: string;
  occurred_at: Date;
  at_micros: bigint;
  seller_key: string;
  seller_kind: string;
  seller_name: string | null;
  seller_division: string;
  buyer_key: string;
  buyer_kind: string | null;
  buyer_name: string | null;
  buyer_division: string;
  site_code: string;
  site_division: string;
  materials: string[];
  quantity_g: bigint;
  total_fen: bigint;
  tax_treatment: string;
  payment_status: string | null;
  weighing_status: string | null;
  invoice_status: string | null;
  overall: string | null;
}

/** Trades with their parties' names and their flow statuses (absent until computed). */
function selectTrades(db: Db) {
  return db
    .selectFrom('trades as t')
    .leftJoin('trade_flows as f', (j) =>
      j.onRef('f.platform', '=', 't.platform').onRef('f.trade_id', '=', 't.trade_id'),
    )
    .leftJoin('parties as s', 's.party_key', 't.seller_key')
    .leftJoin('parties as b', 'b.party_key', 't.buyer_key')
    .select([
      't.id',
      't.platform',
      't.trade_id',
      't.version',
      't.status',
      't.occurred_at',
      // Raw SQL: the builder has no EXTRACT. The cursor needs PostgreSQL's full microsecond
      // precision (a JS Date keeps milliseconds), and EXTRACT returns an exact numeric since PG 14.
      sql<bigint>`(extract(epoch from t.occurred_at) * 1000000)::bigint`.as('at_micros'),
      't.seller_key',
      't.seller_kind',
      's.name as seller_name',
      't.seller_division',
      't.buyer_key',
      'b.kind as buyer_kind',
      'b.name as buyer_name',
      't.buyer_division',
      't.site_code',
      't.site_division',
      't.materials',
      't.quantity_g',
      't.total_fen',
      't.tax_treatment',
      'f.payment_status',
      'f.weighing_status',
      'f.invoice_status',
      'f.overall',
    ]);
}

/** Microseconds since the epoch as an exact RFC 3339 UTC timestamp for PostgreSQL. */
export function microsToIso(micros: bigint): string {
  let ms = micros / 1000n;
  let rest = micros % 1000n;
  if (rest < 0n) {
    rest += 1000n;
    ms -= 1n;
  }
  const iso = new Date(Number(ms)).toISOString(); // …sss Z
  return `${iso.slice(0, -1)}${rest.toString().padStart(3, '0')}Z`;
}

/**
 * One page of trades, newest first (occurred_at desc, then platform and trade id desc: the same
 * order whatever the order the trades arrived in), in the officer's scope.
 * Returns `limit` rows and whether more follow.
 */
export async function listTrades(db: Db, f: TradeListFilter): Promise<{ items: TradeRow[]; more: boolean }> {
  let q = selectTrades(db).where((eb) =>
    eb.or([inDivisions('t.seller_division', f.scope), inDivisions('t.buyer_division', f.scope)]),
  );
  if (f.division) {
    const d = f.division;
    q = q.where((eb) => eb.or([inDivisions('t.seller_division', d), inDivisions('t.buyer_division', d)]));
  }
  if (f.party !== undefined) {
    const k = f.party;
    q = q.where((eb) => eb.or([eb('t.seller_key', '=', k), eb('t.buyer_key', '=', k)]));
  }
  if (f.seller !== undefined) q = q.where('t.seller_key', '=', f.seller);
  if (f.buyer !== undefined) q = q.where('t.buyer_key', '=', f.buyer);
  if (f.material !== undefined) {
    const m = f.material;
    q = q.where((eb) => eb(eb.val(m), '=', eb.fn.any('t.materials')));
  }
  if (f.from) q = q.where('t.occurred_at', '>=', f.from);
  if (f.to) q = q.where('t.occurred_at', '<', f.to);
  switch (f.status) {
    case undefined:
      break;
    case 'active':
    case 'cancelled':
      q = q.where('t.status', '=', f.status);
      break;
    default: {
      // Flow statuses only make sense for live trades; a trade whose flows are not computed yet
      // is pending.
      const s = f.status;
      q = q
        .where('t.status', '=', 'active')
        .where((eb) => eb(eb.fn.coalesce('f.overall', eb.val('pending')), '=', s));
    }
  }
  if (f.after) {
    const at = sql<Date>`${microsToIso(f.after.atMicros)}::timestamptz`;
    const { platform, tradeId } = f.after;
    // The plain bound lets an index on (…, occurred_at) serve the row comparison's range.
    q = q
      .where('t.occurred_at', '<=', at)
      .where((eb) =>
        eb(eb.refTuple('t.occurred_at', 't.platform', 't.trade_id'), '<', eb.tuple(at, platform, tradeId)),
      );
  }
  const rows = await q
    .orderBy('t.occurred_at', 'desc')
    .orderBy('t.platform', 'desc')
    .orderBy('t.trade_id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return { items: rows.slice(0, f.limit) as TradeRow[], more: rows.length > f.limit };
}

// ---------------------------------------------------------------------------------------------
// One trade
// ---------------------------------------------------------------------------------------------

export interface TradeDetailRow extends TradeRow {
  site_lat: string | null;
  site_lon: string | null;
  lines: unknown;
  upstream: unknown;
  updated_at: Date;
  paid_fen: bigint | null;
  weighed_g: bigint | null;
  invoiced_fen: bigint | null;
  differences: unknown;
  flows_updated_at: Date | null;
}

const selectTradeDetail = (db: Db) =>
  selectTrades(db).select([
    't.site_lat',
    't.site_lon',
    't.lines',
    't.upstream',
    't.updated_at',
    'f.paid_fen',
    'f.weighed_g',
    'f.invoiced_fen',
    'f.differences',
    'f.updated_at as flows_updated_at',
  ]);
const tradeDetailById = compiledQuery((db, id: bigint) => selectTradeDetail(db).where('t.id', '=', id));
const tradeDetailByRef = compiledQuery((db, platform: string, tradeId: string) =>
  selectTradeDetail(db).where('t.platform', '=', platform).where('t.trade_id', '=', tradeId),
);

/**
 * The current state of a trade, its parties' names and its flows row; null when unknown. Found by
 * either form of `{id}` (parseTradeKey), so the route needs no lookup of the trade's reference first.
 */
export async function findTradeDetail(db: Db, key: TradeKey): Promise<TradeDetailRow | null> {
  const rows =
    'id' in key ? await tradeDetailById(db, key.id) : await tradeDetailByRef(db, key.platform, key.trade_id);
  return (rows[0] as TradeDetailRow | undefined) ?? null;
}

const selectTradeDivisions = (db: Db) =>
  db.selectFrom('trades').select(['id', 'platform', 'trade_id', 'seller_division', 'buyer_division']);
const tradeDivisionsById = compiledQuery((db, id: bigint) => selectTradeDivisions(db).where('id', '=', id));
const tradeDivisionsByRef = compiledQuery((db, platform: string, tradeId: string) =>
  selectTradeDivisions(db).where('platform', '=', platform).where('trade_id', '=', tradeId),
);

/** Where a trade sits: its reference and divisions, for the scope check before anything else is read. */
export async function findTradeDivisions(
  db: Db,
  key: TradeKey,
): Promise<{
  id: bigint;
  platform: string;
  trade_id: string;
  seller_division: string;
  buyer_division: string;
} | null> {
  const rows =
    'id' in key
      ? await tradeDivisionsById(db, key.id)
      : await tradeDivisionsByRef(db, key.platform, key.trade_id);
  return rows[0] ?? null;
}

const tradeVersions = compiledQuery((db, platform: string, tradeId: string) =>
  db
    .selectFrom('trade_versions')
    .select(['version', 'kind', 'event_id', 'event_ts', 'received_at', 'data'])
    .where('platform', '=', platform)
    .where('trade_id', '=', tradeId)
    .orderBy('version'),
);

export async function listTradeVersions(db: Db, ref: { platform: string; trade_id: string }) {
  return tradeVersions(db, ref.platform, ref.trade_id);
}

const tradePayments = compiledQuery((db, platform: string, tradeId: string) =>
  db
    .selectFrom('payment_links as l')
    .innerJoin('payments as p', (j) =>
      j.onRef('p.platform', '=', 'l.platform').onRef('p.payment_id', '=', 'l.payment_id'),
    )
    .leftJoin('payment_reversals as r', (j) =>
      j.onRef('r.platform', '=', 'p.platform').onRef('r.payment_id', '=', 'p.payment_id'),
    )
    .select([
      'p.payment_id',
      'l.basis',
      'p.paid_at',
      'p.amount_fen',
      'p.channel',
      'p.serial_no',
      'p.payer_name',
      'p.payer_account_enc',
      'p.payer_key',
      'p.payee_name',
      'p.payee_account_enc',
      'p.payee_key',
      'p.declared_trade_ids',
      'r.reversed_at',
      'r.reason as reversal_reason',
    ])
    .where('l.platform', '=', platform)
    .where('l.trade_id', '=', tradeId)
    .orderBy('p.paid_at')
    .orderBy('p.payment_id'),
);

/** Payments linked to the trade (declared or matched), with their reversal if any. */
export async function listTradePayments(db: Db, ref: { platform: string; trade_id: string }) {
  return tradePayments(db, ref.platform, ref.trade_id);
}

const tradeWeighings = compiledQuery((db, platform: string, tradeId: string) =>
  db
    .selectFrom('weighings')
    .select([
      'weighing_id',
      'ticket_no',
      'site_code',
      'site_division',
      'vehicle_plate',
      'gross_g',
      'tare_g',
      'net_g',
      'weighed_at',
    ])
    .where('platform', '=', platform)
    .where('trade_id', '=', tradeId)
    .orderBy('weighed_at')
    .orderBy('weighing_id'),
);

export async function listTradeWeighings(db: Db, ref: { platform: string; trade_id: string }) {
  return tradeWeighings(db, ref.platform, ref.trade_id);
}

export interface InvoiceRow {
  invoice_no: string;
  kind: string;
  issued_at: Date;
  seller_key: string | null;
  buyer_key: string | null;
  original_invoice_no: string | null;
  total_ex_tax_fen: bigint;
  total_tax_fen: bigint;
  total_fen: bigint;
  lines: unknown;
}

const tradeBlueInvoices = compiledQuery((db, platform: string, tradeId: string) =>
  db
    .selectFrom('invoice_links as l')
    .innerJoin('invoices as i', (j) =>
      j.onRef('i.platform', '=', 'l.platform').onRef('i.invoice_no', '=', 'l.invoice_no'),
    )
    .select([
      'i.invoice_no',
      'l.basis',
      'i.kind',
      'i.issued_at',
      'i.seller_key',
      'i.buyer_key',
      'i.original_invoice_no',
      'i.total_ex_tax_fen',
      'i.total_tax_fen',
      'i.total_fen',
      'i.lines',
    ])
    .where('l.platform', '=', platform)
    .where('l.trade_id', '=', tradeId)
    .orderBy('i.issued_at')
    .orderBy('i.invoice_no'),
);

/** Invoices linked to the trade, and the red-letter invoices that reverse them. */
export async function listTradeInvoices(
  db: Db,
  ref: { platform: string; trade_id: string },
): Promise<{ blue: (InvoiceRow & { basis: string })[]; red: InvoiceRow[] }> {
  const blue = await tradeBlueInvoices(db, ref.platform, ref.trade_id);
  if (blue.length === 0) return { blue, red: [] };
  const red = await db
    .selectFrom('invoices')
    .select([
      'invoice_no',
      'kind',
      'issued_at',
      'seller_key',
      'buyer_key',
      'original_invoice_no',
      'total_ex_tax_fen',
      'total_tax_fen',
      'total_fen',
      'lines',
    ])
    .where('platform', '=', ref.platform)
    .where('kind', '=', 'red')
    .where(
      'original_invoice_no',
      'in',
      blue.map((b) => b.invoice_no),
    )
    .orderBy('issued_at')
    .orderBy('invoice_no')
    .execute();
  return { blue, red };
}

const anomaliesCiting = compiledQuery((db, probe: string) =>
  db
    .selectFrom('anomalies')
    .select([
      'id',
      'rule',
      'severity',
      'status',
      'period',
      'party_key',
      'division',
      'summary_zh',
      'summary_en',
      'first_detected_at',
      'last_detected_at',
    ])
    .where('trades', '@>', sql<string>`${probe}::jsonb`)
    // A closed finding is one the facts no longer support: not the trade's anomaly any more.
    .where('status', '<>', 'closed')
    .orderBy('id'),
);

/** Findings that name the trade among their supporting trades (GIN index anomalies_trades). */
export async function listTradeAnomalies(db: Db, ref: { platform: string; trade_id: string }) {
  return anomaliesCiting(db, JSON.stringify([{ platform: ref.platform, trade_id: ref.trade_id }]));
}

/** The allocation's result for a sale, per material stream of its seller (sale_results). */
export async function listTradeSaleResults(db: Db, ref: { platform: string; trade_id: string }) {
  const r = await sql<{
    material: string;
    quantity_g: bigint;
    unsourced_g: bigint;
    discrepancies: {
      upstream: { platform: string; tradeId: string };
      claimed_g: string;
      granted_g: string;
      reason: string;
    }[];
    declared: string[];
  }>`
    SELECT s.material, s.quantity_g, s.unsourced_g, s.discrepancies,
           COALESCE((SELECT array_agg(DISTINCT a.purchase_platform || ':' || a.purchase_trade_id)
                     FROM allocations a
                     WHERE a.sale_platform = s.platform AND a.sale_trade_id = s.trade_id AND a.basis = 'declared'), '{}') AS declared
    FROM sale_results s
    WHERE s.platform = ${ref.platform} AND s.trade_id = ${ref.trade_id}
    ORDER BY s.material`.execute(db);
  return r.rows;
}

/** Undeclared documents whose tolerant matching found this trade among equally good candidates. */
export async function listTradeAmbiguities(db: Db, ref: { platform: string; trade_id: string }) {
  const r = await sql<{ document_kind: string; document_no: string; candidate_trade_ids: string[] }>`
    SELECT document_kind, document_no, candidate_trade_ids FROM ambiguous_matches
    WHERE platform = ${ref.platform} AND candidate_trade_ids @> ARRAY[${ref.trade_id}]::text[]
    ORDER BY document_kind, document_no`.execute(db);
  return r.rows;
}
