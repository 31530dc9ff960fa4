import { sql } from 'kysely';
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

export async function applyPayments(
  db: Db,
  keyring: Keyring,
  parties: PartyCollector,
  docs: readonly Doc<PaymentData>[],
): Promise<DocumentEffects> {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (docs.length === 0) return effects;
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
      payer_account_enc: keyring.encrypt('pii-encryption', d.payer.account_no),
      payer_account_bidx: keyring.blindIndex(payerAcc),
      payer_key: d.payer.party ? parties.keyOf(d.payer.party) : null,
      payee_name: d.payee.account_name,
      payee_account_enc: keyring.encrypt('pii-encryption', d.payee.account_no),
      payee_account_bidx: keyring.blindIndex(payeeAcc),
      payee_key: d.payee.party ? parties.keyOf(d.payee.party) : null,
      serial_no: d.serial_no ?? null,
      declared_trade_ids: [...new Set(d.trade_ids)].sort(),
    };
  });
  await insertFromUnnest(
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
  ).execute(db);
  const links = rows.flatMap((r) =>
    r.declared_trade_ids.map((t) => ({
      platform: r.platform,
      payment_id: r.payment_id,
      trade_id: t,
      basis: 'declared',
    })),
  );
  if (links.length > 0) {
    await insertFromUnnest(
      'payment_links',
      columnsOf(links, { platform: 'text', payment_id: 'text', trade_id: 'text', basis: 'text' }),
      "ON CONFLICT (platform, payment_id, trade_id) DO UPDATE SET basis = 'declared'",
    ).execute(db);
  }
  for (const r of rows) {
    for (const t of r.declared_trade_ids) effects.trades.push({ platform: r.platform, tradeId: t });
    if (r.declared_trade_ids.length === 0)
      effects.paymentGroups.push({ platform: r.platform, payerKey: r.payer_key, payerName: r.payer_name });
  }
  return effects;
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
  return effects;
}

export async function applyWeighings(db: Db, docs: readonly Doc<WeighingData>[]): Promise<DocumentEffects> {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (docs.length === 0) return effects;
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
  await insertFromUnnest(
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
  ).execute(db);
  effects.trades.push(...docs.map((d) => ({ platform: d.platform, tradeId: d.data.trade_id })));
  return effects;
}

export async function applyInvoices(
  db: Db,
  parties: PartyCollector,
  blue: readonly Doc<InvoiceData>[],
  red: readonly Doc<InvoiceReversedData>[],
): Promise<DocumentEffects> {
  const effects: DocumentEffects = { trades: [], paymentGroups: [], invoiceGroups: [] };
  if (blue.length === 0 && red.length === 0) return effects;
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
  await insertFromUnnest(
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
  ).execute(db);
  const links = rows.flatMap((r) =>
    r.declared_trade_ids.map((t) => ({
      platform: r.platform,
      invoice_no: r.invoice_no,
      trade_id: t,
      basis: 'declared',
    })),
  );
  if (links.length > 0) {
    await insertFromUnnest(
      'invoice_links',
      columnsOf(links, { platform: 'text', invoice_no: 'text', trade_id: 'text', basis: 'text' }),
      "ON CONFLICT (platform, invoice_no, trade_id) DO UPDATE SET basis = 'declared'",
    ).execute(db);
  }
  for (const r of rows) {
    for (const t of r.declared_trade_ids) effects.trades.push({ platform: r.platform, tradeId: t });
    if (r.kind !== 'red' && r.declared_trade_ids.length === 0) {
      effects.invoiceGroups.push({ platform: r.platform, sellerKey: r.seller_key!, buyerKey: r.buyer_key! });
    }
  }
  const originals = rows.filter((r) => r.original_invoice_no !== null);
  if (originals.length > 0) {
    const linked = await sql<{ platform: string; trade_id: string }>`
      SELECT l.platform, l.trade_id FROM invoice_links l
      JOIN unnest(${originals.map((r) => r.platform)}::text[], ${originals.map((r) => r.original_invoice_no)}::text[]) AS k(platform, invoice_no)
        ON l.platform = k.platform AND l.invoice_no = k.invoice_no`.execute(db);
    effects.trades.push(...linked.rows.map((r) => ({ platform: r.platform, tradeId: r.trade_id })));
  }
  return effects;
}
