import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database';
import type {
  InvoiceData,
  InvoiceReversedData,
  PaymentData,
  PaymentReversedData,
  WeighingData,
} from '../domain/events';
import { invoiceKeyOf } from '../domain/events';
import { canonicalInvoiceNo } from '../domain/ids';
import { parseKg, parseMoney, parseQuantity, parseRate } from '../domain/money';
import type { Keyring } from '../security/keys';
import { columnsOf, insertFromUnnest } from './bulk';
import type { TradeKey } from './context';
import type { PartyCollector } from './parties';

/**
 * Payments, reversals, weighings and invoices: immutable documents, inserted once (a replay of
 * the same document is a no-op). Each returns the trades whose flows it touches, and the
 * matching groups that need a new pass when a document names no trade.
 */
export interface Doc<D> {
  platform: string;
  eventId: string;
  data: D;
}

export interface DocumentEffects {
  trades: TradeKey[];
  paymentGroups: PaymentGroup[];
  invoiceGroups: InvoiceGroup[];
}

/**
 * A document kind's inserts, not yet run: the caller runs the inserts of every kind in one
 * statement (`runWrites`), since a statement costs about the same whatever it writes.
 */
export interface DocumentWrites {
  writes: RawBuilder<unknown>[];
  effects: DocumentEffects;
}

/**
 * Runs independent inserts as the data-modifying CTEs of one statement. They see the same
 * snapshot, so none may read what another writes; the tables here have no foreign keys between
 * them, and each insert resolves its own conflicts.
 */
export async function runWrites(db: Db, writes: readonly RawBuilder<unknown>[]): Promise<void> {
  if (writes.length === 0) return;
  if (writes.length === 1) {
    await writes[0]!.execute(db);
    return;
  }
  const ctes = sql.join(
    writes.map((w, i) => sql`${sql.raw(`w${i}`)} AS (${w})`),
    sql`, `,
  );
  await sql`WITH ${ctes} SELECT 1`.execute(db);
}

/** Undeclared payments are matched among the trades of one payer on one platform. */
export interface PaymentGroup {
  platform: string;
  payerKey: string | null;
  payerName: string;
}

/** Undeclared invoices are matched among the trades between one seller and one buyer. */
export interface InvoiceGroup {
  platform: string;
  sellerKey: string;
  buyerKey: string;
}

const fen = (s: string) => parseMoney(s, { allowNegative: true })!;

/** Account numbers compare without spaces or dashes. */
export function normalizeAccount(no: string): string {
  return no.replace(/[\s-]/g, '').toUpperCase();
}

export function preparePayments(
  keyring: Keyring,
  parties: PartyCollector,
  docs: readonly Doc<PaymentData>[],
): DocumentWrites {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  const writes: RawBuilder<unknown>[] = [];
  if (docs.length === 0) return { writes, effects };
  // A batch names the same accounts many times (a station pays hundreds of sellers from one
  // account): each distinct account number is encrypted and hashed once per batch.
  const memo = (f: (v: string) => Buffer) => {
    const m = new Map<string, Buffer>();
    return (v: string) => {
      const known = m.get(v);
      if (known) return known;
      const b = f(v);
      m.set(v, b);
      return b;
    };
  };
  const seal = memo((no) => keyring.encrypt('pii-encryption', no));
  const bidx = memo((normalized) => keyring.blindIndex(normalized));
  const rows = docs.map(({ platform, eventId, data: d }) => {
    const payerAcc = normalizeAccount(d.payer.account_no);
    const payeeAcc = normalizeAccount(d.payee.account_no);
    return {
      platform,
      payment_id: d.payment_id,
      event_id: eventId,
      paid_at: new Date(d.paid_at),
      amount_fen: fen(d.amount),
      channel: d.channel,
      payer_name: d.payer.account_name,
      payer_account_enc: seal(d.payer.account_no),
      payer_account_bidx: bidx(payerAcc),
      payer_key: d.payer.party ? parties.keyOf(d.payer.party) : null,
      payee_name: d.payee.account_name,
      payee_account_enc: seal(d.payee.account_no),
      payee_account_bidx: bidx(payeeAcc),
      payee_key: d.payee.party ? parties.keyOf(d.payee.party) : null,
      serial_no: d.serial_no ?? null,
      declared_trade_ids: [...new Set(d.trade_ids)].sort(),
    };
  });
  writes.push(
    insertFromUnnest(
      'payments',
      columnsOf(rows, {
        platform: 'text',
        payment_id: 'text',
        event_id: 'text',
        paid_at: 'timestamptz',
        amount_fen: 'bigint',
        channel: 'text',
        payer_name: 'text',
        payer_account_enc: 'bytea',
        payer_account_bidx: 'bytea',
        payer_key: 'text',
        payee_name: 'text',
        payee_account_enc: 'bytea',
        payee_account_bidx: 'bytea',
        payee_key: 'text',
        serial_no: 'text',
        declared_trade_ids: 'text[]',
      }),
      'ON CONFLICT (platform, payment_id) DO NOTHING',
    ),
  );
  const links = rows.flatMap((r) =>
    r.declared_trade_ids.map((t) => ({
      platform: r.platform,
      payment_id: r.payment_id,
      trade_id: t,
      basis: 'declared',
    })),
  );
  if (links.length > 0) {
    writes.push(
      insertFromUnnest(
        'payment_links',
        columnsOf(links, { platform: 'text', payment_id: 'text', trade_id: 'text', basis: 'text' }),
        "ON CONFLICT (platform, payment_id, trade_id) DO UPDATE SET basis = 'declared'",
      ),
    );
  }
  for (const r of rows) {
    for (const t of r.declared_trade_ids) effects.trades.push({ platform: r.platform, tradeId: t });
    if (r.declared_trade_ids.length === 0)
      effects.paymentGroups.push({ platform: r.platform, payerKey: r.payer_key, payerName: r.payer_name });
  }
  return { writes, effects };
}

export async function applyPaymentReversals(
  db: Db,
  docs: readonly Doc<PaymentReversedData>[],
): Promise<DocumentEffects> {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (docs.length === 0) return effects;
  const reversalRows = docs.map(({ platform, eventId, data: d }) => ({
    platform,
    payment_id: d.payment_id,
    event_id: eventId,
    reversed_at: new Date(d.reversed_at),
    reason: d.reason,
  }));
  await insertFromUnnest(
    'payment_reversals',
    columnsOf(reversalRows, {
      platform: 'text',
      payment_id: 'text',
      event_id: 'text',
      reversed_at: 'timestamptz',
      reason: 'text',
    }),
    'ON CONFLICT (platform, payment_id) DO NOTHING',
  ).execute(db);
  const linked = await sql<{ platform: string; trade_id: string }>`
    SELECT l.platform, l.trade_id FROM payment_links l
    JOIN unnest(${docs.map((d) => d.platform)}::text[], ${docs.map((d) => d.data.payment_id)}::text[]) AS k(platform, payment_id)
      ON l.platform = k.platform AND l.payment_id = k.payment_id`.execute(db);
  effects.trades.push(...linked.rows.map((r) => ({ platform: r.platform, tradeId: r.trade_id })));
  // An undeclared payment's group is matched again without it, linked or not (it may have been
  // ambiguous, or have kept another payment from its trade).
  const undeclared = await sql<{ platform: string; payer_key: string | null; payer_name: string }>`
    SELECT p.platform, p.payer_key, p.payer_name FROM payments p
    JOIN unnest(${docs.map((d) => d.platform)}::text[], ${docs.map((d) => d.data.payment_id)}::text[]) AS k(platform, payment_id)
      ON p.platform = k.platform AND p.payment_id = k.payment_id
    WHERE p.declared_trade_ids = '{}'`.execute(db);
  effects.paymentGroups.push(
    ...undeclared.rows.map((r) => ({ platform: r.platform, payerKey: r.payer_key, payerName: r.payer_name })),
  );
  return effects;
}

export function prepareWeighings(docs: readonly Doc<WeighingData>[]): DocumentWrites {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (docs.length === 0) return { writes: [], effects };
  const rows = docs.map(({ platform, eventId, data: d }) => ({
    platform,
    weighing_id: d.weighing_id,
    event_id: eventId,
    ticket_no: d.ticket_no,
    trade_id: d.trade_id,
    site_code: d.site.code,
    site_division: d.site.division,
    site_lat: d.site.location ? String(d.site.location.lat) : null,
    site_lon: d.site.location ? String(d.site.location.lon) : null,
    vehicle_plate: d.vehicle_plate,
    gross_g: parseKg(d.gross_kg)!,
    tare_g: parseKg(d.tare_kg)!,
    net_g: parseKg(d.net_kg)!,
    weighed_at: new Date(d.weighed_at),
  }));
  const write = insertFromUnnest(
    'weighings',
    columnsOf(rows, {
      platform: 'text',
      weighing_id: 'text',
      event_id: 'text',
      ticket_no: 'text',
      trade_id: 'text',
      site_code: 'text',
      site_division: 'text',
      site_lat: 'numeric',
      site_lon: 'numeric',
      vehicle_plate: 'text',
      gross_g: 'bigint',
      tare_g: 'bigint',
      net_g: 'bigint',
      weighed_at: 'timestamptz',
    }),
    'ON CONFLICT (platform, weighing_id) DO NOTHING',
  );
  effects.trades.push(...docs.map((d) => ({ platform: d.platform, tradeId: d.data.trade_id })));
  return { writes: [write], effects };
}

/**
 * Blue and red invoices. A red invoice changes the flows of the trades its original is linked to:
 * those are found by `effectsOfReversedInvoices` once the writes have run (the original and its links may
 * be in the same batch).
 */
export function prepareInvoices(
  parties: PartyCollector,
  blue: readonly Doc<InvoiceData>[],
  red: readonly Doc<InvoiceReversedData>[],
): DocumentWrites & { originals: { platform: string; invoiceNo: string }[] } {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  const writes: RawBuilder<unknown>[] = [];
  if (blue.length === 0 && red.length === 0) return { writes, effects, originals: [] };
  const lineRows = (
    lines: readonly {
      material: string;
      quantity: string;
      unit: 't' | 'kg';
      amount_ex_tax: string;
      tax_rate: string;
      tax_amount: string;
    }[],
  ) =>
    lines.map((l) => ({
      material: l.material,
      quantity_g:
        (parseQuantity(l.quantity.replace(/^-/, ''), l.unit) ?? 0n) * (l.quantity.startsWith('-') ? -1n : 1n),
      amount_ex_tax_fen: fen(l.amount_ex_tax),
      tax_rate: parseRate(l.tax_rate) ? l.tax_rate : '0',
      tax_fen: fen(l.tax_amount),
    }));
  const toJson = (ls: ReturnType<typeof lineRows>) =>
    JSON.stringify(
      ls.map((l) => ({
        ...l,
        quantity_g: l.quantity_g.toString(),
        amount_ex_tax_fen: l.amount_ex_tax_fen.toString(),
        tax_fen: l.tax_fen.toString(),
      })),
    );
  const rows = [
    ...blue.map(({ platform, eventId, data: d }) => {
      const lines = lineRows(d.lines);
      return {
        platform,
        invoice_no: invoiceKeyOf(d)!,
        event_id: eventId,
        kind: d.kind,
        issued_at: new Date(d.issued_at),
        seller_key: parties.keyOf(d.seller),
        buyer_key: parties.keyOf(d.buyer),
        original_invoice_no: null,
        declared_trade_ids: [...new Set(d.trade_ids)].sort(),
        total_ex_tax_fen: fen(d.total_ex_tax),
        total_tax_fen: fen(d.total_tax),
        total_fen: fen(d.total),
        lines: toJson(lines),
        materials: [...new Set(lines.map((l) => l.material))].sort(),
      };
    }),
    ...red.map(({ platform, eventId, data: d }) => {
      const lines = lineRows(d.lines ?? []);
      return {
        platform,
        invoice_no: invoiceKeyOf(d)!,
        event_id: eventId,
        kind: 'red',
        issued_at: new Date(d.issued_at),
        seller_key: null,
        buyer_key: null,
        original_invoice_no: canonicalInvoiceNo(d.original_invoice_no),
        declared_trade_ids: [],
        total_ex_tax_fen: fen(d.total_ex_tax),
        total_tax_fen: fen(d.total_tax),
        total_fen: fen(d.total),
        lines: toJson(lines),
        materials: [...new Set(lines.map((l) => l.material))].sort(),
      };
    }),
  ];
  writes.push(
    insertFromUnnest(
      'invoices',
      columnsOf(rows, {
        platform: 'text',
        invoice_no: 'text',
        event_id: 'text',
        kind: 'text',
        issued_at: 'timestamptz',
        seller_key: 'text',
        buyer_key: 'text',
        original_invoice_no: 'text',
        declared_trade_ids: 'text[]',
        total_ex_tax_fen: 'bigint',
        total_tax_fen: 'bigint',
        total_fen: 'bigint',
        lines: 'jsonb',
        materials: 'text[]',
      }),
      'ON CONFLICT (platform, invoice_no) DO NOTHING',
    ),
  );
  const links = rows.flatMap((r) =>
    r.declared_trade_ids.map((t) => ({
      platform: r.platform,
      invoice_no: r.invoice_no,
      trade_id: t,
      basis: 'declared',
    })),
  );
  if (links.length > 0) {
    writes.push(
      insertFromUnnest(
        'invoice_links',
        columnsOf(links, { platform: 'text', invoice_no: 'text', trade_id: 'text', basis: 'text' }),
        "ON CONFLICT (platform, invoice_no, trade_id) DO UPDATE SET basis = 'declared'",
      ),
    );
  }
  for (const r of rows) {
    for (const t of r.declared_trade_ids) effects.trades.push({ platform: r.platform, tradeId: t });
    if (r.kind !== 'red' && r.declared_trade_ids.length === 0) {
      effects.invoiceGroups.push({ platform: r.platform, sellerKey: r.seller_key!, buyerKey: r.buyer_key! });
    }
  }
  const originals = rows.flatMap((r) =>
    r.original_invoice_no === null ? [] : [{ platform: r.platform, invoiceNo: r.original_invoice_no }],
  );
  return { writes, effects, originals };
}

/**
 * What red-letter reversals change: the trades linked to their original invoices, and the groups
 * of undeclared originals, matched again without what was reversed.
 */
export async function effectsOfReversedInvoices(
  db: Db,
  originals: readonly { platform: string; invoiceNo: string }[],
): Promise<DocumentEffects> {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (originals.length === 0) return effects;
  const keys = sql`unnest(${originals.map((r) => r.platform)}::text[], ${originals.map((r) => r.invoiceNo)}::text[]) AS k(platform, invoice_no)`;
  const linked = await sql<{ platform: string; trade_id: string }>`
    SELECT l.platform, l.trade_id FROM invoice_links l
    JOIN ${keys} ON l.platform = k.platform AND l.invoice_no = k.invoice_no`.execute(db);
  effects.trades.push(...linked.rows.map((r) => ({ platform: r.platform, tradeId: r.trade_id })));
  const undeclared = await sql<{ platform: string; seller_key: string; buyer_key: string }>`
    SELECT i.platform, i.seller_key, i.buyer_key FROM invoices i
    JOIN ${keys} ON i.platform = k.platform AND i.invoice_no = k.invoice_no
    WHERE i.kind <> 'red' AND i.declared_trade_ids = '{}' AND i.seller_key IS NOT NULL AND i.buyer_key IS NOT NULL`.execute(
    db,
  );
  effects.invoiceGroups.push(
    ...undeclared.rows.map((r) => ({ platform: r.platform, sellerKey: r.seller_key, buyerKey: r.buyer_key })),
  );
  return effects;
}

// Any constant of our own, with the platform: the lock ordering reversals after their originals.
const DOCUMENT_ORDER_LOCK = 'documents-in-flight';

/**
 * Orders a batch's reversals after the transactions still writing their originals.
 *
 * A reversal finds the trades it changes through its original's links; the original's batch
 * computes its trades' flows with the reversals it can see. Two batches running at once — a
 * payment and its reversal sent a moment apart — could each miss the other's uncommitted rows,
 * and the trade would stay paid (or invoiced) for good. So every batch that writes payments or
 * blue invoices holds its platform's lock shared until it commits, and a batch with a reversal
 * whose original it cannot see yet (nor carries itself) takes it exclusively first: it waits for
 * those writers to commit and then sees their links, while later writers wait for it and then
 * see the reversal. A reversal whose original is already committed needs nothing: the links of a
 * declared original were committed with it, and an undeclared one's group is matched again
 * under the matching lock. Taken before any other lock of the batch, so it cannot close a cycle;
 * one lock a batch, and the exclusive one only in the rare race (or for a reversal that comes
 * before its original).
 */
export async function lockDocumentOrder(
  db: Db,
  platform: string,
  docs: {
    payments: readonly Doc<PaymentData>[];
    reversals: readonly Doc<PaymentReversedData>[];
    blue: readonly Doc<InvoiceData>[];
    red: readonly Doc<InvoiceReversedData>[];
  },
): Promise<void> {
  const writesOriginals = docs.payments.length > 0 || docs.blue.length > 0;
  const paymentsHere = new Set(docs.payments.map((d) => d.data.payment_id));
  const invoicesHere = new Set(docs.blue.map((d) => invoiceKeyOf(d.data)));
  const payments = [
    ...new Set(docs.reversals.map((d) => d.data.payment_id).filter((id) => !paymentsHere.has(id))),
  ];
  const invoices = [
    ...new Set(
      docs.red
        .map((d) => canonicalInvoiceNo(d.data.original_invoice_no))
        .filter((no) => !invoicesHere.has(no)),
    ),
  ];
  let exclusive = false;
  if (payments.length > 0 || invoices.length > 0) {
    const seen = await sql<{ n: string }>`
      SELECT (SELECT count(*) FROM payments WHERE platform = ${platform} AND payment_id = ANY(${payments}::text[]))
           + (SELECT count(*) FROM invoices WHERE platform = ${platform} AND kind <> 'red'
                AND invoice_no = ANY(${invoices}::text[])) AS n`.execute(db);
    exclusive = Number(seen.rows[0]!.n) < payments.length + invoices.length;
  }
  if (!exclusive && !writesOriginals) return;
  const key = `${DOCUMENT_ORDER_LOCK}:${platform}`;
  await (exclusive
    ? sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`
    : sql`SELECT pg_advisory_xact_lock_shared(hashtextextended(${key}, 0))`
  ).execute(db);
}
