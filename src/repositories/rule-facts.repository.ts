import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database';
import { maskAccountNo } from '../domain/ids';
import { exTaxFromInclusive } from '../domain/money';
import type {
  AllocationFact,
  FlowFact,
  InvoiceFact,
  PartyFact,
  PaymentFact,
  SaleResultFact,
  TradeFact,
  WeighingFact,
} from '../domain/rules/facts';
import { addMonths, DAY_MS, type Finding, type PeriodWindow, periodWindow } from '../domain/rules/types';
import { shanghaiDate } from '../domain/time';
import type { Keyring } from '../security/keys';

/** Everything the rules read for one period, loaded with a fixed number of queries. */
export interface PeriodFacts {
  window: PeriodWindow;
  /** Trades from 90 days before the month to its end (cycles and travel look back). */
  trades: TradeFact[];
  flows: Map<string, FlowFact>;
  /** Payments from 30 days before the month to its end, and any sharing a serial with them. */
  payments: PaymentFact[];
  /** Weighings from 7 days before the month to its end, and any sharing a ticket with them. */
  weighings: WeighingFact[];
  /** Blue and red invoices issued in the month, and any sharing a number with them. */
  invoices: InvoiceFact[];
  saleResults: SaleResultFact[];
  allocations: AllocationFact[];
  parties: Map<string, PartyFact>;
  clocks: Map<string, number>;
  referencePrices: Map<string, bigint>;
  hazardous: Set<string>;
  /** person → month → reverse-invoiced sales excl. VAT (net of red), 13 months to this one. */
  reverseInvoiced: Map<string, Map<string, bigint>>;
  /** person → month → sales excl. VAT, 7 months to this one. */
  personSales: Map<string, Map<string, bigint>>;
}

interface TaxRow {
  code: string;
  valid_from: string;
  valid_to: string | null;
  levy_rate: string;
}

/** Levy rate in basis points of a treatment on an Asia/Shanghai date (YYYY-MM-DD). */
export function levyBasisPoints(rates: readonly TaxRow[], code: string, date: string): bigint {
  const row = rates
    .filter((r) => r.code === code && r.valid_from <= date && (r.valid_to === null || r.valid_to >= date))
    .sort((a, b) => (a.valid_from < b.valid_from ? 1 : -1))[0];
  if (!row) return 0n;
  const [i, f = ''] = row.levy_rate.split('.');
  return BigInt(i!) * 10_000n + BigInt((f + '0000').slice(0, 4));
}

/**
 * Empties a result's rows once they are mapped to facts and not read again, so a month's facts
 * are not held twice (raw rows and facts) while the rest loads: at 45,000 events a month's load
 * peaked at ~50 MB of heap, and it grows with the data.
 */
function release(rows: unknown[]): void {
  rows.length = 0;
}

/**
 * One string instance per distinct value. node-postgres makes a new string for every field of
 * every row, so a month's facts held the same platform codes, party keys, names, account
 * digests, materials and trade ids (each trade is named again by its payments' links, its
 * allocations and its sale results) tens of thousands of times over. The map is dropped with the
 * load.
 */
function interner(): <T extends string | null>(s: T) => T {
  const seen = new Map<string, string>();
  return <T extends string | null>(s: T): T => {
    if (s === null) return s;
    const known = seen.get(s);
    if (known !== undefined) return known as T;
    seen.set(s, s);
    return s;
  };
}

export async function loadPeriodFacts(db: Db, keyring: Keyring, period: string): Promise<PeriodFacts> {
  const w = periodWindow(period);
  const I = interner();
  const from90 = new Date(w.startMs - 90 * DAY_MS);
  const start = new Date(w.startMs);
  const end = new Date(w.endMs);
  const rates = (await db
    .selectFrom('tax_treatments')
    .select(['code', 'valid_from', 'valid_to', 'levy_rate'])
    .execute()) as TaxRow[];

  // A month's trades share a few treatments and dates: each rate is looked up once (the lookup
  // filters and sorts every rate row, and ran for every trade of four months).
  const levies = new Map<string, bigint>();
  const levy = (code: string, date: string) => {
    const k = `${code}|${date}`;
    let bp = levies.get(k);
    if (bp === undefined) {
      bp = levyBasisPoints(rates, code, date);
      levies.set(k, bp);
    }
    return bp;
  };
  // Each sealed account is decrypted (to be masked) once: processing seals an account once per
  // batch, so a payee's payments of one batch share it. (Not by blind index: that is of the
  // normalised number, and two spellings of one account may mask differently.)
  const masks = new Map<string, string>();
  const masked = (enc: Buffer) => {
    const k = enc.toString('hex');
    let m = masks.get(k);
    if (m === undefined) {
      m = maskAccountNo(keyring.decrypt('pii-encryption', enc));
      masks.set(k, m);
    }
    return m;
  };

  const tradeRows = await sql<{
    platform: string;
    trade_id: string;
    occurred_at: Date;
    seller_key: string;
    buyer_key: string;
    total_fen: bigint;
    quantity_g: bigint;
    lines: { material: string; quantity_g: string; amount_fen: string }[];
    tax_treatment: string;
    site_code: string;
    site_lat: string | null;
    site_lon: string | null;
  }>`SELECT platform, trade_id, occurred_at, seller_key, buyer_key, total_fen, quantity_g, lines, tax_treatment,
            site_code, site_lat, site_lon
     FROM trades WHERE status = 'active' AND occurred_at >= ${from90} AND occurred_at < ${end}`.execute(db);

  const paymentRows = await sql<{
    platform: string;
    payment_id: string;
    paid_at: Date;
    amount_fen: bigint;
    payer_key: string | null;
    payer_name: string;
    payer_account_bidx: Buffer;
    payee_key: string | null;
    payee_name: string;
    payee_account_bidx: Buffer;
    payee_account_enc: Buffer;
    serial_no: string | null;
    reversed: boolean;
  }>`WITH base AS (SELECT * FROM payments WHERE paid_at >= ${new Date(w.startMs - 30 * DAY_MS)} AND paid_at < ${end})
     SELECT p.platform, p.payment_id, p.paid_at, p.amount_fen, p.payer_key, p.payer_name, p.payer_account_bidx, p.payee_key,
            p.payee_name, p.payee_account_bidx, p.payee_account_enc, p.serial_no,
            EXISTS (SELECT 1 FROM payment_reversals r WHERE r.platform = p.platform AND r.payment_id = p.payment_id) AS reversed
     FROM payments p
     WHERE (p.platform, p.payment_id) IN (SELECT platform, payment_id FROM base)
        OR p.serial_no IN (SELECT serial_no FROM base WHERE serial_no IS NOT NULL AND paid_at >= ${start})`.execute(
    db,
  );

  const paymentLinks = await sql<{
    platform: string;
    payment_id: string;
    trade_id: string;
    seller_key: string;
    buyer_key: string;
  }>`
    SELECT l.platform, l.payment_id, l.trade_id, t.seller_key, t.buyer_key
    FROM unnest(${paymentRows.rows.map((p) => p.platform)}::text[], ${paymentRows.rows.map((p) => p.payment_id)}::text[])
      AS k(platform, payment_id)
    JOIN payment_links l ON l.platform = k.platform AND l.payment_id = k.payment_id
    JOIN trades t ON t.platform = l.platform AND t.trade_id = l.trade_id AND t.status = 'active'`.execute(db);

  const weighingRows = await sql<{
    platform: string;
    weighing_id: string;
    ticket_no: string;
    trade_id: string;
    site_code: string;
    site_lat: string | null;
    site_lon: string | null;
    vehicle_plate: string;
    gross_g: bigint;
    net_g: bigint;
    weighed_at: Date;
    buyer_key: string | null;
  }>`WITH base AS (SELECT * FROM weighings WHERE weighed_at >= ${new Date(w.startMs - 7 * DAY_MS)} AND weighed_at < ${end})
     SELECT w.platform, w.weighing_id, w.ticket_no, w.trade_id, w.site_code, w.site_lat, w.site_lon, w.vehicle_plate,
            w.gross_g, w.net_g, w.weighed_at, t.buyer_key
     FROM weighings w LEFT JOIN trades t ON t.platform = w.platform AND t.trade_id = w.trade_id AND t.status = 'active'
     WHERE (w.platform, w.weighing_id) IN (SELECT platform, weighing_id FROM base)
        OR (w.site_code, w.ticket_no) IN (SELECT site_code, ticket_no FROM base WHERE weighed_at >= ${start})`.execute(
    db,
  );

  const invoiceRows = await sql<{
    platform: string;
    invoice_no: string;
    kind: string;
    issued_at: Date;
    seller_key: string | null;
    buyer_key: string | null;
    total_ex_tax_fen: bigint;
    red_ex_fen: bigint;
  }>`WITH base AS (SELECT * FROM invoices WHERE issued_at >= ${start} AND issued_at < ${end})
     SELECT i.platform, i.invoice_no, i.kind, i.issued_at, i.seller_key, i.buyer_key, i.total_ex_tax_fen,
            COALESCE((SELECT sum(r.total_ex_tax_fen) FROM invoices r
                      WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red'), 0)::bigint AS red_ex_fen
     FROM invoices i
     WHERE (i.platform, i.invoice_no) IN (SELECT platform, invoice_no FROM base)
        OR i.invoice_no IN (SELECT invoice_no FROM base)`.execute(db);
  const invoiceLinks = await sql<{ platform: string; invoice_no: string; trade_id: string }>`
    SELECT l.platform, l.invoice_no, l.trade_id
    FROM unnest(${invoiceRows.rows.map((i) => i.platform)}::text[], ${invoiceRows.rows.map((i) => i.invoice_no)}::text[])
      AS k(platform, invoice_no)
    JOIN invoice_links l ON l.platform = k.platform AND l.invoice_no = k.invoice_no
    JOIN trades t ON t.platform = l.platform AND t.trade_id = l.trade_id AND t.status = 'active'`.execute(db);
  // Undeclared invoices whose candidate trades tied (recorded by matching, never guessed): the
  // candidates still active.
  const invoiceTies = await sql<{ platform: string; invoice_no: string; trade_id: string }>`
    SELECT a.platform, a.document_no AS invoice_no, t.trade_id
    FROM unnest(${invoiceRows.rows.map((i) => i.platform)}::text[], ${invoiceRows.rows.map((i) => i.invoice_no)}::text[])
      AS k(platform, invoice_no)
    JOIN ambiguous_matches a ON a.platform = k.platform AND a.document_kind = 'invoice' AND a.document_no = k.invoice_no
    JOIN trades t ON t.platform = a.platform AND t.trade_id = ANY(a.candidate_trade_ids) AND t.status = 'active'`.execute(
    db,
  );

  const inMonth = tradeRows.rows.filter((t) => t.occurred_at >= start);
  const flowRows = await sql<{
    platform: string;
    trade_id: string;
    payment_status: string;
    weighing_status: string;
    invoice_status: string;
    paid_fen: bigint;
    weighed_g: bigint;
    invoiced_fen: bigint;
    invoiced_g: bigint;
    differences: FlowFact['differences'];
    payments: string[] | null;
    weighings: { ticket_no: string; net_g: string }[] | null;
    invoices: string[] | null;
  }>`SELECT f.platform, f.trade_id, f.payment_status, f.weighing_status, f.invoice_status, f.paid_fen, f.weighed_g,
            f.invoiced_fen, f.invoiced_g, f.differences,
            (SELECT array_agg(COALESCE(p.serial_no, p.payment_id) ORDER BY COALESCE(p.serial_no, p.payment_id))
               FROM payment_links l JOIN payments p ON p.platform = l.platform AND p.payment_id = l.payment_id
              WHERE l.platform = f.platform AND l.trade_id = f.trade_id
                AND NOT EXISTS (SELECT 1 FROM payment_reversals r WHERE r.platform = p.platform AND r.payment_id = p.payment_id))
              AS payments,
            (SELECT jsonb_agg(jsonb_build_object('ticket_no', w.ticket_no, 'net_g', w.net_g::text) ORDER BY w.ticket_no)
               FROM weighings w WHERE w.platform = f.platform AND w.trade_id = f.trade_id) AS weighings,
            (SELECT array_agg(l.invoice_no ORDER BY l.invoice_no) FROM invoice_links l
              WHERE l.platform = f.platform AND l.trade_id = f.trade_id) AS invoices
     FROM trade_flows f JOIN unnest(${inMonth.map((t) => t.platform)}::text[], ${inMonth.map((t) => t.trade_id)}::text[]) AS k(platform, trade_id)
       ON f.platform = k.platform AND f.trade_id = k.trade_id`.execute(db);
  release(inMonth);

  const saleRows = await db
    .selectFrom('sale_results')
    .select(['party_key', 'material', 'platform', 'trade_id', 'sale_at', 'quantity_g', 'unsourced_g'])
    .where('sale_at', '>=', start)
    .where('sale_at', '<', end)
    .execute();

  const allocationRows = await sql<{
    party_key: string;
    material: string;
    quantity_g: bigint;
    sale_platform: string;
    sale_trade_id: string;
    sale_at: Date;
    sale_g: bigint;
    sale_fen: bigint;
    purchase_platform: string;
    purchase_trade_id: string;
    purchase_at: Date;
    purchase_g: bigint;
    purchase_fen: bigint;
  }>`SELECT a.party_key, a.material, a.quantity_g, a.sale_platform, a.sale_trade_id, a.sale_at,
            s.quantity_g AS sale_g, s.amount_fen AS sale_fen,
            a.purchase_platform, a.purchase_trade_id, p.occurred_at AS purchase_at, p.quantity_g AS purchase_g, p.amount_fen AS purchase_fen
     FROM allocations a
     JOIN stream_entries s ON s.party_key = a.party_key AND s.material = a.material AND s.role = 'sale'
       AND s.platform = a.sale_platform AND s.trade_id = a.sale_trade_id
     JOIN stream_entries p ON p.party_key = a.party_key AND p.material = a.material AND p.role = 'purchase'
       AND p.platform = a.purchase_platform AND p.trade_id = a.purchase_trade_id
     WHERE a.sale_at >= ${start} AND a.sale_at < ${end}`.execute(db);

  // Natural persons' monthly totals: reverse-invoiced (net of red) and all sales, excl. VAT.
  const firstMonth = periodWindow(addMonths(period, -12));
  const reverseRows = await sql<{ person: string; period: string; ex_fen: bigint }>`
    SELECT i.seller_key AS person, to_char(i.issued_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS period,
           sum(i.total_ex_tax_fen + COALESCE((SELECT sum(r.total_ex_tax_fen) FROM invoices r
                 WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red'), 0))::bigint AS ex_fen
    FROM invoices i JOIN parties p ON p.party_key = i.seller_key AND p.kind = 'natural_person'
    WHERE i.kind = 'reverse' AND i.issued_at >= ${new Date(firstMonth.startMs)} AND i.issued_at < ${end}
    GROUP BY 1, 2`.execute(db);
  const salesFrom = periodWindow(addMonths(period, -6));
  const personTrades = await sql<{
    seller_key: string;
    occurred_at: Date;
    total_fen: bigint;
    tax_treatment: string;
  }>`
    SELECT t.seller_key, t.occurred_at, t.total_fen, t.tax_treatment FROM trades t
    WHERE t.status = 'active' AND t.seller_kind = 'natural_person'
      AND t.occurred_at >= ${new Date(salesFrom.startMs)} AND t.occurred_at < ${end}`.execute(db);

  // Parties referenced anywhere above.
  const keys = new Set<string>();
  for (const t of tradeRows.rows) keys.add(t.seller_key).add(t.buyer_key);
  for (const s of saleRows) keys.add(s.party_key);
  for (const r of reverseRows.rows) keys.add(r.person);
  for (const t of personTrades.rows) keys.add(t.seller_key);
  for (const l of paymentLinks.rows) keys.add(l.seller_key).add(l.buyer_key);
  const partyRows =
    keys.size === 0
      ? []
      : await db
          .selectFrom('parties')
          .select(['party_key', 'kind', 'name', 'roles', 'established_on'])
          .where('party_key', 'in', [...keys])
          .execute();
  const parties = new Map<string, PartyFact>(
    partyRows.map((p) => [
      p.party_key,
      {
        key: p.party_key,
        kind: p.kind as PartyFact['kind'],
        name: p.name,
        roles: p.roles,
        establishedOn: p.established_on as string | null,
      },
    ]),
  );
  const party = (k: string): PartyFact =>
    parties.get(k) ?? { key: k, kind: 'enterprise', name: k, roles: [], establishedOn: null };

  const num = (v: string | null) => (v === null ? null : Number(v));
  const trades: TradeFact[] = tradeRows.rows.map((t) => ({
    platform: I(t.platform),
    tradeId: I(t.trade_id),
    occurredMs: t.occurred_at.getTime(),
    seller: party(t.seller_key),
    buyer: party(t.buyer_key),
    totalFen: t.total_fen,
    quantityG: t.quantity_g,
    lines: t.lines.map((l) => ({
      material: I(l.material),
      quantityG: BigInt(l.quantity_g),
      amountFen: BigInt(l.amount_fen),
    })),
    taxTreatment: I(t.tax_treatment),
    levyBp: levy(t.tax_treatment, shanghaiDate(t.occurred_at.getTime())),
    siteCode: I(t.site_code),
    siteLat: num(t.site_lat),
    siteLon: num(t.site_lon),
  }));
  release(tradeRows.rows);

  const flows = new Map<string, FlowFact>(
    flowRows.rows.map((f) => [
      `${f.platform}:${f.trade_id}`,
      {
        platform: I(f.platform),
        tradeId: I(f.trade_id),
        paymentStatus: I(f.payment_status),
        weighingStatus: I(f.weighing_status),
        invoiceStatus: I(f.invoice_status),
        paidFen: f.paid_fen,
        weighedG: f.weighed_g,
        invoicedFen: f.invoiced_fen,
        invoicedG: f.invoiced_g,
        differences: f.differences,
        payments: f.payments ?? [],
        weighings: (f.weighings ?? []).map((x) => ({ ticketNo: x.ticket_no, netG: BigInt(x.net_g) })),
        invoices: f.invoices ?? [],
      },
    ]),
  );
  release(flowRows.rows);

  const linksByPayment = new Map<string, PaymentFact['trades'][number][]>();
  for (const l of paymentLinks.rows) {
    const k = `${l.platform}:${l.payment_id}`;
    const list = linksByPayment.get(k) ?? [];
    if (list.length === 0) linksByPayment.set(k, list);
    const s = party(l.seller_key);
    list.push({
      platform: I(l.platform),
      tradeId: I(l.trade_id),
      sellerKey: s.key,
      sellerKind: s.kind,
      sellerName: s.name,
      buyerKey: I(l.buyer_key),
    });
  }
  const payments: PaymentFact[] = paymentRows.rows.map((p) => ({
    platform: I(p.platform),
    paymentId: p.payment_id,
    paidMs: p.paid_at.getTime(),
    amountFen: p.amount_fen,
    payerKey: I(p.payer_key),
    payerName: I(p.payer_name),
    payerAccount: I(p.payer_account_bidx.toString('hex')),
    payeeKey: I(p.payee_key),
    payeeName: I(p.payee_name),
    payeeAccount: I(p.payee_account_bidx.toString('hex')),
    payeeAccountMasked: masked(p.payee_account_enc),
    serialNo: I(p.serial_no),
    reversed: p.reversed,
    trades: (linksByPayment.get(`${p.platform}:${p.payment_id}`) ?? []).sort((a, b) =>
      a.tradeId < b.tradeId ? -1 : 1,
    ),
  }));
  release(paymentRows.rows);
  release(paymentLinks.rows);
  linksByPayment.clear();

  const weighings: WeighingFact[] = weighingRows.rows.map((x) => ({
    platform: I(x.platform),
    weighingId: x.weighing_id,
    ticketNo: I(x.ticket_no),
    tradeId: I(x.trade_id),
    siteCode: I(x.site_code),
    siteLat: num(x.site_lat),
    siteLon: num(x.site_lon),
    plate: I(x.vehicle_plate),
    grossG: x.gross_g,
    netG: x.net_g,
    weighedMs: x.weighed_at.getTime(),
    buyerKey: I(x.buyer_key),
  }));
  release(weighingRows.rows);

  const byInvoice = (rows: readonly { platform: string; invoice_no: string; trade_id: string }[]) => {
    const m = new Map<string, { platform: string; tradeId: string }[]>();
    for (const l of rows) {
      const k = `${l.platform}:${l.invoice_no}`;
      const list = m.get(k) ?? [];
      if (list.length === 0) m.set(k, list);
      list.push({ platform: I(l.platform), tradeId: I(l.trade_id) });
    }
    return m;
  };
  const linksByInvoice = byInvoice(invoiceLinks.rows);
  const tiesByInvoice = byInvoice(invoiceTies.rows);
  const sellerKinds = new Map<string, string>();
  if (invoiceRows.rows.length > 0) {
    const ks = [...new Set(invoiceRows.rows.flatMap((i) => (i.seller_key ? [i.seller_key] : [])))];
    if (ks.length > 0) {
      for (const r of await db
        .selectFrom('parties')
        .select(['party_key', 'kind'])
        .where('party_key', 'in', ks)
        .execute()) {
        sellerKinds.set(r.party_key, r.kind);
      }
    }
  }
  const invoices: InvoiceFact[] = invoiceRows.rows.map((i) => ({
    platform: I(i.platform),
    invoiceNo: i.invoice_no,
    kind: I(i.kind),
    issuedMs: i.issued_at.getTime(),
    sellerKey: I(i.seller_key),
    sellerKind: i.seller_key ? (sellerKinds.get(i.seller_key) ?? null) : null,
    buyerKey: I(i.buyer_key),
    totalExFen: i.total_ex_tax_fen,
    redExFen: i.red_ex_fen,
    linkedTrades: linksByInvoice.get(`${i.platform}:${i.invoice_no}`) ?? [],
    ambiguousTrades: tiesByInvoice.get(`${i.platform}:${i.invoice_no}`) ?? [],
  }));

  const saleResults: SaleResultFact[] = saleRows.map((s) => ({
    partyKey: I(s.party_key),
    material: I(s.material),
    platform: I(s.platform),
    tradeId: I(s.trade_id),
    saleMs: (s.sale_at as Date).getTime(),
    quantityG: s.quantity_g,
    unsourcedG: s.unsourced_g,
  }));

  const allocations: AllocationFact[] = allocationRows.rows.map((a) => ({
    partyKey: I(a.party_key),
    material: I(a.material),
    quantityG: a.quantity_g,
    sale: {
      platform: I(a.sale_platform),
      tradeId: I(a.sale_trade_id),
      atMs: a.sale_at.getTime(),
      quantityG: a.sale_g,
      amountFen: a.sale_fen,
    },
    purchase: {
      platform: I(a.purchase_platform),
      tradeId: I(a.purchase_trade_id),
      atMs: a.purchase_at.getTime(),
      quantityG: a.purchase_g,
      amountFen: a.purchase_fen,
    },
  }));
  release(allocationRows.rows);
  release(saleRows);

  const clocks = new Map(
    (await db.selectFrom('platform_clocks').select(['platform', 'data_clock']).execute()).map((c) => [
      c.platform,
      (c.data_clock as Date).getTime(),
    ]),
  );

  const monthStart = shanghaiDate(w.startMs);
  const priceRows = await db
    .selectFrom('material_prices')
    .select(['material', 'valid_from', 'valid_to', 'price_fen_per_t'])
    .where('valid_from', '<=', monthStart)
    .execute();
  const referencePrices = new Map<string, bigint>();
  for (const r of [...priceRows].sort((a, b) => (a.valid_from < b.valid_from ? -1 : 1))) {
    if (r.valid_to === null || r.valid_to >= monthStart) referencePrices.set(r.material, r.price_fen_per_t);
  }
  const hazardous = new Set(
    (await db.selectFrom('materials').select('code').where('hazardous', '=', true).execute()).map(
      (r) => r.code,
    ),
  );

  const reverseInvoiced = new Map<string, Map<string, bigint>>();
  for (const r of reverseRows.rows) {
    const m = reverseInvoiced.get(r.person) ?? new Map<string, bigint>();
    if (m.size === 0) reverseInvoiced.set(r.person, m);
    m.set(r.period, (m.get(r.period) ?? 0n) + r.ex_fen);
  }
  const personSales = new Map<string, Map<string, bigint>>();
  for (const t of personTrades.rows) {
    const ms = t.occurred_at.getTime();
    const month = shanghaiDate(ms).slice(0, 7);
    const bp = levy(t.tax_treatment, shanghaiDate(ms));
    const ex = exTaxFromInclusive(t.total_fen, { basisPoints: bp });
    const m = personSales.get(t.seller_key) ?? new Map<string, bigint>();
    if (m.size === 0) personSales.set(t.seller_key, m);
    m.set(month, (m.get(month) ?? 0n) + ex);
  }

  return {
    window: w,
    trades,
    flows,
    payments,
    weighings,
    invoices,
    saleResults,
    allocations,
    parties,
    clocks,
    referencePrices,
    hazardous,
    reverseInvoiced,
    personSales,
  };
}

/**
 * The trades a person finding cites (Finding.tradesFrom), ordered by (platform, trade id): the
 * person's active trades linked to their reverse invoices issued in the given months and not
 * reversed in full, or the person's active sales of those months.
 */
export async function personFindingTrades(
  db: Db,
  from: NonNullable<Finding['tradesFrom']>,
): Promise<{ platform: string; trade_id: string }[]> {
  const month = (col: RawBuilder<unknown>) => sql`to_char(${col} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')`;
  if (from.periods.length === 0) return [];
  const r =
    from.source === 'sales'
      ? await sql<{ platform: string; trade_id: string }>`
          SELECT t.platform, t.trade_id FROM trades t
          WHERE t.seller_key = ${from.person} AND t.status = 'active'
            AND ${month(sql`t.occurred_at`)} = ANY(${from.periods}::text[])
          ORDER BY t.platform COLLATE "C", t.trade_id COLLATE "C"`.execute(db)
      : await sql<{ platform: string; trade_id: string }>`
          SELECT DISTINCT t.platform COLLATE "C" AS platform, t.trade_id COLLATE "C" AS trade_id FROM trades t
          JOIN invoice_links l ON l.platform = t.platform AND l.trade_id = t.trade_id
          JOIN invoices i ON i.platform = l.platform AND i.invoice_no = l.invoice_no AND i.kind = 'reverse'
          WHERE t.seller_key = ${from.person} AND t.status = 'active'
            AND ${month(sql`i.issued_at`)} = ANY(${from.periods}::text[])
            AND i.total_ex_tax_fen + COALESCE((SELECT sum(r.total_ex_tax_fen) FROM invoices r
                  WHERE r.platform = i.platform AND r.original_invoice_no = i.invoice_no AND r.kind = 'red'), 0) > 0
          ORDER BY 1, 2`.execute(db);
  return r.rows;
}
