import { type RawBuilder, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';
import { apportion, computeFlows, type FlowInvoice, type FlowPayment } from '../domain/flows';
import type { Tolerances } from '../domain/tolerances';
import { columnsOf, insertFromUnnest } from './bulk';
import { type TradeKey, tradeKeyString } from './context';
import { lockKeys } from './locks';

/** Every column but the key takes the new row's value. */
const FLOW_UPDATE = [
  'payment_status',
  'weighing_status',
  'invoice_status',
  'overall',
  'paid_fen',
  'weighed_g',
  'invoiced_fen',
  'invoiced_g',
  'differences',
  'updated_at',
]
  .map((c) => `${c} = excluded.${c}`)
  .join(', ');

interface FlowInputs {
  trades: {
    platform: string;
    trade_id: string;
    seller_key: string;
    buyer_key: string;
    seller_kind: 'enterprise' | 'natural_person';
    seller_name: string;
    total_fen: string;
    quantity_g: string;
    lines: { material: string; quantity_g: string }[];
    tax_treatment: string;
    occurred_ms: number;
  }[];
  /** Payments linked to these trades, one row per (payment, trade it covers), in that order. */
  payments: {
    platform: string;
    payment_id: string;
    amount_fen: string;
    payee_key: string | null;
    payee_name: string;
    payer_key: string | null;
    reversed: boolean;
    paid_ms: number;
    trade_id: string;
    trade_total: string | null;
  }[];
  weighings: { platform: string; trade_id: string; weighing_id: string; net_g: string }[];
  /** Invoices linked to these trades, one row per (invoice, trade it covers), in that order. */
  invoices: {
    platform: string;
    invoice_no: string;
    seller_key: string | null;
    buyer_key: string | null;
    total_fen: string;
    red_fen: string;
    lines: { material: string; quantity_g: string }[];
    trade_id: string;
    trade_total: string | null;
    /** The lines of its red-letter invoices (negative quantities; null without any). */
    red_lines: { material: string; quantity_g: string }[] | null;
    /** The linked trade's lines (null while it has not arrived). */
    trade_lines: { material: string; quantity_g: string }[] | null;
  }[];
}

/**
 * Recomputes the four-flow statuses of the given trades from everything linked to them now.
 * Each trade is locked first (sorted), so two workers adding different documents to one trade
 * serialise here and the later one reads the earlier one's committed rows: no lost update.
 * Locks the trades' flows, reads what they depend on and computes them; returns the upsert of
 * `trade_flows`, not yet run, for the caller to run alone or with other writes. The inputs are
 * read in one statement, each kind as one JSON array (amounts as decimal strings: no bigint
 * passes through a JS number).
 */
export async function prepareFlows(
  db: Db,
  given: readonly TradeKey[],
  tol: Tolerances,
): Promise<{ write: RawBuilder<unknown> | null; count: number }> {
  if (given.length === 0) return { write: null, count: 0 };
  // A document covering several trades is split by their totals: when one of them arrives or
  // changes, the others' shares change too. So the trades sharing a payment or an invoice with a
  // given one are recomputed with it (one hop is enough: only their shares of that document move).
  const keys = await withCoLinkedTrades(db, given);
  await lockKeys(db, 'flows', keys.map(tradeKeyString));
  const { rows } = await sql<{ [K in keyof FlowInputs]: FlowInputs[K] | null }>`
    WITH t AS MATERIALIZED (
      SELECT t.platform, t.trade_id, t.seller_key, t.buyer_key, t.seller_kind, s.name AS seller_name,
             t.total_fen::text AS total_fen, t.quantity_g::text AS quantity_g, t.lines, t.tax_treatment,
             floor(extract(epoch FROM t.occurred_at) * 1000)::float8 AS occurred_ms
      FROM trades t
      JOIN unnest(${arrayLiteral(keys.map((k) => k.platform))}::text[], ${arrayLiteral(keys.map((k) => k.tradeId))}::text[])
        AS k(platform, trade_id) ON t.platform = k.platform AND t.trade_id = k.trade_id
      JOIN parties s ON s.party_key = t.seller_key),
    ps AS (
      SELECT DISTINCT l.platform, l.payment_id FROM payment_links l
      JOIN t ON l.platform = t.platform AND l.trade_id = t.trade_id),
    inv AS (
      SELECT DISTINCT l.platform, l.invoice_no FROM invoice_links l
      JOIN t ON l.platform = t.platform AND l.trade_id = t.trade_id)
    SELECT
      (SELECT json_agg(t) FROM t) AS trades,
      (SELECT json_agg(x ORDER BY x.platform, x.payment_id, x.trade_id) FROM (
         SELECT p.platform, p.payment_id, p.amount_fen::text AS amount_fen, p.payee_key, p.payee_name, p.payer_key,
                (r.payment_id IS NOT NULL) AS reversed, floor(extract(epoch FROM p.paid_at) * 1000)::float8 AS paid_ms,
                l.trade_id, lt.total_fen::text AS trade_total
         FROM ps JOIN payments p ON p.platform = ps.platform AND p.payment_id = ps.payment_id
         JOIN payment_links l ON l.platform = p.platform AND l.payment_id = p.payment_id
         LEFT JOIN trades lt ON lt.platform = l.platform AND lt.trade_id = l.trade_id
         LEFT JOIN payment_reversals r ON r.platform = p.platform AND r.payment_id = p.payment_id) x) AS payments,
      (SELECT json_agg(x) FROM (
         SELECT w.platform, w.trade_id, w.weighing_id, w.net_g::text AS net_g
         FROM weighings w JOIN t ON w.platform = t.platform AND w.trade_id = t.trade_id) x) AS weighings,
      (SELECT json_agg(x ORDER BY x.platform, x.invoice_no, x.trade_id) FROM (
         SELECT i.platform, i.invoice_no, i.seller_key, i.buyer_key, i.total_fen::text AS total_fen, i.lines,
                COALESCE((SELECT sum(r.total_fen) FROM invoices r
                          WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red'), 0)::text AS red_fen,
                (SELECT json_agg(rl) FROM invoices r, jsonb_array_elements(r.lines) rl
                  WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red') AS red_lines,
                l.trade_id, lt.total_fen::text AS trade_total, lt.lines AS trade_lines
         FROM inv JOIN invoices i ON i.platform = inv.platform AND i.invoice_no = inv.invoice_no
         JOIN invoice_links l ON l.platform = i.platform AND l.invoice_no = i.invoice_no
         LEFT JOIN trades lt ON lt.platform = l.platform AND lt.trade_id = l.trade_id) x) AS invoices`.execute(
    db,
  );
  const input = rows[0]!;
  const trades = { rows: input.trades ?? [] };
  if (trades.rows.length === 0) return { write: null, count: 0 };
  const payments = { rows: input.payments ?? [] };
  const weighings = { rows: input.weighings ?? [] };
  const invoices = { rows: input.invoices ?? [] };
  const big = (v: string | null) => (v === null ? 0n : BigInt(v));

  // Apportion multi-trade documents by the covered trades' totals (exact, in fen).
  const paymentShares = new Map<string, FlowPayment[]>();
  for (const group of groupBy(payments.rows, (r) => `${r.platform}\u001f${r.payment_id}`)) {
    const shares = apportion(
      BigInt(group[0]!.amount_fen),
      group.map((r) => big(r.trade_total)),
    );
    group.forEach((r, i) => {
      push(paymentShares, `${r.platform}\u001f${r.trade_id}`, {
        paymentId: r.payment_id,
        amountFen: shares[i]!,
        reversed: r.reversed,
        payeeKey: r.payee_key,
        payeeName: r.payee_name,
        payerKey: r.payer_key,
        paidAtMs: r.paid_ms,
      });
    });
  }
  const invoiceShares = new Map<string, FlowInvoice[]>();
  for (const group of groupBy(invoices.rows, (r) => `${r.platform}\u001f${r.invoice_no}`)) {
    const first = group[0]!;
    const firstTotal = BigInt(first.total_fen);
    const net = firstTotal + BigInt(first.red_fen);
    const weights = group.map((r) => big(r.trade_total));
    const shares = apportion(net, weights);
    // Quantities per material, net of the red-letter invoices' lines (negative) where they give any.
    const perMaterial = new Map<string, bigint>();
    for (const l of [...first.lines, ...(first.red_lines ?? [])])
      perMaterial.set(l.material, (perMaterial.get(l.material) ?? 0n) + BigInt(l.quantity_g));
    for (const [m, g] of perMaterial) if (g <= 0n) perMaterial.delete(m);
    // Each material's grams go to the covered trades that carry that material, by their grams of
    // it; a material none of them carries (变票) by the trades' totals, so that each sees it.
    const gramsOf = (r: (typeof group)[number], m: string) =>
      (r.trade_lines ?? []).reduce((g, l) => (l.material === m ? g + BigInt(l.quantity_g) : g), 0n);
    const materialShares = new Map(
      [...perMaterial].map(([m, g]) => {
        const byGrams = group.map((r) => gramsOf(r, m));
        return [m, apportion(g, byGrams.some((x) => x > 0n) ? byGrams : weights)];
      }),
    );
    group.forEach((r, i) => {
      push(invoiceShares, `${r.platform}\u001f${r.trade_id}`, {
        invoiceNo: r.invoice_no,
        sellerKey: r.seller_key,
        buyerKey: r.buyer_key,
        totalFen: shares[i]!,
        // A material the trade got no share of is not on its part of the invoice.
        materials: new Map(
          [...materialShares].flatMap(([m, s]) => (s[i]! > 0n ? [[m, s[i]!] as const] : [])),
        ),
        voided: net === 0n || (firstTotal > 0n && net <= 0n),
        ...(firstTotal > 0n && net < 0n ? { overReversedFen: -net } : {}),
      });
    });
  }
  const weighingsByTrade = new Map<string, { weighingId: string; netG: bigint }[]>();
  for (const w of weighings.rows)
    push(weighingsByTrade, `${w.platform}\u001f${w.trade_id}`, {
      weighingId: w.weighing_id,
      netG: BigInt(w.net_g),
    });

  const flowRows = trades.rows.map((t) => {
    const k = `${t.platform}\u001f${t.trade_id}`;
    const materials = new Map<string, bigint>();
    for (const l of t.lines)
      materials.set(l.material, (materials.get(l.material) ?? 0n) + BigInt(l.quantity_g));
    const r = computeFlows(
      {
        sellerKey: t.seller_key,
        sellerName: t.seller_name,
        sellerKind: t.seller_kind,
        buyerKey: t.buyer_key,
        totalFen: BigInt(t.total_fen),
        quantityG: BigInt(t.quantity_g),
        materials,
        taxTreatment: t.tax_treatment,
        occurredAtMs: t.occurred_ms,
      },
      paymentShares.get(k) ?? [],
      weighingsByTrade.get(k) ?? [],
      invoiceShares.get(k) ?? [],
      tol,
    );
    return {
      platform: t.platform,
      trade_id: t.trade_id,
      payment_status: r.payment,
      weighing_status: r.weighing,
      invoice_status: r.invoice,
      overall: r.overall,
      paid_fen: r.paidFen,
      weighed_g: r.weighedG,
      invoiced_fen: r.invoicedFen,
      invoiced_g: r.invoicedG,
      differences: JSON.stringify({ ...r.differences, invoice_expected: r.invoiceExpected }),
      updated_at: new Date(),
    };
  });
  const write = insertFromUnnest(
    'trade_flows',
    columnsOf(flowRows, {
      platform: 'text',
      trade_id: 'text',
      payment_status: 'text',
      weighing_status: 'text',
      invoice_status: 'text',
      overall: 'text',
      paid_fen: 'bigint',
      weighed_g: 'bigint',
      invoiced_fen: 'bigint',
      invoiced_g: 'bigint',
      differences: 'jsonb',
      updated_at: 'timestamptz',
    }),
    `ON CONFLICT (platform, trade_id) DO UPDATE SET ${FLOW_UPDATE}`,
  );
  return { write, count: flowRows.length };
}

function groupBy<T>(rows: readonly T[], key: (r: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const r of rows) push(m, key(r), r);
  return [...m.values()];
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The given trades and every trade that shares a payment or an invoice with one of them. */
async function withCoLinkedTrades(db: Db, keys: readonly TradeKey[]): Promise<TradeKey[]> {
  const k = sql`unnest(${arrayLiteral(keys.map((x) => x.platform))}::text[], ${arrayLiteral(keys.map((x) => x.tradeId))}::text[]) AS k(platform, trade_id)`;
  const { rows } = await sql<{ platform: string; trade_id: string }>`
    SELECT o.platform, o.trade_id FROM ${k}
    JOIN payment_links l ON l.platform = k.platform AND l.trade_id = k.trade_id
    JOIN payment_links o ON o.platform = l.platform AND o.payment_id = l.payment_id
    WHERE o.trade_id <> k.trade_id
    UNION
    SELECT o.platform, o.trade_id FROM ${k}
    JOIN invoice_links l ON l.platform = k.platform AND l.trade_id = k.trade_id
    JOIN invoice_links o ON o.platform = l.platform AND o.invoice_no = l.invoice_no
    WHERE o.trade_id <> k.trade_id`.execute(db);
  if (rows.length === 0) return [...keys];
  const all = new Map(keys.map((x) => [tradeKeyString(x), x]));
  for (const r of rows) {
    const x = { platform: r.platform, tradeId: r.trade_id };
    all.set(tradeKeyString(x), x);
  }
  return [...all.values()];
}
