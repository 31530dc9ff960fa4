import { sql } from 'kysely';
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

/**
 * Recomputes the four-flow statuses of the given trades from everything linked to them now.
 * Each trade is locked first (sorted), so two workers adding different documents to one trade
 * serialise here and the later one reads the earlier one's committed rows: no lost update.
 */
export async function recomputeFlows(db: Db, keys: readonly TradeKey[], tol: Tolerances): Promise<number> {
  if (keys.length === 0) return 0;
  await lockKeys(db, 'flows', keys.map(tradeKeyString));
  const platforms = keys.map((k) => k.platform);
  const ids = keys.map((k) => k.tradeId);

  const trades = await sql<{
    platform: string;
    trade_id: string;
    seller_key: string;
    buyer_key: string;
    seller_kind: 'enterprise' | 'natural_person';
    seller_name: string;
    total_fen: bigint;
    quantity_g: bigint;
    lines: { material: string; quantity_g: string }[];
    tax_treatment: string;
  }>`
    SELECT t.platform, t.trade_id, t.seller_key, t.buyer_key, t.seller_kind, s.name AS seller_name, t.total_fen,
           t.quantity_g, t.lines, t.tax_treatment
    FROM trades t JOIN unnest(${platforms}::text[], ${ids}::text[]) AS k(platform, trade_id)
      ON t.platform = k.platform AND t.trade_id = k.trade_id
    JOIN parties s ON s.party_key = t.seller_key`.execute(db);
  if (trades.rows.length === 0) return 0;
  const tp = trades.rows.map((t) => t.platform);
  const ti = trades.rows.map((t) => t.trade_id);

  // Payments linked to these trades, with every trade each payment covers (to apportion it).
  const payments = await sql<{
    platform: string;
    payment_id: string;
    amount_fen: bigint;
    payee_key: string | null;
    payee_name: string;
    payer_key: string | null;
    reversed: boolean;
    trade_id: string;
    trade_total: bigint | null;
  }>`
    WITH ps AS (
      SELECT DISTINCT l.platform, l.payment_id FROM payment_links l
      JOIN unnest(${tp}::text[], ${ti}::text[]) AS k(platform, trade_id) ON l.platform = k.platform AND l.trade_id = k.trade_id)
    SELECT p.platform, p.payment_id, p.amount_fen, p.payee_key, p.payee_name, p.payer_key,
           (r.payment_id IS NOT NULL) AS reversed, l.trade_id, t.total_fen AS trade_total
    FROM ps JOIN payments p ON p.platform = ps.platform AND p.payment_id = ps.payment_id
    JOIN payment_links l ON l.platform = p.platform AND l.payment_id = p.payment_id
    LEFT JOIN trades t ON t.platform = l.platform AND t.trade_id = l.trade_id
    LEFT JOIN payment_reversals r ON r.platform = p.platform AND r.payment_id = p.payment_id
    ORDER BY p.platform, p.payment_id, l.trade_id`.execute(db);

  const weighings = await sql<{ platform: string; trade_id: string; weighing_id: string; net_g: bigint }>`
    SELECT w.platform, w.trade_id, w.weighing_id, w.net_g FROM weighings w
    JOIN unnest(${tp}::text[], ${ti}::text[]) AS k(platform, trade_id) ON w.platform = k.platform AND w.trade_id = k.trade_id`.execute(
    db,
  );

  const invoices = await sql<{
    platform: string;
    invoice_no: string;
    seller_key: string | null;
    buyer_key: string | null;
    total_fen: bigint;
    red_fen: bigint;
    lines: { material: string; quantity_g: string }[];
    trade_id: string;
    trade_total: bigint | null;
  }>`
    WITH inv AS (
      SELECT DISTINCT l.platform, l.invoice_no FROM invoice_links l
      JOIN unnest(${tp}::text[], ${ti}::text[]) AS k(platform, trade_id) ON l.platform = k.platform AND l.trade_id = k.trade_id)
    SELECT i.platform, i.invoice_no, i.seller_key, i.buyer_key, i.total_fen, i.lines,
           COALESCE((SELECT sum(r.total_fen) FROM invoices r
                     WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red'), 0)::bigint AS red_fen,
           l.trade_id, t.total_fen AS trade_total
    FROM inv JOIN invoices i ON i.platform = inv.platform AND i.invoice_no = inv.invoice_no
    JOIN invoice_links l ON l.platform = i.platform AND l.invoice_no = i.invoice_no
    LEFT JOIN trades t ON t.platform = l.platform AND t.trade_id = l.trade_id
    ORDER BY i.platform, i.invoice_no, l.trade_id`.execute(db);

  // Apportion multi-trade documents by the covered trades' totals (exact, in fen).
  const paymentShares = new Map<string, FlowPayment[]>();
  for (const group of groupBy(payments.rows, (r) => `${r.platform}\u001f${r.payment_id}`)) {
    const shares = apportion(
      group[0]!.amount_fen,
      group.map((r) => r.trade_total ?? 0n),
    );
    group.forEach((r, i) => {
      push(paymentShares, `${r.platform}\u001f${r.trade_id}`, {
        paymentId: r.payment_id,
        amountFen: shares[i]!,
        reversed: r.reversed,
        payeeKey: r.payee_key,
        payeeName: r.payee_name,
        payerKey: r.payer_key,
      });
    });
  }
  const invoiceShares = new Map<string, FlowInvoice[]>();
  for (const group of groupBy(invoices.rows, (r) => `${r.platform}\u001f${r.invoice_no}`)) {
    const first = group[0]!;
    const net = first.total_fen + first.red_fen;
    const weights = group.map((r) => r.trade_total ?? 0n);
    const shares = apportion(net, weights);
    const perMaterial = new Map<string, bigint>();
    for (const l of first.lines)
      perMaterial.set(l.material, (perMaterial.get(l.material) ?? 0n) + BigInt(l.quantity_g));
    const materialShares = new Map([...perMaterial].map(([m, g]) => [m, apportion(g, weights)]));
    group.forEach((r, i) => {
      push(invoiceShares, `${r.platform}\u001f${r.trade_id}`, {
        invoiceNo: r.invoice_no,
        sellerKey: r.seller_key,
        buyerKey: r.buyer_key,
        totalFen: shares[i]!,
        materials: new Map([...materialShares].map(([m, s]) => [m, s[i]!])),
        voided: net === 0n || (first.total_fen > 0n && net <= 0n),
      });
    });
  }
  const weighingsByTrade = new Map<string, { weighingId: string; netG: bigint }[]>();
  for (const w of weighings.rows)
    push(weighingsByTrade, `${w.platform}\u001f${w.trade_id}`, { weighingId: w.weighing_id, netG: w.net_g });

  const rows = trades.rows.map((t) => {
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
        totalFen: t.total_fen,
        quantityG: t.quantity_g,
        materials,
        taxTreatment: t.tax_treatment,
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
  await insertFromUnnest(
    'trade_flows',
    columnsOf(rows, {
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
  ).execute(db);
  return rows.length;
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
