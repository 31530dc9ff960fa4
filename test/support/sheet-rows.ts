import type { Db } from '../../src/db/database';
import type { SheetInvoice, SheetTrade } from '../../src/domain/reference-sheet';

/**
 * The rows a reference sheet is defined over — the party's active trades of the period with their
 * flow statuses, the month's trades of the natural persons it bought from (with every buyer: the
 * monthly exemption is theirs), and the invoices it received — read one by one, for the tests that
 * check the repository's SQL sums (loadReferenceSheetData) against the domain's definition
 * (sheetFacts, receivedInvoiceFacts).
 */
export async function loadSheetRows(
  db: Db,
  key: string,
  bounds: { start: Date; end: Date },
): Promise<{ trades: SheetTrade[]; personSales: SheetTrade[]; blue: SheetInvoice[]; red: SheetInvoice[] }> {
  const trades = await activeTrades(db, bounds, { party: key });
  const persons = [
    ...new Set(
      trades.filter((t) => t.buyerKey === key && t.sellerKind === 'natural_person').map((t) => t.sellerKey),
    ),
  ];
  const personSales = persons.length === 0 ? [] : await activeTrades(db, bounds, { sellers: persons });
  const invoiceRow = (i: {
    platform: string;
    invoice_no: string;
    kind: string;
    total_ex_tax_fen: bigint;
    total_tax_fen: bigint;
    total_fen: bigint;
  }): SheetInvoice => ({
    platform: i.platform,
    invoiceNo: i.invoice_no,
    kind: i.kind as SheetInvoice['kind'],
    totalExTaxFen: i.total_ex_tax_fen,
    totalTaxFen: i.total_tax_fen,
    totalFen: i.total_fen,
  });
  const cols = ['platform', 'invoice_no', 'kind', 'total_ex_tax_fen', 'total_tax_fen', 'total_fen'] as const;
  const blue = await db
    .selectFrom('invoices')
    .select(cols)
    .where('buyer_key', '=', key)
    .where('kind', '<>', 'red')
    .where('issued_at', '>=', bounds.start)
    .where('issued_at', '<', bounds.end)
    .execute();
  // Red invoices carry no parties: they are the party's when the blue one they reverse is.
  const red = await db
    .selectFrom('invoices as r')
    .innerJoin('invoices as o', (j) =>
      j.onRef('o.platform', '=', 'r.platform').onRef('o.invoice_no', '=', 'r.original_invoice_no'),
    )
    .select(cols.map((c) => `r.${c}` as const))
    .where('r.kind', '=', 'red')
    .where('o.buyer_key', '=', key)
    .where('o.kind', '<>', 'red')
    .where('r.issued_at', '>=', bounds.start)
    .where('r.issued_at', '<', bounds.end)
    .execute();
  return { trades, personSales, blue: blue.map(invoiceRow), red: red.map(invoiceRow) };
}

/** Active trades of the period — of a party, or sold by some parties — with their flow statuses. */
async function activeTrades(
  db: Db,
  bounds: { start: Date; end: Date },
  of: { party: string } | { sellers: string[] },
): Promise<SheetTrade[]> {
  const rows = await db
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
    .where((eb) =>
      'party' in of
        ? eb.or([eb('t.seller_key', '=', of.party), eb('t.buyer_key', '=', of.party)])
        : eb('t.seller_key', 'in', of.sellers),
    )
    .where('t.status', '=', 'active')
    .where('t.occurred_at', '>=', bounds.start)
    .where('t.occurred_at', '<', bounds.end)
    .orderBy('t.occurred_at')
    .orderBy('t.platform')
    .orderBy('t.trade_id')
    .execute();
  return rows.map((t) => ({
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
  }));
}
