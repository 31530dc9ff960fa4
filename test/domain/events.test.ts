import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SEED_MATERIAL_CODES } from '../../src/domain/catalog';
import {
  EVENT_TYPES,
  type EventType,
  eventSchema,
  type FieldError,
  parseEvent,
} from '../../src/domain/events';
import { makeResidentId, makeUscc } from '../../src/domain/ids';

const ctx = { materials: SEED_MATERIAL_CODES };

const RECYCLER = makeUscc('91440703MA4W00001');
const MILL = makeUscc('91440705MA4W00002');
const PERSON = makeResidentId('44070319900101123');

// biome-ignore lint/suspicious/noExplicitAny: test bodies are edited freely, field by field
type Json = Record<string, any>;

const enterprise = (uscc: string, name = '江门市某再生资源有限公司') => ({ kind: 'enterprise', uscc, name });
const person = () => ({ kind: 'natural_person', id_number: PERSON, name: '张三' });
const site = () => ({ code: 'JM-PJ-007', division: '440703', location: { lat: 22.5789, lon: '113.0815' } });
const ev = (type: EventType, data: Json): Json => ({ type, timestamp: '2026-10-02T08:15:00+08:00', data });

/** Fresh valid bodies, one per event type. */
const valid: Record<EventType, () => Json> = {
  'party.registered': () =>
    ev('party.registered', {
      uscc: RECYCLER,
      name: '江门市某再生资源有限公司',
      division: '440703',
      taxpayer_kind: 'general',
      established_on: '2019-06-18',
      recycling_filing_no: '440703-2023-0012',
      roles: ['recycler', 'hazardous_licensed'],
    }),
  'trade.created': () =>
    ev('trade.created', {
      trade_id: 'T-1',
      version: 1,
      occurred_at: '2026-10-02T08:00:00+08:00',
      seller: enterprise(RECYCLER),
      buyer: enterprise(MILL, '江门某钢铁有限公司'),
      site: site(),
      lines: [
        { material: 'FE_HEAVY', quantity: '12.345', unit: 't', unit_price: '2200.00', amount: '27159.00' },
        {
          material: 'CU',
          description: '紫铜',
          quantity: '0.005',
          unit: 'kg',
          unit_price: '1.00',
          amount: '0.01',
        },
      ],
      total_amount: '27159.01',
      tax_treatment: 'simple_3',
      upstream: [{ trade_id: 'T-0', quantity: '5000', unit: 'kg' }],
    }),
  'trade.amended': () => {
    const body = valid['trade.created']();
    body.type = 'trade.amended';
    body.data.version = 2;
    return body;
  },
  'trade.cancelled': () => ev('trade.cancelled', { trade_id: 'T-1', version: 3, reason: 'buyer withdrew' }),
  'payment.made': () =>
    ev('payment.made', {
      payment_id: 'P-1',
      trade_ids: ['T-1', 'T-2'],
      paid_at: '2026-10-02T09:00:00Z',
      amount: '27159.01',
      channel: 'bank_transfer',
      payer: {
        account_name: '江门某钢铁有限公司',
        account_no: '4400 1234 5678 9012',
        party: enterprise(MILL),
      },
      payee: { account_name: '张三', account_no: '6222020200001234010', party: person() },
      serial_no: '20261002123456789',
    }),
  'payment.reversed': () =>
    ev('payment.reversed', { payment_id: 'P-1', reversed_at: '2026-10-03T09:00:00+08:00', reason: 'refund' }),
  'weighing.recorded': () =>
    ev('weighing.recorded', {
      weighing_id: 'W-1',
      ticket_no: 'DB20261002-0042',
      trade_id: 'T-1',
      site: site(),
      vehicle_plate: '粤J12345',
      gross_kg: '42120.000',
      tare_kg: '15020.5',
      net_kg: '27099.5',
      weighed_at: '2026-10-02T07:50:00+08:00',
    }),
  'invoice.issued': () =>
    ev('invoice.issued', {
      invoice_no: '26442000000012345678',
      kind: 'special',
      issued_at: '2026-10-05T10:00:00+08:00',
      seller: enterprise(RECYCLER),
      buyer: enterprise(MILL),
      trade_ids: ['T-1'],
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '12.345',
          unit: 't',
          amount_ex_tax: '26367.96',
          tax_rate: '0.03',
          tax_amount: '791.04',
        },
      ],
      total_ex_tax: '26367.96',
      total_tax: '791.04',
      total: '27159.00',
    }),
  'invoice.reversed': () =>
    ev('invoice.reversed', {
      invoice_no: '26442000000087654321',
      original_invoice_no: '26442000000012345678',
      issued_at: '2026-10-06T10:00:00+08:00',
      reason: 'sale returned',
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '-12.345',
          unit: 't',
          amount_ex_tax: '-26367.96',
          tax_rate: '0.03',
          tax_amount: '-791.04',
        },
      ],
      total_ex_tax: '-26367.96',
      total_tax: '-791.04',
      total: '-27159.00',
    }),
};

function errorsOf(body: unknown): FieldError[] {
  const r = parseEvent(body, ctx);
  if (r.ok) throw new Error('expected validation errors, got a valid event');
  return r.errors;
}

/** Asserts that the body fails with an error at `pointer` (whose message matches `message`, if given). */
function expectError(body: unknown, pointer: string, message?: RegExp): void {
  const errors = errorsOf(body);
  const at = errors.filter((e) => e.pointer === pointer);
  expect(at, `no error at ${pointer}; got ${JSON.stringify(errors)}`).not.toHaveLength(0);
  if (message) expect(at.map((e) => e.message).join(' | ')).toMatch(message);
}

/** A valid body of `type`, modified by `edit`. */
function variant(type: EventType, edit: (b: Json) => void): Json {
  const b = valid[type]();
  edit(b);
  return b;
}

describe('valid examples', () => {
  it.each(EVENT_TYPES)('%s parses', (type) => {
    const r = parseEvent(valid[type](), ctx);
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.ok && r.event.type).toBe(type);
  });

  it('assigns each event its record identity', () => {
    const rec = (type: EventType, edit: (b: Json) => void = () => {}) => {
      const r = parseEvent(variant(type, edit), ctx);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.record;
    };
    expect(rec('party.registered')).toEqual({ kind: 'party', key: RECYCLER, version: null });
    expect(rec('trade.created')).toEqual({ kind: 'trade', key: 'T-1', version: 1 });
    expect(rec('trade.amended')).toEqual({ kind: 'trade', key: 'T-1', version: 2 });
    expect(rec('trade.cancelled')).toEqual({ kind: 'trade', key: 'T-1', version: 3 });
    expect(rec('payment.made')).toEqual({ kind: 'payment', key: 'P-1', version: 1 });
    expect(rec('payment.reversed')).toEqual({ kind: 'payment_reversal', key: 'P-1', version: 1 });
    expect(rec('weighing.recorded')).toEqual({ kind: 'weighing', key: 'W-1', version: 1 });
    expect(rec('invoice.issued')).toEqual({ kind: 'invoice', key: '26442000000012345678', version: 1 });
    expect(rec('invoice.reversed')).toEqual({ kind: 'invoice', key: '26442000000087654321', version: 1 });
    const legacy = (b: Json) => {
      delete b.data.invoice_no;
      b.data.code = '4400231130';
      b.data.number = '01234567';
    };
    expect(rec('invoice.issued', legacy).key).toBe('4400231130-01234567');
    expect(rec('invoice.issued', (b) => (b.data.invoice_no = '4400231130-01234567')).key).toBe(
      '4400231130-01234567',
    );
    expect(
      rec('invoice.issued', (b) => {
        legacy(b);
        b.data.invoice_no = '4400231130-01234567';
      }).key,
    ).toBe('4400231130-01234567');
  });

  it('ignores and drops unknown fields, and trims names', () => {
    const r = parseEvent(
      variant('trade.created', (b) => {
        b.id = 'evt-1';
        b.data.platform_extra = { anything: true };
        b.data.seller.name = '  江门市某再生资源有限公司 ';
        b.data.lines[0].grade = 'A';
      }),
      ctx,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.event.data).not.toHaveProperty('platform_extra');
    if (r.event.type !== 'trade.created') throw new Error('unexpected type');
    expect(r.event.data.seller.name).toBe('江门市某再生资源有限公司');
    expect(r.event.data.lines[0]).not.toHaveProperty('grade');
  });

  it('accepts amounts within ±0.01 of quantity × unit_price', () => {
    const r = parseEvent(
      variant('trade.created', (b) => {
        b.data.lines[0].amount = '27159.01';
        b.data.total_amount = '27159.02';
      }),
      ctx,
    );
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('accepts a trade sold by a natural person, a reverse invoice, an exempt red invoice without lines', () => {
    const ok = (b: Json) => {
      const r = parseEvent(b, ctx);
      expect(r.ok ? [] : r.errors).toEqual([]);
    };
    ok(variant('trade.created', (b) => (b.data.seller = person())));
    ok(
      variant('invoice.issued', (b) => {
        b.data.kind = 'reverse';
        b.data.seller = person();
        b.data.lines = [
          {
            material: 'PAPER',
            quantity: '1500',
            unit: 'kg',
            amount_ex_tax: '2400.00',
            tax_rate: '0',
            tax_amount: '0.00',
          },
        ];
        b.data.total_ex_tax = '2400.00';
        b.data.total_tax = '0.00';
        b.data.total = '2400.00';
      }),
    );
    ok(
      variant('invoice.reversed', (b) => {
        delete b.data.lines;
        b.data.total_ex_tax = '-2400.00';
        b.data.total_tax = '0.00';
        b.data.total = '-2400.00';
      }),
    );
  });

  it('the event schema describes every valid example and converts to JSON Schema', () => {
    for (const type of EVENT_TYPES) expect(eventSchema.safeParse(valid[type]()).success, type).toBe(true);
    expect(() => z.toJSONSchema(eventSchema, { io: 'input' })).not.toThrow();
  });
});

describe('envelope', () => {
  it('rejects a body that is not an object, at the root', () => {
    expect(errorsOf([1, 2])).toEqual([{ pointer: '', message: 'must be a JSON object' }]);
    expect(errorsOf('x')).toEqual([{ pointer: '', message: 'must be a JSON object' }]);
  });

  it('rejects an unknown type, listing the allowed ones', () => {
    expectError(
      variant('trade.created', (b) => (b.type = 'trade.deleted')),
      '/type',
      /must be one of: party\.registered, trade\.created.*invoice\.reversed/,
    );
    expectError(
      variant('trade.created', (b) => delete b.type),
      '/type',
      /is required/,
    );
  });

  it('requires RFC 3339 timestamps with an offset and a real date', () => {
    for (const t of [
      '2026-10-02T08:15:00',
      '2026-02-30T08:15:00+08:00',
      '2026-10-02 08:15:00+08:00',
      '1696212900',
      '',
    ]) {
      expectError(
        variant('trade.created', (b) => (b.timestamp = t)),
        '/timestamp',
        /RFC 3339/,
      );
    }
    expectError(
      variant('trade.created', (b) => (b.timestamp = 1696212900)),
      '/timestamp',
    );
  });

  it('requires data to be an object', () => {
    expectError(
      variant('trade.created', (b) => delete b.data),
      '/data',
      /is required/,
    );
    expectError(
      variant('trade.created', (b) => (b.data = [])),
      '/data',
      /must be an object/,
    );
  });

  it('prefixes pointers with pointerPrefix', () => {
    const r = parseEvent(
      variant('payment.made', (b) => (b.data.amount = '0')),
      ctx,
      '/lines/3',
    );
    expect(r.ok ? [] : r.errors).toEqual([
      { pointer: '/lines/3/data/amount', message: 'must be greater than 0' },
    ]);
  });
});

describe('parties', () => {
  it('checks the USCC check character', () => {
    expectError(
      variant('trade.created', (b) => (b.data.seller.uscc = '91350100M000100Y44')),
      '/data/seller/uscc',
      /GB 32100 check character/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller.uscc = '91350100m000100Y43')),
      '/data/seller/uscc',
      /upper case/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller.uscc = '913501')),
      '/data/seller/uscc',
      /18-character/,
    );
  });

  it('checks the resident id check character and birth date', () => {
    const badDate = '11010519490230002';
    expectError(
      variant('trade.created', (b) => (b.data.seller = { ...person(), id_number: '11010519491231002Y' })),
      '/data/seller/id_number',
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller = { ...person(), id_number: '110105194912310021' })),
      '/data/seller/id_number',
      /GB 11643/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller = { ...person(), id_number: badDate + '0' })),
      '/data/seller/id_number',
      /birth date/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller = { ...person(), id_number: '11010519491231002x' })),
      '/data/seller/id_number',
      /upper-case X/,
    );
    // A real calendar date, but after today: nobody trading now was born then.
    const tomorrow = new Date(Date.now() + 8 * 3600_000 + 86_400_000)
      .toISOString()
      .slice(0, 10)
      .replaceAll('-', '');
    expectError(
      variant(
        'trade.created',
        (b) => (b.data.seller = { ...person(), id_number: makeResidentId(`440703${tomorrow}123`) }),
      ),
      '/data/seller/id_number',
      /not after today/,
    );
  });

  it('requires names to be non-empty after trimming and at most 200 characters', () => {
    expectError(
      variant('trade.created', (b) => (b.data.seller.name = '   ')),
      '/data/seller/name',
      /must not be empty/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.seller.name = '名'.repeat(201))),
      '/data/seller/name',
      /at most 200/,
    );
  });

  it('rejects an unknown party kind', () => {
    expectError(
      variant('trade.created', (b) => (b.data.seller.kind = 'company')),
      '/data/seller/kind',
      /enterprise, natural_person/,
    );
  });

  it('requires the buyer of a trade to be an enterprise', () => {
    expectError(
      variant('trade.created', (b) => (b.data.buyer = person())),
      '/data/buyer/kind',
      /buyer of a trade must be an enterprise/,
    );
  });
});

describe('trade.created / trade.amended / trade.cancelled', () => {
  it('pins the version: 1 on create, at least 2 on amend and cancel', () => {
    expectError(
      variant('trade.created', (b) => (b.data.version = 2)),
      '/data/version',
      /must be 1/,
    );
    expectError(
      variant('trade.amended', (b) => (b.data.version = 1)),
      '/data/version',
      /at least 2/,
    );
    expectError(
      variant('trade.amended', (b) => (b.data.version = 2.5)),
      '/data/version',
      /integer/,
    );
    expectError(
      variant('trade.amended', (b) => (b.data.version = '2')),
      '/data/version',
      /integer/,
    );
    expectError(
      variant('trade.cancelled', (b) => (b.data.version = 1)),
      '/data/version',
      /cancellation is a new version/,
    );
  });

  it('requires a reason for a cancellation', () => {
    expectError(
      variant('trade.cancelled', (b) => (b.data.reason = ' ')),
      '/data/reason',
      /must not be empty/,
    );
    expectError(
      variant('trade.cancelled', (b) => delete b.data.reason),
      '/data/reason',
      /is required/,
    );
  });

  it('requires at least one line', () => {
    expectError(
      variant('trade.created', (b) => (b.data.lines = [])),
      '/data/lines',
      /at least 1 item/,
    );
  });

  it('requires each line material to be in the catalog', () => {
    expectError(
      variant('trade.created', (b) => (b.data.lines[1].material = 'GOLD')),
      '/data/lines/1/material',
      /not in the catalog/,
    );
  });

  it('rejects money and quantities given as JSON numbers', () => {
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].amount = 27159)),
      '/data/lines/0/amount',
      /must be a decimal string, not a JSON number/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.total_amount = 27159.01)),
      '/data/total_amount',
      /not a JSON number/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].quantity = 12.345)),
      '/data/lines/0/quantity',
      /not a JSON number/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].unit_price = 2200)),
      '/data/lines/0/unit_price',
      /not a JSON number/,
    );
  });

  it('rejects malformed decimal strings', () => {
    for (const amount of ['1e3', '+1', '1.234', ' 1', '01', '-1.00']) {
      expectError(
        variant('trade.created', (b) => (b.data.lines[0].amount = amount)),
        '/data/lines/0/amount',
        /CNY amount/,
      );
    }
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].unit_price = '2200.12345')),
      '/data/lines/0/unit_price',
      /4 decimals/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].unit_price = '-1')),
      '/data/lines/0/unit_price',
    );
  });

  it('requires quantities > 0 at gram precision for their unit', () => {
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].quantity = '0')),
      '/data/lines/0/quantity',
      /greater than 0/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[1].quantity = '0.0051')),
      '/data/lines/1/quantity',
      /gram precision/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].quantity = '12.3456789')),
      '/data/lines/0/quantity',
      /gram precision/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].unit = 'lb')),
      '/data/lines/0/unit',
      /t, kg/,
    );
  });

  it('refuses quantities, and sums of a record’s quantities, that grams in a bigint cannot hold', () => {
    // 15 integer digits of tonnes pass the decimal format but are 10^21 g: such a record would be
    // accepted and then fail in processing for ever. At most 10^9 t (10^15 g), alone and summed.
    expectError(
      variant('trade.created', (b) => (b.data.lines[0].quantity = '999999999999999')),
      '/data/lines/0/quantity',
      /at most 1000000000 t/,
    );
    expectError(
      variant('trade.created', (b) => {
        b.data.lines[0].quantity = '600000000';
        b.data.lines[1].quantity = '600000000';
        b.data.lines[1].unit = 't';
      }),
      '/data/lines',
      /add up to at most 1000000000 t/,
    );
    expectError(
      variant('trade.created', (b) => {
        b.data.upstream = [{ trade_id: 'UP-1', quantity: '1000000000.000001', unit: 't' }];
      }),
      '/data/upstream/0/quantity',
      /at most 1000000000 t/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.lines[0].quantity = '999999999999999')),
      '/data/lines/0/quantity',
      /at most 1000000000 t/,
    );
    expectError(
      variant('weighing.recorded', (b) => {
        b.data.gross_kg = '999999999999999.000';
        b.data.net_kg = '999999999999999.000';
        b.data.tare_kg = '0';
      }),
      '/data/gross_kg',
      /at most 1000000000 t/,
    );
    // The largest allowed quantity is accepted (the amounts then fail, not the quantity).
    const atLimit = variant('trade.created', (b) => (b.data.lines[0].quantity = '1000000000'));
    expect(errorsOf(atLimit).filter((e) => e.pointer === '/data/lines/0/quantity')).toEqual([]);
  });

  it('checks each line amount against quantity × unit_price, stating the expected value', () => {
    expectError(
      variant('trade.created', (b) => {
        b.data.lines[0].amount = '27159.02';
        b.data.total_amount = '27159.03';
      }),
      '/data/lines/0/amount',
      /expected 27159\.00/,
    );
    // 0.005 kg × 1.00 = 0.005 → 0.01 half-up, so 0.00 is off by exactly one fen: tolerated
    expect(
      parseEvent(
        variant('trade.created', (b) => {
          b.data.lines[1].amount = '0.00';
          b.data.total_amount = '27159.00';
        }),
        ctx,
      ).ok,
    ).toBe(true);
  });

  it('requires total_amount to equal the sum of the lines exactly', () => {
    expectError(
      variant('trade.created', (b) => (b.data.total_amount = '27159.00')),
      '/data/total_amount',
      /expected 27159\.01/,
    );
  });

  it('checks tax_treatment, site and upstream', () => {
    expectError(
      variant('trade.created', (b) => (b.data.tax_treatment = 'simple_5')),
      '/data/tax_treatment',
      /simple_3/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.code = '')),
      '/data/site/code',
      /must not be empty/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.code = 'x'.repeat(65))),
      '/data/site/code',
      /at most 64/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.division = '440000')),
      '/data/site/division',
      /not a whole province/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.division = '990703')),
      '/data/site/division',
      /province/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.location.lat = 91)),
      '/data/site/location/lat',
      /between -90 and 90/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.site.location.lon = 'east')),
      '/data/site/location/lon',
      /number or a decimal string/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.upstream[0].quantity = '0')),
      '/data/upstream/0/quantity',
      /greater than 0/,
    );
    expectError(
      variant('trade.created', (b) => (b.data.occurred_at = '2026-10-02')),
      '/data/occurred_at',
      /RFC 3339/,
    );
  });
});

describe('payment.made / payment.reversed', () => {
  it('requires a positive decimal-string amount', () => {
    expectError(
      variant('payment.made', (b) => (b.data.amount = '0.00')),
      '/data/amount',
      /greater than 0/,
    );
    expectError(
      variant('payment.made', (b) => (b.data.amount = 100)),
      '/data/amount',
      /not a JSON number/,
    );
    expectError(
      variant('payment.made', (b) => (b.data.amount = '1e3')),
      '/data/amount',
    );
  });

  it('rejects duplicate or empty trade ids but allows an empty list', () => {
    expectError(
      variant('payment.made', (b) => (b.data.trade_ids = ['T-1', 'T-2', 'T-1'])),
      '/data/trade_ids/2',
      /duplicates trade_ids\[0\]/,
    );
    expectError(
      variant('payment.made', (b) => (b.data.trade_ids = [''])),
      '/data/trade_ids/0',
    );
    expect(
      parseEvent(
        variant('payment.made', (b) => (b.data.trade_ids = [])),
        ctx,
      ).ok,
    ).toBe(true);
  });

  it('checks channel, accounts, party and time', () => {
    expectError(
      variant('payment.made', (b) => (b.data.channel = 'paypal')),
      '/data/channel',
      /bank_transfer, wechat_pay, alipay, cash, other/,
    );
    expectError(
      variant('payment.made', (b) => (b.data.payer.account_no = '6222_0202')),
      '/data/payer/account_no',
      /digits, letters, spaces and hyphens/,
    );
    expectError(
      variant('payment.made', (b) => (b.data.payer.account_no = '1'.repeat(41))),
      '/data/payer/account_no',
    );
    expectError(
      variant('payment.made', (b) => (b.data.payee.account_name = '')),
      '/data/payee/account_name',
    );
    expectError(
      variant('payment.made', (b) => (b.data.payer.party.uscc = '91440705MA4W00002A')),
      '/data/payer/party/uscc',
    );
    expectError(
      variant('payment.made', (b) => (b.data.paid_at = '2026-10-02T25:00:00Z')),
      '/data/paid_at',
    );
  });

  it('requires a reason and time on a reversal', () => {
    expectError(
      variant('payment.reversed', (b) => delete b.data.reason),
      '/data/reason',
      /is required/,
    );
    expectError(
      variant('payment.reversed', (b) => (b.data.reversed_at = '2026-10-03T09:00:00+08')),
      '/data/reversed_at',
    );
    expectError(
      variant('payment.reversed', (b) => (b.data.payment_id = ' P-1')),
      '/data/payment_id',
      /whitespace/,
    );
  });
});

describe('weighing.recorded', () => {
  it('requires net = gross − tare exactly', () => {
    expectError(
      variant('weighing.recorded', (b) => (b.data.net_kg = '27099.499')),
      '/data/net_kg',
      /expected 27099\.500/,
    );
  });

  it('requires gross > 0 and tare < gross', () => {
    expectError(
      variant('weighing.recorded', (b) => (b.data.gross_kg = '0')),
      '/data/gross_kg',
      /greater than 0/,
    );
    expectError(
      variant('weighing.recorded', (b) => {
        b.data.tare_kg = '42120';
        b.data.net_kg = '0';
      }),
      '/data/tare_kg',
      /less than gross_kg/,
    );
    expectError(
      variant('weighing.recorded', (b) => (b.data.gross_kg = 42120)),
      '/data/gross_kg',
      /not a JSON number/,
    );
    expectError(
      variant('weighing.recorded', (b) => (b.data.tare_kg = '1.2345')),
      '/data/tare_kg',
      /3 decimals/,
    );
  });

  it('checks the vehicle plate', () => {
    expectError(
      variant('weighing.recorded', (b) => (b.data.vehicle_plate = '粤J1234')),
      '/data/vehicle_plate',
      /vehicle plate/,
    );
  });
});

describe('invoice.issued', () => {
  it('requires an invoice number in one of the accepted forms', () => {
    expectError(
      variant('invoice.issued', (b) => delete b.data.invoice_no),
      '/data/invoice_no',
      /is required/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.invoice_no = '2644200000001234567')),
      '/data/invoice_no',
      /20 digits/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        delete b.data.invoice_no;
        b.data.code = '4400231130';
      }),
      '/data/number',
      /together with code/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        b.data.code = '4400231130';
        b.data.number = '01234567';
      }),
      '/data/invoice_no',
      /disagrees with code and number/,
    );
  });

  it('checks kind and the seller and buyer kinds it implies', () => {
    expectError(
      variant('invoice.issued', (b) => (b.data.kind = 'red')),
      '/data/kind',
      /special, ordinary, reverse/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.kind = 'reverse')),
      '/data/seller/kind',
      /natural_person/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        b.data.kind = 'reverse';
        b.data.seller = person();
        b.data.buyer = person();
      }),
      '/data/buyer/kind',
      /enterprise/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        b.data.kind = 'ordinary';
        b.data.seller = person();
      }),
      '/data/seller/kind',
      /only a reverse invoice/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.buyer = person())),
      '/data/buyer/kind',
      /special VAT invoice/,
    );
  });

  it('checks each line: catalog, tax rate, tax amount', () => {
    expectError(
      variant('invoice.issued', (b) => (b.data.lines[0].material = 'UNOBTAINIUM')),
      '/data/lines/0/material',
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.lines[0].tax_rate = '1')),
      '/data/lines/0/tax_rate',
      /\[0, 1\)/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.lines[0].tax_rate = 0.03)),
      '/data/lines/0/tax_rate',
      /not a JSON number/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        b.data.lines[0].tax_amount = '791.06';
        b.data.total_tax = '791.06';
        b.data.total = '27159.02';
      }),
      '/data/lines/0/tax_amount',
      /expected 791\.04/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.lines = [])),
      '/data/lines',
    );
  });

  it('requires the totals to add up exactly', () => {
    expectError(
      variant('invoice.issued', (b) => {
        b.data.total_ex_tax = '26367.95';
        b.data.total = '27158.99';
      }),
      '/data/total_ex_tax',
      /expected 26367\.96/,
    );
    expectError(
      variant('invoice.issued', (b) => {
        b.data.lines[0].tax_amount = '791.05'; // within the line tolerance
        b.data.total = '27159.01';
      }),
      '/data/total_tax',
      /expected 791\.05/,
    );
    expectError(
      variant('invoice.issued', (b) => (b.data.total = '27159.01')),
      '/data/total',
      /expected 27159\.00/,
    );
  });
});

describe('invoice.reversed', () => {
  it('requires negative totals that add up', () => {
    expectError(
      variant('invoice.reversed', (b) => (b.data.total = '27159.00')),
      '/data/total',
      /must be negative/,
    );
    expectError(
      variant('invoice.reversed', (b) => (b.data.total_ex_tax = '26367.96')),
      '/data/total_ex_tax',
      /must be negative/,
    );
    expectError(
      variant('invoice.reversed', (b) => (b.data.total_tax = '791.04')),
      '/data/total_tax',
      /must not be positive/,
    );
    expectError(
      variant('invoice.reversed', (b) => {
        delete b.data.lines;
        b.data.total = '-27159.01';
      }),
      '/data/total',
      /expected -27159\.00/,
    );
  });

  it('requires given lines to sum to the totals', () => {
    expectError(
      variant('invoice.reversed', (b) => {
        b.data.total_ex_tax = '-26367.95';
        b.data.total = '-27158.99';
      }),
      '/data/total_ex_tax',
      /expected -26367\.96/,
    );
    expectError(
      variant('invoice.reversed', (b) => (b.data.lines[0].quantity = '12.345')),
      '/data/lines/0/quantity',
      /negative/,
    );
  });

  it('requires the red invoice to differ from the original', () => {
    expectError(
      variant('invoice.reversed', (b) => (b.data.invoice_no = b.data.original_invoice_no)),
      '/data/original_invoice_no',
      /must differ/,
    );
    expectError(
      variant('invoice.reversed', (b) => (b.data.original_invoice_no = 'ABC')),
      '/data/original_invoice_no',
    );
  });
});

describe('party.registered', () => {
  it('checks uscc, division, taxpayer kind, date and roles', () => {
    expectError(
      variant('party.registered', (b) => (b.data.uscc = '91350100M000100Y44')),
      '/data/uscc',
      /check character/,
    );
    expectError(
      variant('party.registered', (b) => (b.data.division = '4407')),
      '/data/division',
      /6-digit/,
    );
    expectError(
      variant('party.registered', (b) => (b.data.taxpayer_kind = 'large')),
      '/data/taxpayer_kind',
      /general, small_scale/,
    );
    expectError(
      variant('party.registered', (b) => (b.data.established_on = '2023-02-29')),
      '/data/established_on',
      /real calendar date/,
    );
    expectError(
      variant('party.registered', (b) => (b.data.roles = ['recycler', 'trader'])),
      '/data/roles/1',
      /generator, recycler, sorting_center, utilizer, hazardous_licensed/,
    );
    expectError(
      variant('party.registered', (b) => (b.data.roles = ['recycler', 'utilizer', 'recycler'])),
      '/data/roles/2',
      /duplicates roles\[0\]/,
    );
    expect(
      parseEvent(
        variant('party.registered', (b) => (b.data.roles = [])),
        ctx,
      ).ok,
    ).toBe(true);
    expect(
      parseEvent(
        variant('party.registered', (b) => delete b.data.recycling_filing_no),
        ctx,
      ).ok,
    ).toBe(true);
  });
});

describe('multiple errors', () => {
  it('reports every problem at once, shape and arithmetic alike', () => {
    const errors = errorsOf(
      variant('trade.created', (b) => {
        b.timestamp = 'yesterday';
        b.data.seller.uscc = '91350100M000100Y44';
        b.data.lines[0].amount = 27159; // shape
        b.data.lines[1].material = 'GOLD'; // catalog
        b.data.lines[1].amount = '0.05'; // arithmetic (line 1)
        b.data.site.division = '000000';
      }),
    );
    expect(errors.map((e) => e.pointer).sort()).toEqual(
      [
        '/timestamp',
        '/data/seller/uscc',
        '/data/lines/0/amount',
        '/data/lines/1/material',
        '/data/lines/1/amount',
        '/data/site/division',
      ].sort(),
    );
  });

  it('reports missing required fields each at its own pointer', () => {
    const errors = errorsOf(ev('weighing.recorded', {}));
    for (const field of [
      'weighing_id',
      'ticket_no',
      'trade_id',
      'site',
      'vehicle_plate',
      'gross_kg',
      'tare_kg',
      'net_kg',
      'weighed_at',
    ]) {
      expect(errors).toContainEqual({ pointer: `/data/${field}`, message: 'is required' });
    }
  });
});

describe('robustness', () => {
  it('never throws, whatever the body (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const r = parseEvent(body, ctx);
        expect(r.ok).toBe(false);
      }),
    );
  });

  it('never throws when any field of a valid event is replaced by any JSON value (property)', () => {
    /** Every path (as keys) to a value inside a body. */
    const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] => {
      if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
      if (typeof v === 'object' && v !== null) {
        return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
      }
      return [at];
    };
    fc.assert(
      fc.property(fc.constantFrom(...EVENT_TYPES), fc.nat(), fc.jsonValue(), (type, pick, replacement) => {
        const body = valid[type]();
        const all = paths(body).filter((p) => p.length > 0);
        const path = all[pick % all.length]!;
        let parent: Json = body;
        for (const k of path.slice(0, -1)) parent = parent[k];
        parent[path[path.length - 1]!] = replacement;
        const r = parseEvent(body, ctx);
        if (!r.ok) for (const e of r.errors) expect(e.pointer.startsWith('/')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
