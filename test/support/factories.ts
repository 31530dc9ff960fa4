import { makeResidentId, makeUscc } from '../../src/domain/ids';
import { formatMoney } from '../../src/domain/money';
import { uid } from './context';

/** Valid identifiers, unique per call, with real check characters. */
let n = 0;
export function uscc(division = '440703'): string {
  n += 1;
  const serial = (Date.now() % 1e6).toString().padStart(6, '0') + (n % 1000).toString().padStart(3, '0');
  return makeUscc(`91${division}${serial}`.slice(0, 17));
}

export function residentId(division = '440703', birth = '19800101'): string {
  n += 1;
  return makeResidentId(`${division}${birth}${(n % 1000).toString().padStart(3, '0')}`);
}

export function enterprise(name = '江门回收有限公司', division = '440703') {
  return { kind: 'enterprise' as const, uscc: uscc(division), name };
}

export function person(name = '张三', division = '440703') {
  return { kind: 'natural_person' as const, id_number: residentId(division), name };
}

export function envelope(type: string, data: unknown, timestamp = '2026-10-02T08:15:00+08:00') {
  return { type, timestamp, data };
}

export function tradeCreated(over: Record<string, unknown> = {}) {
  return envelope('trade.created', {
    trade_id: uid('T'),
    version: 1,
    occurred_at: '2026-10-02T08:15:00+08:00',
    seller: person(),
    buyer: enterprise(),
    site: { code: 'S-01', division: '440703' },
    lines: [
      { material: 'FE_HEAVY', quantity: '12.345', unit: 't', unit_price: '2200.00', amount: '27159.00' },
    ],
    total_amount: '27159.00',
    tax_treatment: 'reverse_invoice',
    ...over,
  });
}

type AnyParty = ReturnType<typeof enterprise> | ReturnType<typeof person>;

/**
 * A `trade.created` of the given lines — `[material, quantity, unit_price, amount]`, quantities in
 * `unit` (kg unless said) — totalled; sold at a site in the buyer's division; reverse-invoiced
 * when a natural person sells, else `simple_3`, unless `treatment` says.
 */
export function tradeOf(
  id: string,
  seller: AnyParty,
  buyer: ReturnType<typeof enterprise>,
  at: string,
  lines: [material: string, quantity: string, unitPrice: string, amount: string][],
  opts: { unit?: 't' | 'kg'; treatment?: string; upstream?: object[] } = {},
) {
  const totalFen = lines.reduce((s, l) => s + BigInt(l[3].replace('.', '')), 0n);
  return envelope('trade.created', {
    trade_id: id,
    version: 1,
    occurred_at: at,
    seller,
    buyer,
    site: { code: 'S1', division: buyer.uscc.slice(2, 8) },
    lines: lines.map(([material, quantity, unit_price, amount]) => ({
      material,
      quantity,
      unit: opts.unit ?? 'kg',
      unit_price,
      amount,
    })),
    total_amount: `${totalFen / 100n}.${(totalFen % 100n).toString().padStart(2, '0')}`,
    tax_treatment: opts.treatment ?? (seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3'),
    ...(opts.upstream ? { upstream: opts.upstream } : {}),
  });
}

export function paymentMade(over: Record<string, unknown> = {}) {
  return envelope('payment.made', {
    payment_id: uid('P'),
    trade_ids: [],
    paid_at: '2026-10-02T09:00:00+08:00',
    amount: '27159.00',
    channel: 'bank_transfer',
    payer: { account_name: '江门回收有限公司', account_no: '6222020200001234010' },
    payee: { account_name: '张三', account_no: '6222020200009876543' },
    ...over,
  });
}

export function weighingRecorded(over: Record<string, unknown> = {}) {
  return envelope('weighing.recorded', {
    weighing_id: uid('W'),
    ticket_no: uid('TK'),
    trade_id: 'T-1',
    site: { code: 'S-01', division: '440703' },
    vehicle_plate: '粤J12345',
    gross_kg: '20345.000',
    tare_kg: '8000.000',
    net_kg: '12345.000',
    weighed_at: '2026-10-02T08:00:00+08:00',
    ...over,
  });
}

export function invoiceIssued(over: Record<string, unknown> = {}) {
  return envelope('invoice.issued', {
    invoice_no: `2644${Math.floor(Math.random() * 1e15)
      .toString()
      .padStart(16, '0')}`.slice(0, 20),
    kind: 'special',
    issued_at: '2026-10-05T10:00:00+08:00',
    seller: enterprise('江门分拣中心有限公司'),
    buyer: enterprise('江门钢铁有限公司', '440705'),
    trade_ids: [],
    lines: [
      {
        material: 'FE_HEAVY',
        quantity: '10',
        unit: 't',
        amount_ex_tax: '20000.00',
        tax_rate: '0.03',
        tax_amount: '600.00',
      },
    ],
    total_ex_tax: '20000.00',
    total_tax: '600.00',
    total: '20600.00',
    ...over,
  });
}

export function partyRegistered(over: Record<string, unknown> = {}) {
  return envelope('party.registered', {
    uscc: uscc(),
    name: '江门再生资源有限公司',
    division: '440703',
    taxpayer_kind: 'general',
    established_on: '2020-05-01',
    recycling_filing_no: 'JM-2020-001',
    roles: ['recycler'],
    ...over,
  });
}

/** A payment of one declared trade, between the parties' own accounts (payer account fixed). */
export function paymentFor(
  id: string,
  tradeId: string,
  amount: string,
  payer: AnyParty,
  payee: AnyParty,
  account: string,
  at: string,
) {
  return envelope('payment.made', {
    payment_id: id,
    trade_ids: [tradeId],
    paid_at: at,
    amount,
    channel: 'bank_transfer',
    payer: { account_name: payer.name, account_no: '6222000000000000001', party: payer },
    payee: { account_name: payee.name, account_no: account, party: payee },
  });
}

/** A weighbridge ticket of `netKg` (tare 15 t) for one trade at site S1 in 440703. */
export function weighingFor(id: string, tradeId: string, netKg: number, at: string) {
  return envelope('weighing.recorded', {
    weighing_id: id,
    ticket_no: `TK-${id}`,
    trade_id: tradeId,
    site: { code: 'S1', division: '440703' },
    vehicle_plate: '粤J12345',
    gross_kg: `${15000 + netKg}.000`,
    tare_kg: '15000.000',
    net_kg: `${netKg}.000`,
    weighed_at: at,
  });
}

/** A one-line trade of `kg` kilograms at `fenPerKg`; the event's timestamp (the data clock) is `at`. */
export function pricedTrade(
  id: string,
  seller: AnyParty,
  buyer: AnyParty,
  o: { kg: number; fenPerKg: number; at: string; version?: number; material?: string },
) {
  const amount = formatMoney(BigInt(o.kg) * BigInt(o.fenPerKg));
  const version = o.version ?? 1;
  return envelope(
    version > 1 ? 'trade.amended' : 'trade.created',
    {
      trade_id: id,
      version,
      occurred_at: o.at,
      seller,
      buyer,
      site: { code: 'S1', division: '440703' },
      lines: [
        {
          material: o.material ?? 'FE_HEAVY',
          quantity: String(o.kg),
          unit: 'kg',
          unit_price: formatMoney(BigInt(o.fenPerKg)),
          amount,
        },
      ],
      total_amount: amount,
      tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
    },
    o.at,
  );
}
