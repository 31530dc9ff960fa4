import { describe, expect, it } from 'vitest';
import { fundsRoundTrip, sharedPayeeAccount, thirdPartyPayee } from '../../../src/domain/rules/funds-rules';
import { DAY_MS, periodWindow } from '../../../src/domain/rules/types';
import {
  type Account,
  cst,
  enterprise,
  MINUTE_MS,
  PLATFORM,
  paid,
  payment,
  person,
  subject,
  yuan,
} from './builders';

/** The funds rules (DOMAIN.md section 7). Accounts are blind indexes; here short labels. */
const W = periodWindow('2026-10');
const AT = cst(2026, 10, 10, 10);
const buyer = enterprise('B');
const seller = person('S');

describe('THIRD_PARTY_PAYEE', () => {
  const to = (key: string | null, name: string): Account => ({ key, name, account: 'acct-9999' });

  it('a payee that is neither the seller nor named as the seller is high on the buyer', () => {
    const p = payment('PAY1', {
      paidMs: AT,
      serialNo: 'SN1',
      payee: to(null, '某第三人'),
      trades: [paid('T1', seller, buyer)],
    });
    const [f, ...rest] = thirdPartyPayee(W, [p]);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'THIRD_PARTY_PAYEE',
      severity: 'high',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.documents).toEqual([{ kind: 'payment', number: 'SN1' }]);
    expect(f!.evidence).toEqual({
      payment_id: 'PAY1',
      amount: '22000.00',
      payee_name: '某第三人',
      payee_account: '6222 **** **** 9999',
      seller_name: '个人S',
    });
  });

  it('payee = seller by party key is nothing, whatever the account name', () => {
    const p = payment('PAY2', { paidMs: AT, payee: to('S', '张三（微信）'), trades: [paid('T1', seller)] });
    expect(thirdPartyPayee(W, [p])).toEqual([]);
  });

  it('payee = seller by account name is nothing (surrounding spaces ignored)', () => {
    const p = payment('PAY3', { paidMs: AT, payee: to(null, ' 个人S '), trades: [paid('T1', seller)] });
    expect(thirdPartyPayee(W, [p])).toEqual([]);
  });

  it('another party’s key under another name fires', () => {
    const p = payment('PAY4', { paidMs: AT, payee: to('X', '企业X'), trades: [paid('T1', seller)] });
    expect(thirdPartyPayee(W, [p]).map((f) => f.evidence.payee_name)).toEqual(['企业X']);
  });

  it('a payment for two trades fires only for the trade whose seller it did not pay', () => {
    const other = person('S2');
    const p = payment('PAY5', {
      paidMs: AT,
      payee: to('S', '个人S'),
      trades: [paid('T1', seller), paid('T2', other)],
    });
    expect(thirdPartyPayee(W, [p]).map((f) => [f.trades[0]!.trade_id, f.evidence.seller_name])).toEqual([
      ['T2', '个人S2'],
    ]);
  });

  it('reversed payments and payments of another month are nothing', () => {
    const third = to(null, '某第三人');
    const reversed = payment('PAY6', {
      paidMs: AT,
      payee: third,
      reversed: true,
      trades: [paid('T1', seller)],
    });
    const sept = payment('PAY7', {
      paidMs: cst(2026, 9, 30, 23),
      payee: third,
      trades: [paid('T1', seller)],
    });
    expect(thirdPartyPayee(W, [reversed, sept])).toEqual([]);
  });
});

describe('FUNDS_ROUND_TRIP', () => {
  const X: Account = { key: 'X', name: '企业X', account: 'acct-x' };
  const Y: Account = { key: 'Y', name: '企业Y', account: 'acct-y' };
  const P = { window_days: 30, min_share_basis_points: 5_000 };
  const OUT = cst(2026, 10, 1, 10);
  const out = payment('OUT', {
    paidMs: OUT,
    amountFen: yuan(100_000),
    payer: X,
    payee: Y,
    serialNo: 'SN-OUT',
    trades: [paid('T1', enterprise('Y'), enterprise('X'))],
  });
  const back = (paidMs: number, amount: string, over: { payer?: Account; payee?: Account } = {}) =>
    payment('BACK', {
      paidMs,
      amountFen: yuan(amount),
      payer: over.payer ?? Y,
      payee: over.payee ?? X,
      serialNo: 'SN-BACK',
    });

  it('half of it back from the payee’s account within 30 days is critical on the first payer', () => {
    const [f, ...rest] = fundsRoundTrip(W, [out, back(cst(2026, 10, 20, 10), '50000.00')], P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'FUNDS_ROUND_TRIP',
      severity: 'critical',
      party: 'X',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.documents).toEqual([
      { kind: 'payment', number: 'SN-OUT' },
      { kind: 'payment', number: 'SN-BACK' },
    ]);
    expect(f!.evidence).toEqual({
      outgoing_payment: 'OUT',
      outgoing_amount: '100000.00',
      return_payment: 'BACK',
      return_amount: '50000.00',
      days_between: 19,
      window_days: 30,
      min_share: '0.50',
    });
  });

  it('49.99% back is nothing', () => {
    expect(fundsRoundTrip(W, [out, back(cst(2026, 10, 20, 10), '49999.99')], P)).toEqual([]);
  });

  it('exactly 30 days later fires; 30 days and a minute is nothing', () => {
    expect(fundsRoundTrip(W, [out, back(OUT + 30 * DAY_MS, '50000.00')], P)).toHaveLength(1);
    expect(fundsRoundTrip(W, [out, back(OUT + 30 * DAY_MS + MINUTE_MS, '50000.00')], P)).toEqual([]);
  });

  it('order decides whose round trip it is; at the same instant there is none', () => {
    // Y paid X first, X paid Y back a minute later: Y's money came back, not X's.
    const fs = fundsRoundTrip(W, [out, back(OUT - MINUTE_MS, '100000.00')], P);
    expect(fs.map((f) => [f.partyKey, f.evidence.outgoing_payment, f.evidence.return_payment])).toEqual([
      ['Y', 'BACK', 'OUT'],
    ]);
    expect(fundsRoundTrip(W, [out, back(OUT, '100000.00')], P)).toEqual([]);
  });

  it('from another account of Y, or to another account of X (by party key), fires; a stranger is nothing', () => {
    const otherY = { ...Y, account: 'acct-y2' };
    expect(fundsRoundTrip(W, [out, back(cst(2026, 10, 20), '60000.00', { payer: otherY })], P)).toHaveLength(
      1,
    );
    const strangerPays = { key: 'Z', name: '企业Z', account: 'acct-z' };
    expect(fundsRoundTrip(W, [out, back(cst(2026, 10, 20), '60000.00', { payer: strangerPays })], P)).toEqual(
      [],
    );
    const otherX = { ...X, account: 'acct-x2' };
    expect(fundsRoundTrip(W, [out, back(cst(2026, 10, 20), '60000.00', { payee: otherX })], P)).toHaveLength(
      1,
    );
    const stranger = { key: 'Z', name: '企业Z', account: 'acct-z' };
    expect(fundsRoundTrip(W, [out, back(cst(2026, 10, 20), '60000.00', { payee: stranger })], P)).toEqual([]);
  });

  it('is reported in the month of the return; a September payment returned in October counts', () => {
    const sept = { ...out, paidMs: cst(2026, 9, 15) };
    const ret = back(cst(2026, 10, 5), '80000.00');
    expect(fundsRoundTrip(W, [sept, ret], P).map((f) => f.evidence.days_between)).toEqual([20]);
    expect(fundsRoundTrip(periodWindow('2026-09'), [sept, ret], P)).toEqual([]);
  });

  it('a reversed return is nothing', () => {
    expect(fundsRoundTrip(W, [out, { ...back(cst(2026, 10, 20), '50000.00'), reversed: true }], P)).toEqual(
      [],
    );
  });
});

describe('SHARED_PAYEE_ACCOUNT', () => {
  const Z: Account = { key: null, name: '代收人', account: 'acct-shared' };
  const P = { min_sellers: 3 };
  const pay = (id: string, day: number, s = person(id), b = buyer) =>
    payment(id, {
      paidMs: cst(2026, 10, day),
      payee: Z,
      amountFen: yuan(10_000),
      trades: [paid(`T-${id}`, s, b)],
    });

  it('3 different natural-person sellers paid into one account in a month is high on the main payer', () => {
    const other = enterprise('B2');
    const list = [
      pay('P3', 12),
      pay('P1', 3),
      pay('P2', 7, person('P2'), other),
      pay('P4', 20, person('P1')),
    ];
    const [f, ...rest] = sharedPayeeAccount(W, list, P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'SHARED_PAYEE_ACCOUNT',
      severity: 'high',
      party: 'B',
      period: '2026-10',
      trades: ['T-P1', 'T-P2', 'T-P3', 'T-P4'].map((x) => `${PLATFORM}:${x}`),
    });
    expect(f!.documents.map((d) => d.number)).toEqual(['P1', 'P2', 'P3', 'P4']);
    expect(f!.evidence).toEqual({
      payee_account: '6222 **** **** ared',
      distinct_sellers: 3,
      min_sellers: 3,
      payments: 4,
      total: '40000.00',
    });
  });

  it('2 sellers is nothing, however many payments', () => {
    const list = [pay('P1', 3), pay('P2', 4), pay('P3', 5, person('P1')), pay('P4', 6, person('P2'))];
    expect(sharedPayeeAccount(W, list, P)).toEqual([]);
  });

  it('enterprise sellers, other months and reversed payments do not count', () => {
    const list = [
      pay('P1', 3),
      pay('P2', 4),
      pay('P3', 5, enterprise('E3')),
      { ...pay('P4', 6), reversed: true },
      { ...pay('P5', 1), paidMs: cst(2026, 9, 30) },
    ];
    expect(sharedPayeeAccount(W, list, P)).toEqual([]);
  });
});
