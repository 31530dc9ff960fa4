import { sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';
import { matchDocuments } from '../domain/matching';
import { amountTolerance, type Tolerances } from '../domain/tolerances';
import { markPeriodsDirty } from '../repositories/anomalies.repository';
import { periodsAffected } from '../rules/periods';
import type { TradeKey } from './context';
import type { InvoiceGroup, PaymentGroup } from './documents';
import { prepareFlows } from './flows';
import { lockKeys } from './locks';
import { uniqueTrades } from './trades';

const a = arrayLiteral;
const RECHECK_GROUPS_PER_TRANSACTION = 20;

const paymentGroupKey = (g: PaymentGroup) => g.payerKey ?? `name:${g.payerName}`;
const invoiceGroupKey = (g: InvoiceGroup) => `${g.sellerKey}\u001f${g.buyerKey}`;

interface RecheckMark {
  platform: string;
  kind: 'payment' | 'invoice';
  groupKey: string;
  payerKey: string | null;
  payerName: string | null;
  sellerKey: string | null;
  buyerKey: string | null;
}

/**
 * Marks groups to be matched once more after processing has settled (`match_rechecks`,
 * recheckMatches): taken under the group's matching lock, so only one transaction at a time
 * writes a group's mark.
 */
async function markRechecks(db: Db, marks: readonly RecheckMark[]): Promise<void> {
  await sql`
    INSERT INTO match_rechecks AS m (platform, kind, group_key, payer_key, payer_name, seller_key, buyer_key)
    SELECT * FROM unnest(${a(marks.map((m) => m.platform))}::text[], ${a(marks.map((m) => m.kind))}::text[],
      ${a(marks.map((m) => m.groupKey))}::text[], ${a(marks.map((m) => m.payerKey))}::text[],
      ${a(marks.map((m) => m.payerName))}::text[], ${a(marks.map((m) => m.sellerKey))}::text[],
      ${a(marks.map((m) => m.buyerKey))}::text[])
    ON CONFLICT (platform, kind, group_key) DO UPDATE SET marked_at = now()`.execute(db);
}

/**
 * Matches once more the groups marked at least `minAgeSeconds` ago (at most `limit` of them), with
 * their trades' flows and the rule periods those flows bear on, and removes their marks — unless
 * a group was marked again meanwhile. An undeclared document and its trade processed at the same
 * moment, in two transactions, can each miss the other; by the time the mark is old, both have
 * committed, and this pass sees them together. Safe in several workers at once: groups are
 * matched under their matching locks, and a mark is removed only as it was read.
 */
export async function recheckMatches(
  db: Db,
  tol: Tolerances,
  opts: { minAgeSeconds: number; limit: number },
): Promise<{ groups: number; trades: TradeKey[]; periods: { period: string; generation: bigint }[] }> {
  // marked_at to the microsecond (a JS Date would keep only milliseconds, and the delete below
  // must find the mark exactly as read).
  const { rows: due } = await sql<{
    platform: string;
    kind: string;
    group_key: string;
    payer_key: string | null;
    payer_name: string | null;
    seller_key: string | null;
    buyer_key: string | null;
    marked_at: string;
  }>`
    SELECT platform, kind, group_key, payer_key, payer_name, seller_key, buyer_key, marked_at::text AS marked_at
    FROM match_rechecks WHERE marked_at < now() - make_interval(secs => ${opts.minAgeSeconds})
    ORDER BY marked_at LIMIT ${opts.limit}`.execute(db);
  if (due.length === 0) return { groups: 0, trades: [], periods: [] };
  const result = {
    groups: due.length,
    trades: [] as TradeKey[],
    periods: [] as { period: string; generation: bigint }[],
  };
  // A few groups a transaction: each holds its groups' matching locks until it commits, and
  // processing waits for them meanwhile.
  for (let i = 0; i < due.length; i += RECHECK_GROUPS_PER_TRANSACTION) {
    const chunk = due.slice(i, i + RECHECK_GROUPS_PER_TRANSACTION);
    const r = await db.transaction().execute(async (trx) => {
      const payments = chunk.filter((m) => m.kind === 'payment');
      const invoices = chunk.filter((m) => m.kind === 'invoice');
      const touched = [
        ...(await rematchPayments(
          trx,
          payments.map((m) => ({
            platform: m.platform,
            payerKey: m.payer_key,
            payerName: m.payer_name ?? '',
          })),
          tol,
        )),
        ...(await rematchInvoices(
          trx,
          invoices.map((m) => ({ platform: m.platform, sellerKey: m.seller_key!, buyerKey: m.buyer_key! })),
          tol,
        )),
      ];
      // Removed as read: a mark written again meanwhile (a later match of the group) stays.
      await sql`
      DELETE FROM match_rechecks m USING unnest(${a(chunk.map((d) => d.platform))}::text[], ${a(chunk.map((d) => d.kind))}::text[],
        ${a(chunk.map((d) => d.group_key))}::text[], ${a(chunk.map((d) => d.marked_at))}::timestamptz[]) AS k(platform, kind, group_key, marked_at)
      WHERE m.platform = k.platform AND m.kind = k.kind AND m.group_key = k.group_key AND m.marked_at = k.marked_at`.execute(
        trx,
      );
      const trades = uniqueTrades(touched);
      if (trades.length === 0) return { trades, periods: [] };
      const flows = await prepareFlows(trx, trades, tol);
      if (flows.write) await flows.write.execute(trx);
      // The findings of the trades' months (and later ones up to their platform's clock) may change.
      const times = await sql<{ occurred_ms: number; clock_ms: number | null }>`
      SELECT floor(extract(epoch FROM t.occurred_at) * 1000)::float8 AS occurred_ms,
             floor(extract(epoch FROM c.data_clock) * 1000)::float8 AS clock_ms
      FROM trades t
      JOIN unnest(${a(trades.map((t) => t.platform))}::text[], ${a(trades.map((t) => t.tradeId))}::text[]) AS k(platform, trade_id)
        ON t.platform = k.platform AND t.trade_id = k.trade_id
      LEFT JOIN platform_clocks c ON c.platform = t.platform`.execute(trx);
      const periods = await markPeriodsDirty(
        trx,
        times.rows.flatMap((r) => periodsAffected([r.occurred_ms], r.clock_ms)),
      );
      return { trades, periods };
    });
    result.trades.push(...r.trades);
    result.periods.push(...r.periods);
  }
  return result;
}

/**
 * Re-matches every undeclared payment of a payer (or invoice between a seller and a buyer) on a
 * platform against that group's trades, from scratch. Because the whole group is recomputed and
 * the matcher is a function of the set, the links do not depend on which record arrived first.
 * Returns the trades whose links changed.
 */
export async function rematchPayments(
  db: Db,
  groups: readonly PaymentGroup[],
  tol: Tolerances,
  /** Groups of documents this transaction stored or reversed: marked to be matched again later. */
  opts: { recheck?: readonly PaymentGroup[] } = {},
): Promise<TradeKey[]> {
  const unique = new Map(groups.map((g) => [`${g.platform}\u001f${paymentGroupKey(g)}`, g]));
  if (unique.size === 0) return [];
  await lockKeys(db, 'match-pay', unique.keys());
  const marked = new Map((opts.recheck ?? []).map((g) => [`${g.platform}\u001f${paymentGroupKey(g)}`, g]));
  if (marked.size > 0) {
    await markRechecks(
      db,
      [...marked.values()].map((g) => ({
        platform: g.platform,
        kind: 'payment',
        groupKey: paymentGroupKey(g),
        payerKey: g.payerKey,
        payerName: g.payerName,
        sellerKey: null,
        buyerKey: null,
      })),
    );
  }
  const touched: TradeKey[] = [];
  for (const g of unique.values()) {
    const docs = await sql<{
      payment_id: string;
      paid_at: Date;
      amount_fen: bigint;
      payee_key: string | null;
      payee_name: string;
      reversed: boolean;
    }>`SELECT payment_id, paid_at, amount_fen, payee_key, payee_name,
              EXISTS (SELECT 1 FROM payment_reversals r
                      WHERE r.platform = payments.platform AND r.payment_id = payments.payment_id) AS reversed
       FROM payments
       WHERE platform = ${g.platform} AND declared_trade_ids = '{}'
         AND ${g.payerKey === null ? sql`payer_key IS NULL AND payer_name = ${g.payerName}` : sql`payer_key = ${g.payerKey}`}`.execute(
      db,
    );
    const before = await sql<{ payment_id: string; trade_id: string }>`
      DELETE FROM payment_links l USING payments p
      WHERE l.platform = p.platform AND l.payment_id = p.payment_id AND l.basis = 'matched'
        AND p.platform = ${g.platform} AND p.payment_id = ANY(${docs.rows.map((d) => d.payment_id)}::text[])
      RETURNING l.payment_id, l.trade_id`.execute(db);
    touched.push(...before.rows.map((r) => ({ platform: g.platform, tradeId: r.trade_id })));
    // A reversed payment pays nothing: it keeps no match and takes no trade from another payment.
    const live = docs.rows.filter((d) => !d.reversed);
    const allIds = docs.rows.map((d) => d.payment_id);
    if (live.length === 0) {
      await recordOutcomes(db, g.platform, 'payment', [], allIds, touched);
      continue;
    }
    const minAt = Math.min(...live.map((d) => d.paid_at.getTime())) - tol.paymentAfterMs;
    const maxAt = Math.max(...live.map((d) => d.paid_at.getTime())) + tol.paymentBeforeMs;
    // Candidate trades: this payer as buyer, not already paid by a declared payment.
    const trades = await sql<{
      trade_id: string;
      occurred_at: Date;
      total_fen: bigint;
      seller_key: string;
      seller_name: string;
    }>`
      SELECT t.trade_id, t.occurred_at, t.total_fen, t.seller_key, s.name AS seller_name
      FROM trades t JOIN parties s ON s.party_key = t.seller_key JOIN parties b ON b.party_key = t.buyer_key
      WHERE t.platform = ${g.platform} AND t.status = 'active'
        AND ${g.payerKey === null ? sql`b.name = ${g.payerName}` : sql`t.buyer_key = ${g.payerKey}`}
        AND t.occurred_at BETWEEN ${new Date(minAt)} AND ${new Date(maxAt)}
        AND NOT EXISTS (SELECT 1 FROM payment_links l WHERE l.platform = t.platform AND l.trade_id = t.trade_id AND l.basis = 'declared')`.execute(
      db,
    );
    const byId = new Map(live.map((d) => [d.payment_id, d]));
    const outcomes = matchDocuments(
      live.map((d) => ({ id: d.payment_id, atMs: d.paid_at.getTime(), amountFen: d.amount_fen })),
      (doc) => {
        const p = byId.get(doc.id)!;
        return trades.rows
          .filter((t) =>
            p.payee_key !== null ? t.seller_key === p.payee_key : t.seller_name === p.payee_name,
          )
          .filter((t) => {
            const dt = doc.atMs - t.occurred_at.getTime();
            return dt >= -tol.paymentBeforeMs && dt <= tol.paymentAfterMs;
          })
          .filter((t) => abs(t.total_fen - doc.amountFen) <= amountTolerance(t.total_fen, tol))
          .map((t) => ({ key: t.trade_id, atMs: t.occurred_at.getTime(), amountFen: t.total_fen }));
      },
    );
    await recordOutcomes(db, g.platform, 'payment', outcomes, allIds, touched);
  }
  return touched;
}

export async function rematchInvoices(
  db: Db,
  groups: readonly InvoiceGroup[],
  tol: Tolerances,
  /** Groups of documents this transaction stored or reversed: marked to be matched again later. */
  opts: { recheck?: readonly InvoiceGroup[] } = {},
): Promise<TradeKey[]> {
  const unique = new Map(groups.map((g) => [`${g.platform}\u001f${invoiceGroupKey(g)}`, g]));
  if (unique.size === 0) return [];
  await lockKeys(db, 'match-inv', unique.keys());
  const marked = new Map((opts.recheck ?? []).map((g) => [`${g.platform}\u001f${invoiceGroupKey(g)}`, g]));
  if (marked.size > 0) {
    await markRechecks(
      db,
      [...marked.values()].map((g) => ({
        platform: g.platform,
        kind: 'invoice',
        groupKey: invoiceGroupKey(g),
        payerKey: null,
        payerName: null,
        sellerKey: g.sellerKey,
        buyerKey: g.buyerKey,
      })),
    );
  }
  const touched: TradeKey[] = [];
  for (const g of unique.values()) {
    // Each blue invoice's amount net of its red-letter reversals: a fully reversed one matches nothing.
    const docs = await sql<{ invoice_no: string; issued_at: Date; total_fen: bigint; materials: string[] }>`
      SELECT invoice_no, issued_at, materials,
             total_fen + COALESCE((SELECT sum(r.total_fen) FROM invoices r
                                   WHERE r.platform = invoices.platform AND r.original_invoice_no = invoices.invoice_no
                                     AND r.kind = 'red'), 0)::bigint AS total_fen
      FROM invoices
      WHERE platform = ${g.platform} AND kind <> 'red' AND declared_trade_ids = '{}'
        AND seller_key = ${g.sellerKey} AND buyer_key = ${g.buyerKey}`.execute(db);
    const before = await sql<{ trade_id: string }>`
      DELETE FROM invoice_links l
      WHERE l.platform = ${g.platform} AND l.basis = 'matched' AND l.invoice_no = ANY(${docs.rows.map((d) => d.invoice_no)}::text[])
      RETURNING l.trade_id`.execute(db);
    touched.push(...before.rows.map((r) => ({ platform: g.platform, tradeId: r.trade_id })));
    const live = docs.rows.filter((d) => d.total_fen > 0n);
    const allIds = docs.rows.map((d) => d.invoice_no);
    if (live.length === 0) {
      await recordOutcomes(db, g.platform, 'invoice', [], allIds, touched);
      continue;
    }
    const trades = await sql<{ trade_id: string; occurred_at: Date; total_fen: bigint; materials: string[] }>`
      SELECT t.trade_id, t.occurred_at, t.total_fen, t.materials FROM trades t
      WHERE t.platform = ${g.platform} AND t.status = 'active' AND t.seller_key = ${g.sellerKey} AND t.buyer_key = ${g.buyerKey}
        AND NOT EXISTS (SELECT 1 FROM invoice_links l WHERE l.platform = t.platform AND l.trade_id = t.trade_id AND l.basis = 'declared')`.execute(
      db,
    );
    const byId = new Map(live.map((d) => [d.invoice_no, d]));
    const outcomes = matchDocuments(
      live.map((d) => ({ id: d.invoice_no, atMs: d.issued_at.getTime(), amountFen: d.total_fen })),
      (doc) => {
        const inv = byId.get(doc.id)!;
        return trades.rows
          .filter((t) => {
            const dt = doc.atMs - t.occurred_at.getTime();
            return dt >= -tol.invoiceAfterMs && dt <= tol.invoiceBeforeMs;
          })
          .filter((t) => inv.materials.some((m) => t.materials.includes(m)))
          .filter((t) => abs(t.total_fen - doc.amountFen) <= amountTolerance(t.total_fen, tol))
          .map((t) => ({ key: t.trade_id, atMs: t.occurred_at.getTime(), amountFen: t.total_fen }));
      },
    );
    await recordOutcomes(db, g.platform, 'invoice', outcomes, allIds, touched);
  }
  return touched;
}

async function recordOutcomes(
  db: Db,
  platform: string,
  kind: 'payment' | 'invoice',
  outcomes: ReturnType<typeof matchDocuments>,
  /** Every undeclared document of the group: their earlier ambiguity records are replaced. */
  docs: readonly string[],
  touched: TradeKey[],
): Promise<void> {
  await sql`DELETE FROM ambiguous_matches WHERE platform = ${platform} AND document_kind = ${kind}
            AND document_no = ANY(${docs}::text[])`.execute(db);
  const links = outcomes.flatMap((o) => (o.kind === 'linked' ? [o] : []));
  const ambiguous = outcomes.flatMap((o) => (o.kind === 'ambiguous' ? [o] : []));
  if (links.length > 0) {
    if (kind === 'payment') {
      await db
        .insertInto('payment_links')
        .values(links.map((l) => ({ platform, payment_id: l.document, trade_id: l.trade, basis: 'matched' })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    } else {
      await db
        .insertInto('invoice_links')
        .values(links.map((l) => ({ platform, invoice_no: l.document, trade_id: l.trade, basis: 'matched' })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    touched.push(...links.map((l) => ({ platform, tradeId: l.trade })));
  }
  if (ambiguous.length > 0) {
    await db
      .insertInto('ambiguous_matches')
      .values(
        ambiguous.map((a) => ({
          platform,
          document_kind: kind,
          document_no: a.document,
          candidate_trade_ids: a.candidates,
        })),
      )
      .execute();
  }
}

/**
 * Groups whose undeclared documents may now match the given (new or changed) trades: only groups
 * that actually hold undeclared documents need a pass. One statement, both kinds of group.
 */
export async function groupsForTrades(
  db: Db,
  trades: readonly TradeKey[],
): Promise<{ payments: PaymentGroup[]; invoices: InvoiceGroup[] }> {
  if (trades.length === 0) return { payments: [], invoices: [] };
  const rows = await sql<{
    kind: 'payment' | 'invoice';
    platform: string;
    payer_key: string | null;
    payer_name: string | null;
    seller_key: string | null;
    buyer_key: string | null;
  }>`
    WITH t AS MATERIALIZED (
      SELECT t.platform, t.buyer_key, b.name AS buyer_name, t.seller_key FROM trades t
      JOIN unnest(${arrayLiteral(trades.map((t) => t.platform))}::text[], ${arrayLiteral(trades.map((t) => t.tradeId))}::text[])
        AS k(platform, trade_id) ON t.platform = k.platform AND t.trade_id = k.trade_id
      JOIN parties b ON b.party_key = t.buyer_key),
    buyers AS MATERIALIZED (SELECT DISTINCT platform, buyer_key, buyer_name FROM t),
    pairs AS (SELECT DISTINCT platform, seller_key, buyer_key FROM t)
    -- A payer is matched by key, or by name when the payment names no party: two joins, not one
    -- with OR, so that each can use payments_payer.
    SELECT 'payment' AS kind, p.platform, p.payer_key, p.payer_name, NULL AS seller_key, NULL AS buyer_key
    FROM payments p JOIN buyers t ON p.platform = t.platform AND p.payer_key = t.buyer_key
    WHERE p.declared_trade_ids = '{}'
    UNION
    SELECT 'payment', p.platform, p.payer_key, p.payer_name, NULL, NULL
    FROM payments p JOIN buyers t ON p.platform = t.platform AND p.payer_key IS NULL AND p.payer_name = t.buyer_name
    WHERE p.declared_trade_ids = '{}'
    UNION
    SELECT 'invoice', i.platform, NULL, NULL, i.seller_key, i.buyer_key
    FROM invoices i JOIN pairs t ON i.platform = t.platform AND i.seller_key = t.seller_key AND i.buyer_key = t.buyer_key
    WHERE i.kind <> 'red' AND i.declared_trade_ids = '{}'`.execute(db);
  const payments: PaymentGroup[] = [];
  const invoices: InvoiceGroup[] = [];
  for (const r of rows.rows) {
    if (r.kind === 'payment')
      payments.push({ platform: r.platform, payerKey: r.payer_key, payerName: r.payer_name! });
    else invoices.push({ platform: r.platform, sellerKey: r.seller_key!, buyerKey: r.buyer_key! });
  }
  return { payments, invoices };
}

function abs(a: bigint): bigint {
  return a < 0n ? -a : a;
}
