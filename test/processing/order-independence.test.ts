import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildChain } from '../../src/chains/chain.service';
import { insertPlatform } from '../../src/repositories/platforms.repository';
import { generateSecret } from '../../src/security/webhook';
import { createTestContext, type TestContext, uid } from '../support/context';
import { enterprise, envelope, person } from '../support/factories';
import { drain } from '../support/pipeline';

/**
 * CONTRACT.md section 2: "Re-allocation after a late or amended record must give the same result
 * as if everything had arrived in order." Two databases receive the same generated event set:
 * one in time order, processed once; the other as a random permutation with duplicates,
 * processed in random small steps (so records really arrive late). Allocations, unsourced
 * quantities, flow statuses and origins must be identical.
 */
let inOrder: TestContext;
let shuffled: TestContext;
beforeAll(async () => {
  // One master key for both: person keys (and so findings' parties) must be comparable.
  const env = { RETRACE_MASTER_KEY: randomBytes(32).toString('base64') };
  [inOrder, shuffled] = await Promise.all([createTestContext({ env }), createTestContext({ env })]);
});
afterAll(async () => {
  await Promise.all([inOrder.close(), shuffled.close()]);
});

interface Spec {
  purchases: {
    seller: number;
    station: number;
    kg: number;
    day: number;
    amendKg: number | null;
    cancel: boolean;
  }[];
  sales: { station: number; kg: number; day: number; claim: number | null; toStation: boolean }[];
  /** `also`: a second trade the payment covers (declared payments only). */
  payments: { trade: number; also: number | null; declared: boolean; delta: number }[];
  weighings: { trade: number; deltaKg: number }[];
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  purchases: fc.array(
    fc.record({
      seller: fc.integer({ min: 0, max: 3 }),
      station: fc.integer({ min: 0, max: 1 }),
      kg: fc.integer({ min: 50, max: 3000 }),
      day: fc.integer({ min: 1, max: 20 }),
      amendKg: fc.option(fc.integer({ min: 50, max: 3000 }), { freq: 4 }),
      cancel: fc.boolean().map((b) => b && Math.random() < 0.3),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  sales: fc.array(
    fc.record({
      station: fc.integer({ min: 0, max: 1 }),
      kg: fc.integer({ min: 100, max: 5000 }),
      day: fc.integer({ min: 1, max: 25 }),
      claim: fc.option(fc.integer({ min: 0, max: 7 }), { freq: 3 }),
      toStation: fc.boolean(),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  payments: fc.array(
    fc.record({
      trade: fc.integer({ min: 0, max: 12 }),
      also: fc.option(fc.integer({ min: 0, max: 12 }), { freq: 3 }),
      declared: fc.boolean(),
      delta: fc.integer({ min: -2000, max: 2000 }),
    }),
    {
      maxLength: 6,
    },
  ),
  weighings: fc.array(
    fc.record({ trade: fc.integer({ min: 0, max: 12 }), deltaKg: fc.integer({ min: -50, max: 50 }) }),
    { maxLength: 6 },
  ),
});

function buildEvents(spec: Spec) {
  // 丁's id number is from outside Jiangmen: placed by the buyer of their earliest sale, which the
  // stations' two districts make visible in the results.
  const persons = [person('甲'), person('乙'), person('丙'), person('丁', '430521')];
  const stations = [enterprise('站一'), enterprise('站二', '440704')];
  const mill = enterprise('钢厂', '440705');
  const day = (d: number, h = 10) =>
    `2026-10-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:00+08:00`;
  const line = (kg: number) => ({
    material: 'CU',
    quantity: String(kg),
    unit: 'kg',
    unit_price: '60.00',
    amount: (kg * 60).toFixed(2),
  });
  const events: { id: string; body: unknown }[] = [];
  const add = (body: unknown) => events.push({ id: uid('ev_'), body });
  const trades: { id: string; seller: unknown; buyer: unknown; kg: number; day: number }[] = [];
  spec.purchases.forEach((p, i) => {
    const id = `P${i}`;
    const base = {
      trade_id: id,
      seller: persons[p.seller],
      buyer: stations[p.station],
      site: { code: 'S', division: '440703' },
      tax_treatment: 'reverse_invoice',
    };
    add(
      envelope('trade.created', {
        ...base,
        version: 1,
        occurred_at: day(p.day),
        lines: [line(p.kg)],
        total_amount: (p.kg * 60).toFixed(2),
      }),
    );
    if (p.amendKg !== null) {
      add(
        envelope('trade.amended', {
          ...base,
          version: 2,
          occurred_at: day(p.day),
          lines: [line(p.amendKg)],
          total_amount: (p.amendKg * 60).toFixed(2),
        }),
      );
    }
    if (p.cancel) add(envelope('trade.cancelled', { trade_id: id, version: 3, reason: 'void' }));
    trades.push({
      id,
      seller: persons[p.seller],
      buyer: stations[p.station],
      kg: p.amendKg ?? p.kg,
      day: p.day,
    });
  });
  spec.sales.forEach((s, i) => {
    const id = `S${i}`;
    const buyer = s.toStation ? stations[1 - s.station] : mill;
    const upstream =
      s.claim !== null && s.claim < spec.purchases.length
        ? [{ trade_id: `P${s.claim}`, quantity: '0.5', unit: 't' }]
        : undefined;
    add(
      envelope('trade.created', {
        trade_id: id,
        version: 1,
        occurred_at: day(s.day, 15),
        seller: stations[s.station],
        buyer,
        site: { code: 'S', division: '440703' },
        lines: [line(s.kg)],
        total_amount: (s.kg * 60).toFixed(2),
        tax_treatment: 'simple_3',
        ...(upstream ? { upstream } : {}),
      }),
    );
    trades.push({ id, seller: stations[s.station], buyer, kg: s.kg, day: s.day });
  });
  spec.payments.forEach((p, i) => {
    const t = trades[p.trade % trades.length]!;
    const s = t.seller as { name: string };
    const b = t.buyer as { name: string };
    // A declared payment may cover a second trade: split by the trades' totals, whichever arrives last.
    const t2 = p.declared && p.also !== null ? trades[p.also % trades.length]! : null;
    const ids = t2 && t2.id !== t.id ? [t.id, t2.id] : [t.id];
    const kg = ids.length === 2 ? t.kg + t2!.kg : t.kg;
    add(
      envelope('payment.made', {
        payment_id: `PAY${i}`,
        trade_ids: p.declared ? ids : [],
        paid_at: day(Math.min(t.day + 1, 28)),
        amount: Math.max(1, kg * 60 + p.delta).toFixed(2),
        channel: 'bank_transfer',
        payer: { account_name: b.name, account_no: '6222000000000001', party: t.buyer },
        payee: { account_name: s.name, account_no: '6222000000000002', party: t.seller },
      }),
    );
  });
  spec.weighings.forEach((w, i) => {
    const t = trades[w.trade % trades.length]!;
    const net = Math.max(1, t.kg + w.deltaKg);
    add(
      envelope('weighing.recorded', {
        weighing_id: `W${i}`,
        ticket_no: `TK${i}`,
        trade_id: t.id,
        site: { code: 'S', division: '440703' },
        vehicle_plate: '粤J12345',
        gross_kg: `${net + 8000}.000`,
        tare_kg: '8000.000',
        net_kg: `${net}.000`,
        weighed_at: day(t.day, 9),
      }),
    );
  });
  return { events, tradeIds: trades.map((t) => t.id) };
}

async function snapshot(ctx: TestContext, platform: string, tradeIds: string[]) {
  const db = ctx.rt.db;
  const allocations = await db
    .selectFrom('allocations')
    .select(['sale_trade_id', 'purchase_trade_id', 'basis', 'quantity_g'])
    .where('sale_platform', '=', platform)
    .orderBy('sale_trade_id')
    .orderBy('purchase_trade_id')
    .orderBy('basis')
    .execute();
  const sales = await db
    .selectFrom('sale_results')
    .select(['trade_id', 'quantity_g', 'unsourced_g', 'discrepancies'])
    .where('platform', '=', platform)
    .orderBy('trade_id')
    .execute();
  const flows = await db
    .selectFrom('trade_flows')
    .select([
      'trade_id',
      'payment_status',
      'weighing_status',
      'invoice_status',
      'overall',
      'paid_fen',
      'weighed_g',
      'differences',
    ])
    .where('platform', '=', platform)
    .orderBy('trade_id')
    .execute();
  const trades = await db
    .selectFrom('trades')
    .select(['trade_id', 'version', 'status', 'quantity_g', 'total_fen', 'seller_division', 'buyer_division'])
    .where('platform', '=', platform)
    .orderBy('trade_id')
    .execute();
  // Findings still standing (findings raised on partial data and closed later are history), of
  // this run's platform: each run has its own, so a shrunk counterexample is judged on its own.
  const findings = await db
    .selectFrom('anomalies')
    .select(['rule', 'dedupe_key', 'party_key', 'severity', 'period', 'trades'])
    .where('status', '<>', 'closed')
    .where('trades', '@>', sql<string>`${JSON.stringify([{ platform }])}::jsonb`)
    .orderBy('rule')
    .orderBy('party_key')
    .orderBy('dedupe_key')
    .execute();
  // Where each seller stands: a person from elsewhere is placed by their earliest sale.
  const sellers = await db
    .selectFrom('parties')
    .select(['party_key', 'division', 'placed_by'])
    .where('party_key', 'in', db.selectFrom('trades').select('seller_key').where('platform', '=', platform))
    .orderBy('party_key')
    .execute();
  const origins: Record<string, unknown> = {};
  for (const t of trades)
    origins[t.trade_id] = (
      await buildChain(db, { platform, trade_id: t.trade_id }, { direction: 'upstream', maxDepth: 20 })
    ).origins;
  return {
    sellers,
    allocations,
    sales,
    flows,
    trades,
    origins,
    tradeIds: tradeIds.length,
    findings: findings.map((f) => ({
      ...f,
      trades: (f.trades as { trade_id: string }[]).map((t) => t.trade_id),
    })),
  };
}

async function send(ctx: TestContext, secret: string, platform: string, e: { id: string; body: unknown }) {
  const res = await ctx.post(`/v1/ingest/${platform}/events`, JSON.stringify(e.body), { secret, id: e.id });
  expect([200, 202]).toContain(res.status);
}

it('results do not depend on arrival order, duplicates or late records', async () => {
  await fc.assert(
    fc.asyncProperty(specArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (spec, seed) => {
      const { events, tradeIds } = buildEvents(spec);
      const code = uid('oi').toLowerCase();
      const secret = generateSecret();
      for (const c of [inOrder, shuffled]) {
        await insertPlatform(c.rt.db, {
          code,
          name: code,
          secretEnc: c.rt.keyring.encrypt('platform-secrets', secret),
        });
      }
      for (const e of events) await send(inOrder, secret, code, e);
      await drain(inOrder);

      // A seeded shuffle with duplicates (same webhook-id again), drained in small random steps.
      let state = seed || 1;
      const rand = () => {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        return state / 0x7fffffff;
      };
      const order = [...events, ...events.filter(() => rand() < 0.2)];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (let i = 0; i < order.length; i++) {
        await send(shuffled, secret, code, order[i]!);
        if (rand() < 0.35) await drain(shuffled, { chunk: 1 + Math.floor(rand() * 3), rules: rand() < 0.1 });
      }
      await drain(shuffled);

      expect(await snapshot(shuffled, code, tradeIds)).toEqual(await snapshot(inOrder, code, tradeIds));
    }),
    {
      numRuns: Number(process.env.ORDER_RUNS ?? 12),
      examples: [
        [
          {
            purchases: [{ seller: 0, station: 0, kg: 50, day: 2, amendKg: null, cancel: false }],
            sales: [
              { station: 0, kg: 100, day: 1, claim: null, toStation: false },
              { station: 0, kg: 100, day: 1, claim: 0, toStation: false },
              { station: 0, kg: 100, day: 1, claim: null, toStation: false },
            ],
            payments: [],
            weighings: [{ trade: 0, deltaKg: 0 }],
          },
          0,
        ],
      ],
    },
  );
}, 240_000);
