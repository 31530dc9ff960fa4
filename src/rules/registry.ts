import { z } from 'zod';
import {
  invoiceMismatch,
  invoiceWithoutTrade,
  missingFlow,
  paymentMismatch,
  weightMismatch,
} from '../domain/rules/flow-rules';
import { fundsRoundTrip, sharedPayeeAccount, thirdPartyPayee } from '../domain/rules/funds-rules';
import { impossibleTravel, vehicleOverload } from '../domain/rules/goods-rules';
import {
  duplicateDocument,
  hazardousUnlicensed,
  priceDeviation,
  shellBurst,
} from '../domain/rules/market-rules';
import { incomeSplitting, reverseInvoiceLimit } from '../domain/rules/person-rules';
import { circularTrading, passThrough, unsourcedSale } from '../domain/rules/stock-rules';
import type { Finding, RuleCode } from '../domain/rules/types';
import type { PeriodFacts } from '../repositories/rule-facts.repository';

/**
 * Every rule with its default parameters (DOMAIN.md section 7) — the seed of `rule_settings`,
 * where administrators change them with an effective date — and how it reads the period's facts.
 */
const int = z.number().int().nonnegative();

interface RuleEntry<P> {
  schema: z.ZodType<P>;
  defaults: P;
  evaluate: (facts: PeriodFacts, params: P) => Finding[];
}

function entry<P>(
  schema: z.ZodType<P>,
  defaults: P,
  evaluate: (facts: PeriodFacts, params: P) => Finding[],
): RuleEntry<P> {
  return { schema, defaults, evaluate };
}

const clock = (f: PeriodFacts) => (platform: string) => f.clocks.get(platform) ?? Number.NEGATIVE_INFINITY;
const monthTrades = (f: PeriodFacts) => f.trades.filter((t) => t.occurredMs >= f.window.startMs);
const names = (f: PeriodFacts) => new Map([...f.parties].map(([k, p]) => [k, p.name]));

export const RULES: { [R in RuleCode]: RuleEntry<never> } = {
  PAYMENT_MISMATCH: entry(
    z.object({ amount_min_fen: int, amount_basis_points: int, grace_days: int }),
    { amount_min_fen: 100, amount_basis_points: 50, grace_days: 7 },
    (f, p) => paymentMismatch(f.window, monthTrades(f), f.flows, clock(f), p),
  ),
  WEIGHT_MISMATCH: entry(
    z.object({ weight_min_g: int, weight_basis_points: int, high_basis_points: int }),
    { weight_min_g: 20_000, weight_basis_points: 100, high_basis_points: 500 },
    (f, p) => weightMismatch(f.window, monthTrades(f), f.flows, p),
  ),
  INVOICE_MISMATCH: entry(
    z.object({ amount_min_fen: int, amount_basis_points: int, weight_min_g: int, weight_basis_points: int }),
    { amount_min_fen: 100, amount_basis_points: 50, weight_min_g: 20_000, weight_basis_points: 100 },
    (f, p) => invoiceMismatch(f.window, monthTrades(f), f.flows, p),
  ),
  MISSING_FLOW: entry(
    z.object({ payment_days: int, weighing_days: int, invoice_days: int }),
    { payment_days: 7, weighing_days: 7, invoice_days: 30 },
    (f, p) => missingFlow(f.window, monthTrades(f), f.flows, clock(f), p),
  ),
  THIRD_PARTY_PAYEE: entry(z.object({}), {}, (f) => thirdPartyPayee(f.window, f.payments)),
  FUNDS_ROUND_TRIP: entry(
    z.object({ window_days: int, min_share_basis_points: int }),
    { window_days: 30, min_share_basis_points: 5_000 },
    (f, p) => fundsRoundTrip(f.window, f.payments, p),
  ),
  SHARED_PAYEE_ACCOUNT: entry(z.object({ min_sellers: int }), { min_sellers: 3 }, (f, p) =>
    sharedPayeeAccount(f.window, f.payments, p),
  ),
  UNSOURCED_SALE: entry(
    z.object({ min_kg: int, min_share_basis_points: int }),
    { min_kg: 500, min_share_basis_points: 200 },
    (f, p) => unsourcedSale(f.window, f.saleResults, f.parties, p),
  ),
  PASS_THROUGH: entry(
    z.object({
      min_cover_basis_points: int,
      max_hours: int,
      quantity_basis_points: int,
      max_margin_basis_points: int,
    }),
    {
      min_cover_basis_points: 9_000,
      max_hours: 24,
      quantity_basis_points: 100,
      max_margin_basis_points: 200,
    },
    (f, p) => passThrough(f.window, f.allocations, f.parties, p),
  ),
  CIRCULAR_TRADING: entry(
    z.object({ window_days: int, max_parties: int }),
    { window_days: 90, max_parties: 6 },
    (f, p) => circularTrading(f.window, f.trades, p),
  ),
  REVERSE_INVOICE_LIMIT: entry(
    z.object({ limit_fen: int, medium_basis_points: int }),
    { limit_fen: 500_000_000, medium_basis_points: 8_000 },
    (f, p) => reverseInvoiceLimit(f.window, f.reverseInvoiced, names(f), p),
  ),
  INCOME_SPLITTING: entry(
    z.object({ band_low_fen: int, band_high_fen: int, min_months: int, window_months: int }),
    { band_low_fen: 9_500_000, band_high_fen: 10_000_000, min_months: 3, window_months: 6 },
    (f, p) => incomeSplitting(f.window, f.personSales, names(f), p),
  ),
  VEHICLE_OVERLOAD: entry(z.object({ max_gross_kg: int }), { max_gross_kg: 49_000 }, (f, p) =>
    vehicleOverload(f.window, f.weighings, p),
  ),
  IMPOSSIBLE_TRAVEL: entry(z.object({ min_km: int, max_kmh: int }), { min_km: 10, max_kmh: 120 }, (f, p) =>
    impossibleTravel(f.window, f.weighings, f.trades, p),
  ),
  PRICE_DEVIATION: entry(
    z.object({ medium_basis_points: int, high_basis_points: int, min_trades_for_median: int }),
    { medium_basis_points: 3_000, high_basis_points: 5_000, min_trades_for_median: 20 },
    (f, p) => priceDeviation(f.window, f.trades, f.referencePrices, p),
  ),
  DUPLICATE_DOCUMENT: entry(z.object({}), {}, (f) =>
    duplicateDocument(
      f.window,
      f.weighings,
      f.payments,
      f.invoices,
      new Map(f.trades.map((t) => [`${t.platform}:${t.tradeId}`, t.buyer.key])),
    ),
  ),
  SHELL_BURST: entry(
    z.object({ max_age_days: int, min_sales_fen: int }),
    { max_age_days: 180, min_sales_fen: 500_000_000 },
    (f, p) => shellBurst(f.window, f.trades, p),
  ),
  INVOICE_WITHOUT_TRADE: entry(z.object({ grace_days: int }), { grace_days: 7 }, (f, p) =>
    invoiceWithoutTrade(f.window, f.invoices, clock(f), p),
  ),
  HAZARDOUS_UNLICENSED: entry(z.object({}), {}, (f) => hazardousUnlicensed(f.window, f.trades, f.hazardous)),
} as never;
