/** The facts rules read, loaded per period by src/repositories/rule-facts.repository.ts. */

export interface PartyFact {
  key: string;
  kind: 'enterprise' | 'natural_person';
  name: string;
  roles: readonly string[];
  establishedOn: string | null;
}

export interface TradeLineFact {
  material: string;
  quantityG: bigint;
  amountFen: bigint;
}

export interface TradeFact {
  platform: string;
  tradeId: string;
  occurredMs: number;
  seller: PartyFact;
  buyer: PartyFact;
  totalFen: bigint;
  quantityG: bigint;
  lines: readonly TradeLineFact[];
  taxTreatment: string;
  /** The treatment's levy rate on the trade's date, in basis points (300 = 3%). */
  levyBp: bigint;
  siteCode: string;
  siteLat: number | null;
  siteLon: number | null;
}

export interface FlowFact {
  platform: string;
  tradeId: string;
  paymentStatus: string;
  weighingStatus: string;
  invoiceStatus: string;
  paidFen: bigint;
  weighedG: bigint;
  invoicedFen: bigint;
  invoicedG: bigint;
  differences: {
    material?: { trade: string[]; invoiced: string[] };
    invoice_amount?: { trade: string; invoiced: string; difference: string; tolerance: string };
    invoice_quantity?: { trade_kg: string; invoiced_kg: string; difference_kg: string; tolerance_kg: string };
    invoice_expected?: boolean;
  };
  /** The live (not reversed) payments linked to the trade: their numbers (bank serial, else payment id). */
  payments: readonly string[];
  weighings: readonly { ticketNo: string; netG: bigint }[];
  invoices: readonly string[];
}

export interface PaymentFact {
  platform: string;
  paymentId: string;
  paidMs: number;
  amountFen: bigint;
  payerKey: string | null;
  payerName: string;
  payerAccount: string; // blind index, hex
  payeeKey: string | null;
  payeeName: string;
  payeeAccount: string; // blind index, hex
  payeeAccountMasked: string;
  serialNo: string | null;
  reversed: boolean;
  /** Trades the payment is linked to (declared or matched), with the trade's parties. */
  trades: readonly {
    platform: string;
    tradeId: string;
    sellerKey: string;
    sellerKind: string;
    sellerName: string;
    buyerKey: string;
  }[];
}

export interface WeighingFact {
  platform: string;
  weighingId: string;
  ticketNo: string;
  tradeId: string;
  siteCode: string;
  siteLat: number | null;
  siteLon: number | null;
  plate: string;
  grossG: bigint;
  netG: bigint;
  weighedMs: number;
  /** The weighed trade's buyer; null when that trade is not active (cancelled, or not received yet). */
  buyerKey: string | null;
}

export interface InvoiceFact {
  platform: string;
  invoiceNo: string;
  kind: string;
  issuedMs: number;
  sellerKey: string | null;
  sellerKind: string | null;
  buyerKey: string | null;
  totalExFen: bigint;
  /** Σ red-letter reversals (negative) of this blue invoice. */
  redExFen: bigint;
  /** Active trades it is linked to (declared or matched). */
  linkedTrades: readonly { platform: string; tradeId: string }[];
  /**
   * Active trades that tied as its match (`ambiguous_matches`): tolerant matching found several
   * equally good ones and linked none, rather than guess.
   */
  ambiguousTrades: readonly { platform: string; tradeId: string }[];
}

export interface SaleResultFact {
  partyKey: string;
  material: string;
  platform: string;
  tradeId: string;
  saleMs: number;
  quantityG: bigint;
  unsourcedG: bigint;
}

export interface AllocationFact {
  partyKey: string;
  material: string;
  sale: { platform: string; tradeId: string; atMs: number; quantityG: bigint; amountFen: bigint };
  purchase: { platform: string; tradeId: string; atMs: number; quantityG: bigint; amountFen: bigint };
  quantityG: bigint;
}
