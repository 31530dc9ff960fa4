import { sql } from 'kysely';
import { compiledQuery } from '../db/compiled';
import type { Db } from '../db/database';
import type { Sale, StreamEntry } from '../domain/allocation';
import { refKey } from '../domain/allocation';
import {
  type AnomalyCountRow,
  type SheetInvoice,
  type SheetTrade,
  type StockStreamInput,
  type StockSumsInput,
  stockFromSums,
  type TreatmentRow,
} from '../domain/reference-sheet';

/**
 * Read side of parties for the officers' query API (GET /v1/parties/…): the profile, and the
 * inputs of the monthly VAT reference sheet (computed by src/domain/reference-sheet.ts).
 */

const partyByKey = compiledQuery((db, key: string) =>
  db
    .selectFrom('parties')
    .select([
      'party_key',
      'kind',
      'name',
      'division',
      'id_number_enc',
      'registered',
      'taxpayer_kind',
      'established_on',
      'recycling_filing_no',
      'roles',
      'registered_division',
      'first_seen_at',
      'updated_at',
    ])
    .where('party_key', '=', key),
);

export async function findParty(db: Db, key: string) {
  return (await partyByKey(db, key))[0] ?? null;
}

export interface PartyTradeStats {
  as_seller: number;
  as_buyer: number;
  cancelled: number;
  first_trade_at: Date | null;
  last_trade_at: Date | null;
}

/**
 * Counts of the party's trades (active ones as seller / as buyer; cancelled ones apart) and the
 * first and last active trade times. Uses the trades_seller and trades_buyer indexes.
 */
export async function partyTradeStats(db: Db, key: string): Promise<PartyTradeStats> {
  const row = await db
    .selectFrom('trades')
    .select((eb) => [
      eb.fn
        .countAll<bigint>()
        .filterWhere((w) => w.and([w('seller_key', '=', key), w('status', '=', 'active')]))
        .as('as_seller'),
      eb.fn
        .countAll<bigint>()
        .filterWhere((w) => w.and([w('buyer_key', '=', key), w('status', '=', 'active')]))
        .as('as_buyer'),
      eb.fn.countAll<bigint>().filterWhere('status', '=', 'cancelled').as('cancelled'),
      eb.fn.min<Date | null>('occurred_at').filterWhere('status', '=', 'active').as('first_trade_at'),
      eb.fn.max<Date | null>('occurred_at').filterWhere('status', '=', 'active').as('last_trade_at'),
    ])
    .where((eb) => eb.or([eb('seller_key', '=', key), eb('buyer_key', '=', key)]))
    .executeTakeFirstOrThrow();
  return {
    as_seller: Number(row.as_seller),
    as_buyer: Number(row.as_buyer),
    cancelled: Number(row.cancelled),
    first_trade_at: row.first_trade_at,
    last_trade_at: row.last_trade_at,
  };
}

// ---------------------------------------------------------------------------------------------
// Reference sheet inputs
// ---------------------------------------------------------------------------------------------

export interface ReferenceSheetData {
  trades: SheetTrade[];
  treatments: TreatmentRow[];
  stock: (StockStreamInput | StockSumsInput)[];
  blueInvoicesReceived: SheetInvoice[];
  redInvoicesReceived: SheetInvoice[];
  anomalies: AnomalyCountRow[];
}

/**
 * Everything the reference sheet of `key` for the period [start, end) needs. Read in one
 * REPEATABLE READ transaction, so that the trades, the stream entries and the allocation results
 * are one consistent snapshot even while processing writes.
 */
export async function loadReferenceSheetData(
  db: Db,
  key: string,
  period: string,
  bounds: { start: Date; end: Date },
): Promise<ReferenceSheetData> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const trades = await trx
        .selectFrom('trades as t')
        .leftJoin('trade_flows as f', (j) =>
          j.onRef('f.platform', '=', 't.platform').onRef('f.trade_id', '=', 't.trade_id'),
        )
        .leftJoin('parties as s', 's.party_key', 't.seller_key')
        .select([
          't.platform',
          't.trade_id',
          't.occurred_at',
          't.seller_key',
          't.seller_kind',
          's.name as seller_name',
          't.buyer_key',
          't.total_fen',
          't.tax_treatment',
          't.lines',
          'f.payment_status',
          'f.weighing_status',
          'f.invoice_status',
        ])
        .where((eb) => eb.or([eb('t.seller_key', '=', key), eb('t.buyer_key', '=', key)]))
        .where('t.status', '=', 'active')
        .where('t.occurred_at', '>=', bounds.start)
        .where('t.occurred_at', '<', bounds.end)
        .orderBy('t.occurred_at')
        .orderBy('t.platform')
        .orderBy('t.trade_id')
        .execute();

      const treatments = await trx
        .selectFrom('tax_treatments')
        .select(['code', 'valid_from', 'valid_to', 'levy_rate', 'monthly_exemption_fen'])
        .execute();

      // Stock: per material, plain sums in SQL (what came before the period makes the opening);
      // only a stream that waits for re-allocation, or whose sums do not fit, is read whole.
      const dirty = new Set(
        (await trx.selectFrom('stream_dirty').select('material').where('party_key', '=', key).execute()).map(
          (d) => d.material,
        ),
      );
      const sums = await streamSums(trx, key, bounds);
      const whole = sums
        .filter((s) => dirty.has(s.material) || stockFromSums(s.sums) === null)
        .map((s) => s.material);
      const stock: (StockStreamInput | StockSumsInput)[] = sums.filter((s) => !whole.includes(s.material));
      if (whole.length > 0) stock.push(...(await loadWholeStreams(trx, key, bounds.end, whole, dirty)));

      const blue = await trx
        .selectFrom('invoices')
        .select(['platform', 'invoice_no', 'kind', 'total_ex_tax_fen', 'total_tax_fen', 'total_fen'])
        .where('buyer_key', '=', key)
        .where('kind', '<>', 'red')
        .where('issued_at', '>=', bounds.start)
        .where('issued_at', '<', bounds.end)
        .orderBy('issued_at')
        .orderBy('invoice_no')
        .execute();
      // Red invoices carry no parties: they are the party's when the blue one they reverse is.
      const red = await trx
        .selectFrom('invoices as r')
        .innerJoin('invoices as o', (j) =>
          j.onRef('o.platform', '=', 'r.platform').onRef('o.invoice_no', '=', 'r.original_invoice_no'),
        )
        .select([
          'r.platform',
          'r.invoice_no',
          'r.kind',
          'r.total_ex_tax_fen',
          'r.total_tax_fen',
          'r.total_fen',
        ])
        .where('r.kind', '=', 'red')
        .where('o.buyer_key', '=', key)
        .where('o.kind', '<>', 'red')
        .where('r.issued_at', '>=', bounds.start)
        .where('r.issued_at', '<', bounds.end)
        .orderBy('r.issued_at')
        .orderBy('r.invoice_no')
        .execute();

      const anomalies = await trx
        .selectFrom('anomalies')
        .select((eb) => ['rule', 'status', 'severity', eb.fn.countAll<bigint>().as('n')])
        .where('party_key', '=', key)
        .where('period', '=', period)
        .where('status', 'in', ['open', 'confirmed'])
        .groupBy(['rule', 'status', 'severity'])
        .execute();

      return {
        trades: trades.map((t) => ({
          platform: t.platform,
          tradeId: t.trade_id,
          atMs: t.occurred_at.getTime(),
          sellerKey: t.seller_key,
          sellerKind: t.seller_kind === 'natural_person' ? 'natural_person' : 'enterprise',
          sellerName: t.seller_name ?? '',
          buyerKey: t.buyer_key,
          totalFen: t.total_fen,
          taxTreatment: t.tax_treatment,
          lines: (t.lines as { material: string; quantity_g: string; amount_fen: string }[]).map((l) => ({
            material: l.material,
            quantityG: BigInt(l.quantity_g),
            amountFen: BigInt(l.amount_fen),
          })),
          flows:
            t.payment_status === null
              ? null
              : {
                  payment: t.payment_status,
                  weighing: t.weighing_status ?? 'missing',
                  invoice: t.invoice_status ?? 'missing',
                },
        })),
        treatments: treatments.map((r) => ({
          code: r.code,
          validFrom: r.valid_from,
          validTo: r.valid_to,
          levyRate: r.levy_rate,
          monthlyExemptionFen: r.monthly_exemption_fen,
        })),
        stock,
        blueInvoicesReceived: blue.map(toSheetInvoice),
        redInvoicesReceived: red.map(toSheetInvoice),
        anomalies: anomalies.map((a) => ({
          rule: a.rule,
          status: a.status,
          severity: a.severity,
          count: Number(a.n),
        })),
      };
    });
}

function toSheetInvoice(i: {
  platform: string;
  invoice_no: string;
  kind: string;
  total_ex_tax_fen: bigint;
  total_tax_fen: bigint;
  total_fen: bigint;
}): SheetInvoice {
  return {
    platform: i.platform,
    invoiceNo: i.invoice_no,
    kind: i.kind as SheetInvoice['kind'],
    totalExTaxFen: i.total_ex_tax_fen,
    totalTaxFen: i.total_tax_fen,
    totalFen: i.total_fen,
  };
}

function streams(
  entries: readonly {
    material: string;
    role: string;
    platform: string;
    trade_id: string;
    occurred_at: Date;
    quantity_g: bigint;
    claims: unknown;
  }[],
  results: readonly { material: string; platform: string; trade_id: string; unsourced_g: bigint }[],
  dirty: ReadonlySet<string>,
): StockStreamInput[] {
  const byMaterial = new Map<
    string,
    { purchases: StreamEntry[]; sales: Sale[]; unsourced: Map<string, bigint> }
  >();
  const streamOf = (material: string) => {
    let s = byMaterial.get(material);
    if (!s) {
      s = { purchases: [], sales: [], unsourced: new Map() };
      byMaterial.set(material, s);
    }
    return s;
  };
  for (const e of entries) {
    const s = streamOf(e.material);
    const ref = { platform: e.platform, tradeId: e.trade_id };
    const atMs = e.occurred_at.getTime();
    if (e.role === 'purchase') s.purchases.push({ ref, atMs, quantityG: e.quantity_g });
    else {
      const claims = (e.claims as { platform: string; trade_id: string; quantity_g: string }[]).map((c) => ({
        upstream: { platform: c.platform, tradeId: c.trade_id },
        quantityG: BigInt(c.quantity_g),
      }));
      s.sales.push({ ref, atMs, quantityG: e.quantity_g, claims });
    }
  }
  for (const r of results) {
    byMaterial
      .get(r.material)
      ?.unsourced.set(refKey({ platform: r.platform, tradeId: r.trade_id }), r.unsourced_g);
  }
  return [...byMaterial].map(([material, s]) => ({ material, ...s, dirty: dirty.has(material) }));
}

/**
 * Per material, the sums the sheet's stock row is made of (`StockSumsInput`), over the party's
 * stream entries before the end of the period, each sale with its allocation's unsourced part
 * (sale_results, as allocated before the end of the period — the same rows the whole-stream path
 * reads). Raw SQL: FILTERed aggregates and a FULL JOIN of the purchase and sale sides.
 */
async function streamSums(
  db: Db,
  key: string,
  bounds: { start: Date; end: Date },
): Promise<StockSumsInput[]> {
  const r = await sql<{
    material: string;
    purchases_before_g: bigint;
    sales_from_stock_before_g: bigint;
    in_g: bigint;
    out_g: bigint;
    unsourced_out_g: bigint;
    entries_valid: boolean;
  }>`
    WITH p AS (
      -- Purchases: an index-only scan of stream_entries_party_role_time.
      SELECT material,
        sum(quantity_g) FILTER (WHERE occurred_at < ${bounds.start}) AS before_g,
        sum(quantity_g) FILTER (WHERE occurred_at >= ${bounds.start}) AS in_g,
        bool_and(quantity_g >= 0) AS valid
      FROM stream_entries
      WHERE party_key = ${key} AND role = 'purchase' AND occurred_at < ${bounds.end}
      GROUP BY material
    ), s AS (
      SELECT e.material,
        sum(e.quantity_g - COALESCE(r.unsourced_g, 0)) FILTER (WHERE e.occurred_at < ${bounds.start}) AS before_g,
        sum(e.quantity_g) FILTER (WHERE e.occurred_at >= ${bounds.start}) AS out_g,
        sum(r.unsourced_g) FILTER (WHERE e.occurred_at >= ${bounds.start}) AS unsourced_out_g,
        bool_and(e.quantity_g >= 0 AND (r.unsourced_g IS NULL OR r.unsourced_g BETWEEN 0 AND e.quantity_g)) AS valid
      FROM stream_entries e
      LEFT JOIN sale_results r
        ON r.party_key = e.party_key AND r.material = e.material AND r.platform = e.platform
       AND r.trade_id = e.trade_id AND r.sale_at < ${bounds.end}
      WHERE e.party_key = ${key} AND e.role = 'sale' AND e.occurred_at < ${bounds.end}
      GROUP BY e.material
    )
    SELECT COALESCE(p.material, s.material) AS material,
      COALESCE(p.before_g, 0)::bigint AS purchases_before_g,
      COALESCE(s.before_g, 0)::bigint AS sales_from_stock_before_g,
      COALESCE(p.in_g, 0)::bigint AS in_g,
      COALESCE(s.out_g, 0)::bigint AS out_g,
      COALESCE(s.unsourced_out_g, 0)::bigint AS unsourced_out_g,
      COALESCE(p.valid, true) AND COALESCE(s.valid, true) AS entries_valid
    FROM p FULL JOIN s ON s.material = p.material`.execute(db);
  return r.rows.map((row) => ({
    material: row.material,
    sums: {
      purchasesBeforeG: BigInt(row.purchases_before_g),
      salesFromStockBeforeG: BigInt(row.sales_from_stock_before_g),
      inG: BigInt(row.in_g),
      outG: BigInt(row.out_g),
      unsourcedOutG: BigInt(row.unsourced_out_g),
      entriesValid: row.entries_valid === true,
    },
  }));
}

/**
 * The party's whole streams of `materials` up to `end` (every entry, and the allocation's unsourced
 * part of each sale), for `computeReferenceSheet` to allocate on the spot. Exported for the tests
 * that check the sums against it.
 */
export async function loadWholeStreams(
  db: Db,
  key: string,
  end: Date,
  materials: readonly string[],
  dirty: ReadonlySet<string>,
): Promise<StockStreamInput[]> {
  if (materials.length === 0) return [];
  const entries = await db
    .selectFrom('stream_entries')
    .select(['material', 'role', 'platform', 'trade_id', 'occurred_at', 'quantity_g', 'claims'])
    .where('party_key', '=', key)
    .where('material', 'in', materials)
    .where('occurred_at', '<', end)
    .execute();
  const results = await db
    .selectFrom('sale_results')
    .select(['material', 'platform', 'trade_id', 'unsourced_g'])
    .where('party_key', '=', key)
    .where('material', 'in', materials)
    .where('sale_at', '<', end)
    .execute();
  return streams(entries, results, dirty);
}
