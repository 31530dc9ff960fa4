import { formatMoney } from '../money';
import type { PaymentFact } from './facts';
import { DAY_MS, type Finding, type PeriodWindow, periodOfMs } from './types';

/**
 * Rules on the funds flow. Account identity is the blind index of the normalised account
 * number, so the same account is recognised whatever the platform, without decrypting it.
 */

export interface ThirdPartyPayeeParams {
  enabled_channels?: string[];
}

export interface FundsRoundTripParams {
  window_days: number;
  min_share_basis_points: number;
}

export interface SharedPayeeAccountParams {
  min_sellers: number;
}

const paymentNumber = (p: PaymentFact) => p.serialNo ?? p.paymentId;

/** THIRD_PARTY_PAYEE: the payee is neither the seller nor an account in the seller's name. */
export function thirdPartyPayee(w: PeriodWindow, payments: readonly PaymentFact[]): Finding[] {
  const out: Finding[] = [];
  for (const p of payments) {
    if (p.reversed || periodOfMs(p.paidMs) !== w.period) continue;
    for (const t of p.trades) {
      const toSeller = p.payeeKey === t.sellerKey || p.payeeName.trim() === t.sellerName.trim();
      if (toSeller) continue;
      out.push({
        rule: 'THIRD_PARTY_PAYEE',
        dedupeKey: `${p.platform}:${p.paymentId}:${t.tradeId}`,
        severity: 'high',
        partyKey: t.buyerKey,
        period: w.period,
        trades: [{ platform: t.platform, trade_id: t.tradeId }],
        documents: [{ kind: 'payment', number: paymentNumber(p) }],
        summaryZh: `交易 ${t.tradeId} 的货款 ¥${formatMoney(p.amountFen)} 付给了 ${p.payeeName}，而非卖方 ${t.sellerName}`,
        summaryEn: `Trade ${t.tradeId}: ¥${formatMoney(p.amountFen)} was paid to ${p.payeeName}, not to the seller ${t.sellerName}`,
        evidence: {
          payment_id: p.paymentId,
          amount: formatMoney(p.amountFen),
          payee_name: p.payeeName,
          payee_account: p.payeeAccountMasked,
          seller_name: t.sellerName,
        },
      });
    }
  }
  return out;
}

/**
 * FUNDS_ROUND_TRIP (资金回流): within `window_days` of paying Y, X receives back from Y's account
 * at least `min_share` of that amount. The finding's period is the month of the return payment.
 */
export function fundsRoundTrip(
  w: PeriodWindow,
  payments: readonly PaymentFact[],
  p: FundsRoundTripParams,
): Finding[] {
  const out: Finding[] = [];
  const live = payments.filter((x) => !x.reversed);
  const byPayerAccount = new Map<string, PaymentFact[]>();
  const byPayerKey = new Map<string, PaymentFact[]>();
  const add = (m: Map<string, PaymentFact[]>, k: string, x: PaymentFact) => {
    const list = m.get(k) ?? [];
    if (list.length === 0) m.set(k, list);
    list.push(x);
  };
  for (const x of live) {
    add(byPayerAccount, x.payerAccount, x);
    if (x.payerKey !== null) add(byPayerKey, x.payerKey, x);
  }
  const seen = new Set<string>();
  for (const out1 of live) {
    // The return: paid from Y's account — the one out1 paid into, or another in Y's name (the
    // payer party is Y) — back to out1's payer.
    const fromY = new Set([
      ...(byPayerAccount.get(out1.payeeAccount) ?? []),
      ...(out1.payeeKey !== null ? (byPayerKey.get(out1.payeeKey) ?? []) : []),
    ]);
    for (const back of fromY) {
      if (periodOfMs(back.paidMs) !== w.period) continue;
      const toX =
        back.payeeAccount === out1.payerAccount ||
        (out1.payerKey !== null && back.payeeKey === out1.payerKey);
      if (!toX) continue;
      if (back.paidMs <= out1.paidMs || back.paidMs > out1.paidMs + p.window_days * DAY_MS) continue;
      if (back.amountFen * 10_000n < out1.amountFen * BigInt(p.min_share_basis_points)) continue;
      const x = out1.payerKey ?? out1.trades[0]?.buyerKey;
      if (!x) continue;
      const key = `${out1.platform}:${out1.paymentId}>${back.platform}:${back.paymentId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const days = Math.round((back.paidMs - out1.paidMs) / DAY_MS);
      out.push({
        rule: 'FUNDS_ROUND_TRIP',
        dedupeKey: key,
        severity: 'critical',
        partyKey: x,
        period: w.period,
        trades: [...out1.trades, ...back.trades].map((t) => ({ platform: t.platform, trade_id: t.tradeId })),
        documents: [
          { kind: 'payment', number: paymentNumber(out1) },
          { kind: 'payment', number: paymentNumber(back) },
        ],
        summaryZh: `${out1.payerName} 付给 ${out1.payeeName} ¥${formatMoney(out1.amountFen)} 后 ${days} 天内，从对方账户收回 ¥${formatMoney(back.amountFen)}（资金回流）`,
        summaryEn: `${out1.payerName} paid ${out1.payeeName} ¥${formatMoney(out1.amountFen)} and received ¥${formatMoney(back.amountFen)} back from that account ${days} days later`,
        evidence: {
          outgoing_payment: out1.paymentId,
          outgoing_amount: formatMoney(out1.amountFen),
          return_payment: back.paymentId,
          return_amount: formatMoney(back.amountFen),
          days_between: days,
          window_days: p.window_days,
          min_share: (p.min_share_basis_points / 10_000).toFixed(2),
        },
      });
    }
  }
  return out;
}

/**
 * SHARED_PAYEE_ACCOUNT: one account receives payments for at least `min_sellers` different
 * natural-person sellers in the month (borrowed identity cards). Subject: the enterprise that
 * made most of those payments.
 */
export function sharedPayeeAccount(
  w: PeriodWindow,
  payments: readonly PaymentFact[],
  p: SharedPayeeAccountParams,
): Finding[] {
  const byAccount = new Map<string, PaymentFact[]>();
  for (const x of payments) {
    if (x.reversed || periodOfMs(x.paidMs) !== w.period) continue;
    if (!x.trades.some((t) => t.sellerKind === 'natural_person')) continue;
    const list = byAccount.get(x.payeeAccount) ?? [];
    if (list.length === 0) byAccount.set(x.payeeAccount, list);
    list.push(x);
  }
  const out: Finding[] = [];
  for (const [account, list] of byAccount) {
    const sellers = new Set(
      list.flatMap((x) => x.trades.filter((t) => t.sellerKind === 'natural_person').map((t) => t.sellerKey)),
    );
    if (sellers.size < p.min_sellers) continue;
    const payers = new Map<string, number>();
    for (const x of list) for (const t of x.trades) payers.set(t.buyerKey, (payers.get(t.buyerKey) ?? 0) + 1);
    const [subject] = [...payers].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0] ?? [];
    if (!subject) continue;
    const total = list.reduce((s, x) => s + x.amountFen, 0n);
    const sorted = [...list].sort((a, b) => a.paidMs - b.paidMs || (a.paymentId < b.paymentId ? -1 : 1));
    out.push({
      rule: 'SHARED_PAYEE_ACCOUNT',
      dedupeKey: account.slice(0, 32),
      severity: 'high',
      partyKey: subject,
      period: w.period,
      trades: sorted.flatMap((x) => x.trades.map((t) => ({ platform: t.platform, trade_id: t.tradeId }))),
      documents: sorted.map((x) => ({ kind: 'payment' as const, number: paymentNumber(x) })),
      summaryZh: `账户 ${list[0]!.payeeAccountMasked} 本月收取了 ${sellers.size} 名不同自然人卖方的货款，共 ¥${formatMoney(total)}`,
      summaryEn: `Account ${list[0]!.payeeAccountMasked} received payments for ${sellers.size} different natural-person sellers this month, ¥${formatMoney(total)} in all`,
      evidence: {
        payee_account: list[0]!.payeeAccountMasked,
        distinct_sellers: sellers.size,
        min_sellers: p.min_sellers,
        payments: list.length,
        total: formatMoney(total),
      },
    });
  }
  return out;
}
