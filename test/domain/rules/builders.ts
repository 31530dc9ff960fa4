import type {
  AllocationFact,
  FlowFact,
  InvoiceFact,
  PartyFact,
  PaymentFact,
  SaleResultFact,
  TradeFact,
  TradeLineFact,
  WeighingFact,
} from '../../../src/domain/rules/facts';
import type { Finding } from '../../../src/domain/rules/types';

/**
 * Small fact makers for the pure rule tests: each fills what a rule does not look at with a
 * harmless default, so a test states only the numbers it is about. Money in fen and quantities
 * in grams (bigint), instants in epoch ms.
 */

export const PLATFORM = 'jmrr';
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

/** An instant given as Asia/Shanghai wall-clock time (UTC+8, no daylight saving). */
export const cst = (y: number, m: number, d: number, h = 12, min = 0, s = 0): number =>
  Date.UTC(y, m - 1, d, h - 8, min, s);

/** Grams from kilograms; fractions of a kilogram as a string ('1000.001'). */
export const kg = (v: number | string): bigint => {
  const [i, f = ''] = String(v).split('.');
  return BigInt(i!) * 1000n + BigInt((f + '000').slice(0, 3));
};

/** Fen from yuan, as a decimal string ('22000.01') or a whole number. */
export const yuan = (v: number | string): bigint => {
  const [i, f = ''] = String(v).split('.');
  return BigInt(i!) * 100n + BigInt((f + '00').slice(0, 2));
};

export function enterprise(key: string, over: Partial<PartyFact> = {}): PartyFact {
  return {
    key,
    kind: 'enterprise',
    name: `企业${key}`,
    roles: ['recycler'],
    establishedOn: '2015-01-01',
    ...over,
  };
}

export function person(key: string, over: Partial<PartyFact> = {}): PartyFact {
  return { key, kind: 'natural_person', name: `个人${key}`, roles: [], establishedOn: null, ...over };
}

export function line(material: string, quantityG: bigint, amountFen: bigint): TradeLineFact {
  return { material, quantityG, amountFen };
}

/** A trade; total and quantity default to the sums of its lines (one FE_HEAVY line: 10 t, ¥22,000.00). */
export function trade(tradeId: string, over: Partial<TradeFact> & { occurredMs: number }): TradeFact {
  const lines = over.lines ?? [line('FE_HEAVY', kg(10_000), yuan(22_000))];
  return {
    platform: PLATFORM,
    tradeId,
    seller: person('S'),
    buyer: enterprise('B'),
    totalFen: lines.reduce((s, l) => s + l.amountFen, 0n),
    quantityG: lines.reduce((s, l) => s + l.quantityG, 0n),
    taxTreatment: 'simple_3',
    levyBp: 300n,
    siteCode: 'S1',
    siteLat: null,
    siteLon: null,
    ...over,
    lines,
  };
}

/** The flows of a trade as if all four agreed: paid, weighed and invoiced in full. */
export function flow(t: TradeFact, over: Partial<FlowFact> = {}): FlowFact {
  return {
    platform: t.platform,
    tradeId: t.tradeId,
    paymentStatus: 'matched',
    weighingStatus: 'matched',
    invoiceStatus: 'matched',
    paidFen: t.totalFen,
    weighedG: t.quantityG,
    invoicedFen: t.totalFen,
    invoicedG: t.quantityG,
    differences: {},
    payments: [`PAY-${t.tradeId}`],
    weighings: [{ ticketNo: `TK-${t.tradeId}`, netG: t.quantityG }],
    invoices: [`INV-${t.tradeId}`],
    ...over,
  };
}

export const flowMap = (...flows: FlowFact[]): Map<string, FlowFact> =>
  new Map(flows.map((f) => [`${f.platform}:${f.tradeId}`, f]));

/** A constant data clock for every platform, or per platform. */
export const clockAt =
  (ms: number, perPlatform: Record<string, number> = {}) =>
  (platform: string): number =>
    perPlatform[platform] ?? ms;

export interface Account {
  key: string | null;
  name: string;
  account: string;
}

export function payment(
  paymentId: string,
  over: Partial<
    Omit<PaymentFact, 'payerKey' | 'payerName' | 'payerAccount' | 'payeeKey' | 'payeeName' | 'payeeAccount'>
  > & {
    paidMs: number;
    payer?: Account;
    payee?: Account;
  },
): PaymentFact {
  const { payer, payee, ...rest } = over;
  const from = payer ?? { key: 'B', name: '企业B', account: 'acct-b' };
  const to = payee ?? { key: 'S', name: '个人S', account: 'acct-s' };
  return {
    platform: PLATFORM,
    paymentId,
    amountFen: yuan(22_000),
    payerKey: from.key,
    payerName: from.name,
    payerAccount: from.account,
    payeeKey: to.key,
    payeeName: to.name,
    payeeAccount: to.account,
    payeeAccountMasked: `6222 **** **** ${to.account.slice(-4)}`,
    serialNo: null,
    reversed: false,
    trades: [],
    ...rest,
  };
}

/** A payment's link to a trade, with that trade's parties. */
export function paid(
  tradeId: string,
  seller: PartyFact,
  buyer: PartyFact = enterprise('B'),
  platform = PLATFORM,
): PaymentFact['trades'][number] {
  return {
    platform,
    tradeId,
    sellerKey: seller.key,
    sellerKind: seller.kind,
    sellerName: seller.name,
    buyerKey: buyer.key,
  };
}

export function weighing(
  weighingId: string,
  over: Partial<WeighingFact> & { weighedMs: number },
): WeighingFact {
  return {
    platform: PLATFORM,
    weighingId,
    ticketNo: `TK-${weighingId}`,
    tradeId: `T-${weighingId}`,
    siteCode: 'S1',
    siteLat: null,
    siteLon: null,
    plate: '粤J12345',
    grossG: kg(25_000),
    netG: kg(10_000),
    buyerKey: 'B',
    ...over,
  };
}

export function invoice(invoiceNo: string, over: Partial<InvoiceFact> & { issuedMs: number }): InvoiceFact {
  return {
    platform: PLATFORM,
    invoiceNo,
    kind: 'special',
    sellerKey: 'E',
    sellerKind: 'enterprise',
    buyerKey: 'B',
    totalExFen: yuan('21359.22'),
    redExFen: 0n,
    linkedTrades: [],
    ambiguousTrades: [],
    ...over,
  };
}

export function saleResult(
  tradeId: string,
  over: Partial<SaleResultFact> & { saleMs: number; quantityG: bigint; unsourcedG: bigint },
): SaleResultFact {
  return { partyKey: 'R', material: 'FE_HEAVY', platform: PLATFORM, tradeId, ...over };
}

export interface Leg {
  tradeId: string;
  atMs: number;
  quantityG: bigint;
  amountFen: bigint;
}

/** `quantityG` of `sale` covered by `purchase`, in the stream of party R and FE_HEAVY by default. */
export function allocation(
  sale: Leg,
  purchase: Leg,
  quantityG: bigint,
  over: Partial<Pick<AllocationFact, 'partyKey' | 'material'>> = {},
): AllocationFact {
  return {
    partyKey: 'R',
    material: 'FE_HEAVY',
    sale: { platform: PLATFORM, ...sale },
    purchase: { platform: PLATFORM, ...purchase },
    quantityG,
    ...over,
  };
}

export const parties = (...ps: PartyFact[]): Map<string, PartyFact> => new Map(ps.map((p) => [p.key, p]));

/** What a test usually asserts of a finding besides its evidence. */
export const subject = (f: Finding) => ({
  rule: f.rule,
  severity: f.severity,
  party: f.partyKey,
  period: f.period,
  trades: f.trades.map((t) => `${t.platform}:${t.trade_id}`),
});
