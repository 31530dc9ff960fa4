import { type RawBuilder, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import { compiledQuery } from '../db/compiled';
import { type Db, poolSizeOf } from '../db/database';
import type { Sale, StreamEntry } from '../domain/allocation';
import { refKey } from '../domain/allocation';
import {
  type AmountSums,
  type AnomalyCountRow,
  type CountSums,
  type DailyRate,
  dailyRates,
  IIT_PREPAY_CODE,
  type MaterialFacts,
  type OutputGroup,
  type ReceivedInvoiceFacts,
  type SheetFacts,
  type StockStreamInput,
  type StockSumsInput,
  stockFromSums,
  type TreatmentRow,
  type WithholdingGroup,
} from '../domain/reference-sheet';
import { shanghaiDate } from '../domain/time';

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
  facts: SheetFacts;
  treatments: TreatmentRow[];
  stock: (StockStreamInput | StockSumsInput)[];
  invoices: ReceivedInvoiceFacts;
  anomalies: AnomalyCountRow[];
}

/** The party whose sheet is computed: its key and kind (the kind decides the withholding basis). */
export interface SheetParty {
  key: string;
  kind: 'enterprise' | 'natural_person';
}

/**
 * Everything the reference sheet of a party for the period [start, end) needs, summed in
 * PostgreSQL (SheetFacts; `sheetFacts` in src/domain/reference-sheet.ts is their definition and a
 * test checks the two agree).
 *
 * One consistent snapshot even while processing writes: the reads run in REPEATABLE READ
 * transactions that share one snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT), in two
 * lanes on two connections at once — a busy station's month is three scans of 10,000 trades,
 * which one connection would run on one core.
 */
export async function loadReferenceSheetData(
  db: Db,
  party: SheetParty,
  period: string,
  bounds: { start: Date; end: Date },
): Promise<ReferenceSheetData> {
  const key = party.key;
  const mine = { key, ...bounds };
  return onSharedSnapshot(db, async (first, second) => {
    const treatments = await loadTreatments(first);
    const rates = dailyRates(treatments, period);
    // Lanes of about the same cost, one per connection; the third, an enterprise's persons' sales
    // to other buyers (one probe per person), only where it has any.
    const [lineFacts, tradeFacts, othersEx] = await Promise.all([
      (async () => ({
        byMaterial: await materialFacts(first, mine),
        withholding: await withholdingFacts(first, party, bounds, rates),
      }))(),
      second(async (trx) => ({
        coverage: await coverageFacts(trx, mine),
        output: await outputFacts(trx, mine, rates),
        stock: await stockInputs(trx, key, bounds),
        invoices: await receivedInvoices(trx, key, bounds),
        anomalies: await anomalyCounts(trx, key, period),
      })),
      party.kind === 'enterprise'
        ? second((trx) => othersExFacts(trx, party, bounds, rates))
        : Promise.resolve(new Map<string, bigint>()),
    ]);
    const { byMaterial } = lineFacts;
    const withholding = lineFacts.withholding.map((g) => ({
      ...g,
      othersEx: othersEx.get(g.personKey) ?? 0n,
    }));
    const { coverage, output, stock, invoices, anomalies } = tradeFacts;
    return {
      facts: {
        purchases: {
          trades: coverage.purchases,
          byMaterial: byMaterial.filter((m) => m.side === 'purchase').map((m) => m.facts),
        },
        sales: {
          trades: coverage.sales,
          byMaterial: byMaterial.filter((m) => m.side === 'sale').map((m) => m.facts),
        },
        coverage: coverage.coverage,
        output,
        withholding,
      },
      treatments,
      stock,
      invoices,
      anomalies,
    };
  });
}

/**
 * Stock per material: plain sums in SQL (what came before the period makes the opening); only a
 * stream that waits for re-allocation, or whose sums do not fit, is read whole.
 */
async function stockInputs(
  db: Db,
  key: string,
  bounds: { start: Date; end: Date },
): Promise<(StockStreamInput | StockSumsInput)[]> {
  const dirty = new Set(
    (await db.selectFrom('stream_dirty').select('material').where('party_key', '=', key).execute()).map(
      (d) => d.material,
    ),
  );
  const sums = await streamSums(db, key, bounds);
  const whole = sums
    .filter((s) => dirty.has(s.material) || stockFromSums(s.sums) === null)
    .map((s) => s.material);
  const stock: (StockStreamInput | StockSumsInput)[] = sums.filter((s) => !whole.includes(s.material));
  if (whole.length > 0) stock.push(...(await loadWholeStreams(db, key, bounds.end, whole, dirty)));
  return stock;
}

/** The party's open and confirmed findings of the period, counted by rule, status and severity. */
async function anomalyCounts(db: Db, key: string, period: string): Promise<AnomalyCountRow[]> {
  const rows = await db
    .selectFrom('anomalies')
    .select((eb) => ['rule', 'status', 'severity', eb.fn.countAll<bigint>().as('n')])
    .where('party_key', '=', key)
    .where('period', '=', period)
    .where('status', 'in', ['open', 'confirmed'])
    .groupBy(['rule', 'status', 'severity'])
    .execute();
  return rows.map((a) => ({ rule: a.rule, status: a.status, severity: a.severity, count: Number(a.n) }));
}

/**
 * Runs `fn` in a read-only REPEATABLE READ transaction (`first`); each call of `second` runs reads
 * in another such transaction, on another connection, that sees exactly the same snapshot
 * (exported by the first, imported by the other before anything else). The sheet calls it twice.
 *
 * A load holds its first connection while it waits for the others. So that loads can never hold
 * every connection of the pool between them, one load at a time per process takes more
 * connections, and only from a pool of 4 or more; any other load runs `second` on its first
 * connection (the same reads one after the other, on the same snapshot).
 */
let secondLaneBusy = false;
async function onSharedSnapshot<T>(
  db: Db,
  fn: (first: Db, second: <R>(read: (trx: Db) => Promise<R>) => Promise<R>) => Promise<T>,
): Promise<T> {
  const readOnly = () => db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only');
  return readOnly().execute(async (first) => {
    if (secondLaneBusy || (poolSizeOf(db) ?? 0) < 4) return fn(first, (read) => read(first));
    secondLaneBusy = true;
    try {
      const snapshot = (await sql<{ id: string }>`SELECT pg_export_snapshot() AS id`.execute(first)).rows[0]!
        .id;
      return await fn(first, (read) =>
        readOnly().execute(async (trx) => {
          // The snapshot id is PostgreSQL's own text; SET TRANSACTION SNAPSHOT takes no parameter.
          await sql`SET TRANSACTION SNAPSHOT ${sql.lit(snapshot)}`.execute(trx);
          return read(trx);
        }),
      );
    } finally {
      secondLaneBusy = false;
    }
  });
}

async function loadTreatments(db: Db): Promise<TreatmentRow[]> {
  const rows = await db
    .selectFrom('tax_treatments')
    .select(['code', 'valid_from', 'valid_to', 'levy_rate', 'monthly_exemption_fen'])
    .execute();
  return rows.map((r) => ({
    code: r.code,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    levyRate: r.levy_rate,
    monthlyExemptionFen: r.monthly_exemption_fen,
  }));
}

/** The party's active trades of the period, as seller or buyer (trades_seller / trades_buyer). */
type MonthOf = { key: string; start: Date; end: Date };
const mineWhere = (m: MonthOf) =>
  sql`(t.seller_key = ${m.key} OR t.buyer_key = ${m.key}) AND t.status = 'active'
      AND t.occurred_at >= ${m.start} AND t.occurred_at < ${m.end}`;

/**
 * The Asia/Shanghai calendar day of t.occurred_at, at the fixed +08:00 of shanghaiDate (the zone
 * database's 1986–1991 summer time is not what the domain module uses).
 */
const shanghaiDay = sql`((t.occurred_at AT TIME ZONE 'UTC') + interval '8 hours')::date`;

/** The rates of the period's days as a relation r(code, day, bp), from dailyRates. */
const ratesRelation = (rates: readonly DailyRate[]) =>
  sql`unnest(${arrayLiteral(rates.map((r) => r.code))}::text[],
             ${arrayLiteral(rates.map((r) => r.day))}::date[],
             ${arrayLiteral(rates.map((r) => r.basisPoints))}::bigint[]) AS r(code, day, bp)`;

/**
 * Σ per trade of total ÷ (1 + r.bp / 10,000), half-up to the fen, in exact integer arithmetic:
 * the formula of roundHalfUpDiv(total × 10,000, 10,000 + bp), symmetric for a negative total.
 */
const sumExTax = sql`COALESCE(sum(sign(t.total_fen)
      * div(abs(t.total_fen)::numeric * 20000 + (10000 + r.bp), 2 * (10000 + r.bp))), 0)`;

const toSums = (fen: string, g: string): AmountSums => ({ fen: BigInt(fen), g: BigInt(g) });

/** Per side (purchase, sale) and material: trades with the material and the sums of its lines. */
async function materialFacts(db: Db, m: MonthOf): Promise<{ side: string; facts: MaterialFacts }[]> {
  const r = await sql<{
    side: string;
    material: string;
    trades: number;
    fen: string;
    g: string;
    np_fen: string;
    np_g: string;
    rev_fen: string;
    rev_g: string;
  }>`
    WITH sided AS (
      SELECT CASE WHEN side.purchase THEN 'purchase' ELSE 'sale' END AS side, t.lines,
             side.purchase AND t.seller_kind = 'natural_person' AS np,
             t.tax_treatment = 'reverse_invoice' AS rev
      FROM trades t
      CROSS JOIN LATERAL (VALUES (true), (false)) AS side(purchase)
      WHERE ${mineWhere(m)}
        AND CASE WHEN side.purchase THEN t.buyer_key = ${m.key} ELSE t.seller_key = ${m.key} END
    ), line AS (
      -- One row per line; 'first' marks a trade's first line of its material, so that a trade
      -- counts once per material (the look back runs only for a trade's second line onwards).
      SELECT s.side, s.np, s.rev, e.v->>'material' AS material,
             (e.v->>'amount_fen')::bigint AS fen, (e.v->>'quantity_g')::bigint AS g,
             e.i = 1 OR NOT EXISTS (
               SELECT 1 FROM jsonb_array_elements(s.lines) WITH ORDINALITY p(v, j)
               WHERE p.j < e.i AND p.v->>'material' = e.v->>'material') AS first
      FROM sided s CROSS JOIN LATERAL jsonb_array_elements(s.lines) WITH ORDINALITY e(v, i)
    )
    SELECT side, material, (count(*) FILTER (WHERE first))::int AS trades,
           sum(fen)::text AS fen, sum(g)::text AS g,
           COALESCE(sum(fen) FILTER (WHERE np), 0)::text AS np_fen,
           COALESCE(sum(g) FILTER (WHERE np), 0)::text AS np_g,
           COALESCE(sum(fen) FILTER (WHERE rev), 0)::text AS rev_fen,
           COALESCE(sum(g) FILTER (WHERE rev), 0)::text AS rev_g
    FROM line
    GROUP BY side, material
    ORDER BY side, material COLLATE "C"`.execute(db);
  return r.rows.map((row) => ({
    side: row.side,
    facts: {
      material: row.material,
      trades: row.trades,
      all: toSums(row.fen, row.g),
      fromNaturalPersons: toSums(row.np_fen, row.np_g),
      reverseInvoiced: toSums(row.rev_fen, row.rev_g),
    },
  }));
}

/** Counts of purchases and sales, and the flow coverage over the distinct trades. */
async function coverageFacts(
  db: Db,
  m: MonthOf,
): Promise<{ purchases: number; sales: number; coverage: SheetFacts['coverage'] }> {
  const r = await sql<Record<string, string>>`
    WITH x AS (
      SELECT t.buyer_key = ${m.key} AS purchase, t.seller_key = ${m.key} AS sale, t.total_fen,
             f.payment_status = 'matched' AS pay, f.weighing_status = 'matched' AS weigh,
             f.invoice_status = 'matched' AS inv,
             -- Same rule as computeFlows (src/domain/flows.ts): an invoice is expected from an
             -- enterprise seller, and for a natural person's reverse-invoiced sale.
             (t.seller_kind <> 'natural_person' OR t.tax_treatment = 'reverse_invoice') AS inv_expected
      FROM trades t
      -- LATERAL … LIMIT 1: one index lookup per trade (trade_flows_pkey). As a plain join the
      -- planner picks a hash join over the whole of trade_flows for a month of 10,000 trades.
      LEFT JOIN LATERAL (
        SELECT payment_status, weighing_status, invoice_status FROM trade_flows f
        WHERE f.platform = t.platform AND f.trade_id = t.trade_id LIMIT 1
      ) f ON true
      WHERE ${mineWhere(m)}
    )
    SELECT count(*) FILTER (WHERE purchase)::text AS purchases,
           count(*) FILTER (WHERE sale)::text AS sales,
           count(*)::text AS n, COALESCE(sum(total_fen), 0)::text AS fen,
           count(*) FILTER (WHERE pay)::text AS pay_n,
           COALESCE(sum(total_fen) FILTER (WHERE pay), 0)::text AS pay_fen,
           count(*) FILTER (WHERE weigh)::text AS weigh_n,
           COALESCE(sum(total_fen) FILTER (WHERE weigh), 0)::text AS weigh_fen,
           count(*) FILTER (WHERE inv_expected)::text AS exp_n,
           COALESCE(sum(total_fen) FILTER (WHERE inv_expected), 0)::text AS exp_fen,
           count(*) FILTER (WHERE inv_expected AND inv)::text AS inv_n,
           COALESCE(sum(total_fen) FILTER (WHERE inv_expected AND inv), 0)::text AS inv_fen
    FROM x`.execute(db);
  const row = r.rows[0]!;
  const cs = (n: string, fen: string): CountSums => ({ n: Number(row[n]), fen: BigInt(row[fen]!) });
  return {
    purchases: Number(row.purchases),
    sales: Number(row.sales),
    coverage: {
      trades: cs('n', 'fen'),
      paymentMatched: cs('pay_n', 'pay_fen'),
      weighingMatched: cs('weigh_n', 'weigh_fen'),
      invoiceExpected: cs('exp_n', 'exp_fen'),
      invoiceMatched: cs('inv_n', 'inv_fen'),
    },
  };
}

/** The party's sales by treatment and the rate of their day (null: none valid). */
async function outputFacts(db: Db, m: MonthOf, rates: readonly DailyRate[]): Promise<OutputGroup[]> {
  const r = await sql<{ treatment: string; bp: bigint | null; trades: number; fen: string; ex: string }>`
    SELECT t.tax_treatment AS treatment, r.bp, count(*)::int AS trades,
           sum(t.total_fen)::text AS fen, ${sumExTax}::text AS ex
    FROM trades t
    LEFT JOIN ${ratesRelation(rates)} ON r.code = t.tax_treatment AND r.day = ${shanghaiDay}
    WHERE t.seller_key = ${m.key} AND t.status = 'active'
      AND t.occurred_at >= ${m.start} AND t.occurred_at < ${m.end}
    GROUP BY t.tax_treatment, r.bp
    ORDER BY t.tax_treatment COLLATE "C", r.bp NULLS FIRST`.execute(db);
  return r.rows.map((row) => ({
    treatment: row.treatment,
    basisPoints: row.bp,
    trades: row.trades,
    fen: BigInt(row.fen),
    ex: BigInt(row.ex),
  }));
}

/** The trades reverse-invoice withholding applies to: `t` filtered for the party's basis. */
const withheldWhere = (party: SheetParty, bounds: { start: Date; end: Date }) =>
  sql`${
    party.kind === 'natural_person'
      ? sql`t.seller_key = ${party.key}`
      : sql`t.buyer_key = ${party.key} AND t.seller_kind = 'natural_person'`
  } AND t.tax_treatment = 'reverse_invoice' AND t.status = 'active'
    AND t.occurred_at >= ${bounds.start} AND t.occurred_at < ${bounds.end}`;

type WithholdingRowDb = {
  person: string;
  bp: bigint | null;
  iit_bp: bigint | null;
  trades: number;
  fen: string;
  ex: string;
  others_ex: string;
  /** Epoch ms (a number: no Date to parse for each of 10,000 persons). */
  last_at_ms: number;
};
const toWithholdingGroup = (row: WithholdingRowDb): WithholdingGroup => ({
  personKey: row.person,
  basisPoints: row.bp,
  iitBasisPoints: row.iit_bp,
  trades: row.trades,
  fen: BigInt(row.fen),
  ex: BigInt(row.ex),
  othersEx: BigInt(row.others_ex),
  lastAtMs: row.last_at_ms,
});

/** The latest occurred_at of a group, in whole epoch milliseconds (what a JS Date holds). */
const lastAtMs = sql`floor(extract(epoch FROM max(t.occurred_at)) * 1000)::float8`;

/**
 * A treatment's rate on each day of the period, as an SQL array indexed by the day of the month
 * (`dayRate(...)` is the rate of `t`'s day, NULL on a day without one): read by index, not joined,
 * because a join with the rates' unnest, which the planner cannot estimate, may run as a nested
 * loop over the days.
 */
const dayRate = (code: string, bounds: { start: Date; end: Date }, rates: readonly DailyRate[]) => {
  const firstDay = shanghaiDate(bounds.start.getTime());
  const days = Math.round((bounds.end.getTime() - bounds.start.getTime()) / 86_400_000);
  const bps: (bigint | null)[] = Array.from({ length: days }, () => null);
  for (const r of rates) {
    if (r.code !== code) continue;
    const i = Math.round(
      (Date.parse(`${r.day}T00:00:00Z`) - Date.parse(`${firstDay}T00:00:00Z`)) / 86_400_000,
    );
    if (i >= 0 && i < days) bps[i] = r.basisPoints;
  }
  return sql`(${arrayLiteral(bps)}::bigint[])[${shanghaiDay} - ${firstDay}::date + 1]`;
};

/**
 * The withheld trades grouped by person, the `reverse_invoice` rate of their day (r.bp NULL: no
 * rate that day) and the income-tax prepayment rate of their day (iit_bp NULL: none).
 * `ratedOnly` leaves the unrated out; `after` keeps persons after that key.
 */
const withholdingGroups = (
  party: SheetParty,
  bounds: { start: Date; end: Date },
  rates: readonly DailyRate[],
  o: { ratedOnly: boolean; after: string | null },
) => sql`
  SELECT t.seller_key AS person, r.bp, ${dayRate(IIT_PREPAY_CODE, bounds, rates)} AS iit_bp,
         count(*)::int AS trades, sum(t.total_fen)::text AS fen, ${sumExTax}::text AS ex, ${lastAtMs} AS last_at_ms
  FROM trades t
  ${o.ratedOnly ? sql`JOIN` : sql`LEFT JOIN`} ${ratesRelation(rates)}
    ON r.code = 'reverse_invoice' AND r.day = ${shanghaiDay}
  WHERE ${withheldWhere(party, bounds)}
    ${o.after === null ? sql`` : sql`AND t.seller_key COLLATE "C" > ${o.after}`}
  GROUP BY t.seller_key, r.bp, 3`;

/**
 * The monthly exemption is the person's, over all their buyers (DOMAIN.md 1): for the persons of
 * `persons` (a relation with a `person` column), their rated reverse-invoiced sales of the month
 * to buyers other than the party, excl. VAT — `othersEx` of the groups. An enterprise's sheet
 * only; one index-only probe per person (trades_person_sales). The day's rate is read from an
 * array indexed by the day of the month, not joined: a join with the rates' unnest, which the
 * planner cannot estimate, was run as a nested loop that probed every person once per day.
 */
const othersExOf = (
  party: SheetParty,
  bounds: { start: Date; end: Date },
  rates: readonly DailyRate[],
  persons: RawBuilder<unknown>,
) => {
  return sql`
    SELECT t.seller_key AS person,
           COALESCE(sum(sign(t.total_fen) * div(abs(t.total_fen)::numeric * 20000 + (10000 + x.bp), 2 * (10000 + x.bp))), 0) AS ex
    FROM ${persons} AS p
    JOIN trades t ON t.seller_key = p.person
    CROSS JOIN LATERAL (SELECT ${dayRate('reverse_invoice', bounds, rates)} AS bp) AS x
    WHERE t.seller_kind = 'natural_person' AND t.tax_treatment = 'reverse_invoice' AND t.status = 'active'
      AND t.buyer_key <> ${party.key} AND t.occurred_at >= ${bounds.start} AND t.occurred_at < ${bounds.end}
      AND x.bp IS NOT NULL
    GROUP BY t.seller_key`;
};

/** The withheld trades by person and the `reverse_invoice` rate of their day. */
async function withholdingFacts(
  db: Db,
  party: SheetParty,
  bounds: { start: Date; end: Date },
  rates: readonly DailyRate[],
): Promise<WithholdingGroup[]> {
  const groups = withholdingGroups(party, bounds, rates, { ratedOnly: false, after: null });
  const r = await sql<WithholdingRowDb>`SELECT w.*, '0' AS others_ex FROM (${groups}) AS w`.execute(db);
  return r.rows.map(toWithholdingGroup);
}

/** `othersEx` of every person an enterprise's withholding covers (their sales to other buyers). */
async function othersExFacts(
  db: Db,
  party: SheetParty,
  bounds: { start: Date; end: Date },
  rates: readonly DailyRate[],
): Promise<Map<string, bigint>> {
  if (party.kind === 'natural_person') return new Map();
  const persons = sql`(SELECT DISTINCT t.seller_key AS person FROM trades t WHERE ${withheldWhere(party, bounds)})`;
  const r = await sql<{ person: string; ex: string }>`${othersExOf(party, bounds, rates, persons)}`.execute(
    db,
  );
  return new Map(r.rows.map((row) => [row.person, BigInt(row.ex)]));
}

/**
 * One page of the sheet's withholding groups, by person key: the groups of the first `limit`
 * persons after `after` that have rated trades (unrated trades are only counted on the sheet),
 * with each person's registered name.
 */
export async function loadWithholdingPage(
  db: Db,
  party: SheetParty,
  period: string,
  bounds: { start: Date; end: Date },
  page: { after: string | null; limit: number },
): Promise<{ treatments: TreatmentRow[]; groups: WithholdingGroup[]; names: Map<string, string> }> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const treatments = await loadTreatments(trx);
      const rates = dailyRates(treatments, period);
      const r = await sql<WithholdingRowDb & { name: string | null }>`
        WITH g AS (${withholdingGroups(party, bounds, rates, { ratedOnly: true, after: page.after })}),
        persons AS (
          SELECT person FROM g GROUP BY person ORDER BY person COLLATE "C" LIMIT ${page.limit}
        ),
        o AS (${
          party.kind === 'natural_person'
            ? sql`SELECT NULL::text AS person, 0::numeric AS ex WHERE false`
            : othersExOf(party, bounds, rates, sql`persons`)
        })
        SELECT g.*, COALESCE(o.ex, 0)::text AS others_ex, p.name
        FROM g JOIN persons USING (person) LEFT JOIN o USING (person) LEFT JOIN parties p ON p.party_key = g.person
        ORDER BY g.person COLLATE "C", g.bp, g.iit_bp`.execute(trx);
      return {
        treatments,
        groups: r.rows.map(toWithholdingGroup),
        names: new Map(r.rows.map((row) => [row.person, row.name ?? ''])),
      };
    });
}

/** Sums of the invoices the party received in the period (ReceivedInvoiceFacts). */
async function receivedInvoices(
  db: Db,
  key: string,
  bounds: { start: Date; end: Date },
): Promise<ReceivedInvoiceFacts> {
  type Sums = { kind: string; invoices: number; ex: string; tax: string; fen: string };
  const toSumsRow = (s: Sums) => ({
    invoices: s.invoices,
    exFen: BigInt(s.ex),
    taxFen: BigInt(s.tax),
    fen: BigInt(s.fen),
  });
  const blue = await sql<Sums>`
    SELECT kind, count(*)::int AS invoices, sum(total_ex_tax_fen)::text AS ex,
           sum(total_tax_fen)::text AS tax, sum(total_fen)::text AS fen
    FROM invoices
    WHERE buyer_key = ${key} AND kind <> 'red' AND issued_at >= ${bounds.start} AND issued_at < ${bounds.end}
    GROUP BY kind
    ORDER BY kind COLLATE "C"`.execute(db);
  // Red invoices carry no parties: they are the party's when the blue one they reverse is.
  const red = await sql<Sums>`
    SELECT 'red' AS kind, count(*)::int AS invoices, COALESCE(sum(r.total_ex_tax_fen), 0)::text AS ex,
           COALESCE(sum(r.total_tax_fen), 0)::text AS tax, COALESCE(sum(r.total_fen), 0)::text AS fen
    FROM invoices r
    JOIN invoices o ON o.platform = r.platform AND o.invoice_no = r.original_invoice_no
    WHERE r.kind = 'red' AND o.buyer_key = ${key} AND o.kind <> 'red'
      AND r.issued_at >= ${bounds.start} AND r.issued_at < ${bounds.end}`.execute(db);
  return {
    blueByKind: blue.rows.map((b) => ({ kind: b.kind, ...toSumsRow(b) })),
    red: toSumsRow(red.rows[0]!),
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
