import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { rulesCommand } from '../../src/cli/rules';
import { addRuleSetting } from '../../src/repositories/anomalies.repository';
import { evaluatePeriod } from '../../src/rules/engine';
import { createTestContext, type TestContext, uid } from '../support/context';
import { enterprise, envelope, person, pricedTrade as trade } from '../support/factories';
import { drain } from '../support/pipeline';

/**
 * The rule engine over the real pipeline (issue: anomaly engine): replaying a period is
 * idempotent, an amendment that removes a rule's cause closes the finding (and one that restores
 * it reopens it), a dismissal holds until the facts change, a settings version applies from its
 * date and is recorded in the findings, and `rules replay` reports what it did.
 *
 * One database for the file; each test has its own platform, fresh parties and its own months,
 * so that their findings never mix. The settings test comes last: its versions apply from their
 * date onward.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());
afterEach(() => {
  vi.restoreAllMocks();
});

async function send(
  platform: { code: string; secret: string },
  events: unknown[],
  opts: { rules?: boolean } = {},
) {
  for (const e of events) {
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
      secret: platform.secret,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
  }
  await drain(ctx, opts);
}

interface Row {
  id: bigint;
  rule: string;
  party_key: string;
  period: string;
  severity: string;
  status: string;
  closed_reason: string | null;
  rule_version: number;
  fingerprint: string;
  trades: { platform: string; trade_id: string }[];
  evidence: Record<string, unknown>;
}

/** Findings of a period that name a trade of `platform`. */
async function findingsOf(platform: string, period: string, rule?: string): Promise<Row[]> {
  let q = ctx.rt.db
    .selectFrom('anomalies')
    .select([
      'id',
      'rule',
      'party_key',
      'period',
      'severity',
      'status',
      'closed_reason',
      'rule_version',
      'fingerprint',
      'trades',
      'evidence',
    ])
    .where('period', '=', period)
    .orderBy('rule')
    .orderBy('id');
  if (rule) q = q.where('rule', '=', rule);
  const rows = (await q.execute()) as unknown as Row[];
  return rows.filter((r) => r.trades.some((t) => t.platform === platform));
}

const tradeIdsOf = (r: Row) => r.trades.map((t) => t.trade_id);

/** Every row of the anomalies table exactly as PostgreSQL renders it, timestamps to the microsecond. */
async function anomaliesTable(): Promise<string[]> {
  const r = await sql<{ j: string }>`SELECT row_to_json(a)::text AS j FROM anomalies a ORDER BY id`.execute(
    ctx.rt.db,
  );
  return r.rows.map((x) => x.j);
}

async function eventsOf(id: bigint) {
  const rows = await ctx.rt.db
    .selectFrom('anomaly_events')
    .select(['kind', 'actor', 'note'])
    .where('anomaly_id', '=', id)
    .orderBy('at')
    .execute();
  return rows;
}

const evaluate = (period: string) => evaluatePeriod(ctx.rt.db, ctx.rt.keyring, period);

describe('rules replay (CLI)', () => {
  it('recomputes a window and prints one JSON summary; a second replay changes nothing', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('鹤山回收站', '440784');
    await send(
      platform,
      [
        trade('C1', person('甲'), station, { kg: 1000, fenPerKg: 350, at: '2026-03-20T10:00:00+08:00' }),
        trade('C2', person('乙'), station, { kg: 1000, fenPerKg: 50, at: '2026-04-02T10:00:00+08:00' }),
      ],
      { rules: false },
    );
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const replay = async (flags: { from: string; to: string; rule?: string }) => {
      out.mockClear();
      await rulesCommand(ctx.rt, ['replay'], flags);
      return JSON.parse(out.mock.calls.map((c) => String(c[0])).join(''));
    };

    const first = await replay({ from: '2026-03', to: '2026-04' });
    expect(err.mock.calls.map((c) => String(c[0]))).toEqual([
      '[1/2] evaluating 2026-03\n',
      '[2/2] evaluating 2026-04\n',
    ]);
    expect(first).toMatchObject({
      from: '2026-03',
      to: '2026-04',
      rules: 'all',
      updated: 0,
      reopened: 0,
      closed: 0,
    });
    expect(first.periods.map((p: { period: string }) => p.period)).toEqual(['2026-03', '2026-04']);
    const price = (s: typeof first, period: string) =>
      s.periods
        .find((p: { period: string }) => p.period === period)
        .changes.filter((c: { rule: string }) => c.rule === 'PRICE_DEVIATION')
        .map((c: { change: string }) => c.change);
    expect(price(first, '2026-03')).toEqual(['detected']);
    expect(price(first, '2026-04')).toEqual(['detected']);
    expect(first.detected).toBe(
      first.periods.reduce((s: number, p: { detected: number }) => s + p.detected, 0),
    );
    expect(first.periods[1].findings_by_rule.PRICE_DEVIATION).toBe(1);
    const c2 = await findingsOf(platform.code, '2026-04', 'PRICE_DEVIATION');
    expect(c2.map((r) => [tradeIdsOf(r), r.severity, r.evidence.deviation])).toEqual([
      [['C2'], 'high', '-0.7727'],
    ]);

    const again = await replay({ from: '2026-03', to: '2026-04', rule: 'PRICE_DEVIATION' });
    expect(again).toMatchObject({
      rules: ['PRICE_DEVIATION'],
      detected: 0,
      updated: 0,
      reopened: 0,
      closed: 0,
      unchanged: 2,
    });
    expect(again.periods.map((p: { changes: unknown[] }) => p.changes)).toEqual([[], []]);

    await expect(rulesCommand(ctx.rt, ['replay'], { from: '2026-04', to: '2026-03' })).rejects.toThrow(
      /from ≤ to/,
    );
    await expect(
      rulesCommand(ctx.rt, ['replay'], { from: '2026-03', to: '2026-04', rule: 'NOPE' }),
    ).rejects.toThrow(/unknown rule/);
  });

  it('rules set: a version applies from a month; a date past the 1st is refused, not moved', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    await expect(
      rulesCommand(ctx.rt, ['set', 'PRICE_DEVIATION'], { from: '2999-04-15', params: '{}' }),
    ).rejects.toThrow(/applies from a month's first day \(--from 2999-04, or 2999-05/);
    await expect(
      rulesCommand(ctx.rt, ['set', 'PRICE_DEVIATION'], { from: '2999-13', params: '{}' }),
    ).rejects.toThrow(/--from YYYY-MM/);
    for (const from of ['2999-11', '2999-12-01']) {
      await rulesCommand(ctx.rt, ['set', 'PRICE_DEVIATION'], { from, params: '{}' });
    }
    expect(out.mock.calls.map((c) => JSON.parse(String(c[0])).valid_from)).toEqual([
      '2999-11-01',
      '2999-12-01',
    ]);
    // The same month again names the version it would collide with (a version is never rewritten).
    await expect(
      rulesCommand(ctx.rt, ['set', 'PRICE_DEVIATION'], { from: '2999-12', params: '{}' }),
    ).rejects.toThrow(/already has version \d+ from 2999-12-01/);
    await ctx.rt.db.deleteFrom('rule_settings').where('valid_from', '>=', '2999-01-01').execute();
  });
});

describe('evaluatePeriod', () => {
  it('a replay is idempotent: nothing detected, updated or closed, the table byte-identical', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('江海回收站', '440704');
    const [a, b, c] = [person('甲'), person('乙'), person('丙')];
    await send(
      platform,
      [
        // +59% over the reference price; and no payment or weighing 17 days on (MISSING_FLOW ×2).
        trade('A1', a, station, { kg: 1000, fenPerKg: 350, at: '2026-05-03T10:00:00+08:00' }),
        // Lead-acid batteries to an unlicensed buyer, on an overloaded lorry, paid to a third party.
        trade('A2', b, station, {
          kg: 500,
          fenPerKg: 950,
          material: 'PB_BATTERY',
          at: '2026-05-04T10:00:00+08:00',
        }),
        envelope(
          'weighing.recorded',
          {
            weighing_id: uid('W'),
            ticket_no: uid('TK'),
            trade_id: 'A2',
            site: { code: 'S1', division: '440704' },
            vehicle_plate: '粤J54321',
            gross_kg: '50000.000',
            tare_kg: '49500.000',
            net_kg: '500.000',
            weighed_at: '2026-05-04T09:30:00+08:00',
          },
          '2026-05-04T09:30:00+08:00',
        ),
        envelope(
          'payment.made',
          {
            payment_id: uid('PAY'),
            trade_ids: ['A2'],
            paid_at: '2026-05-04T11:00:00+08:00',
            amount: '4750.00',
            channel: 'bank_transfer',
            payer: { account_name: station.name, account_no: '6222000000000101', party: station },
            payee: { account_name: '某第三人', account_no: '6222000000000909' },
          },
          '2026-05-04T11:00:00+08:00',
        ),
        // Moves the data clock to 05-20.
        trade('A3', c, station, { kg: 1000, fenPerKg: 220, at: '2026-05-20T10:00:00+08:00' }),
      ],
      { rules: false },
    );

    const first = await evaluate('2026-05');
    const mine = await findingsOf(platform.code, '2026-05');
    expect(mine.map((r) => `${r.rule} ${tradeIdsOf(r).join(',')} ${r.severity}`)).toEqual([
      'HAZARDOUS_UNLICENSED A2 high',
      'MISSING_FLOW A1 medium',
      'MISSING_FLOW A1 medium',
      'PRICE_DEVIATION A1 high',
      'THIRD_PARTY_PAYEE A2 high',
      'VEHICLE_OVERLOAD A2 high',
    ]);
    expect(first.detected).toBeGreaterThanOrEqual(mine.length);

    const table = await anomaliesTable();
    const events = await ctx.rt.db
      .selectFrom('anomaly_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    for (let i = 0; i < 2; i++) {
      const again = await evaluate('2026-05');
      expect(again).toMatchObject({ detected: 0, updated: 0, reopened: 0, closed: 0, changes: [] });
      expect(again.unchanged).toBe(first.detected + first.updated + first.reopened + first.unchanged);
      expect(await anomaliesTable()).toEqual(table);
    }
    // The pipeline's own (debounced) evaluation of the same period changes nothing either.
    await drain(ctx);
    expect(await anomaliesTable()).toEqual(table);
    expect(
      await ctx.rt.db
        .selectFrom('anomaly_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ).toEqual(events);
  });

  it('an amendment that removes the cause closes the finding with a reason; restoring it reopens it', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('新会回收站', '440705');
    const seller = person('丁');
    const at = '2026-06-10T10:00:00+08:00';
    await send(platform, [trade('B1', seller, station, { kg: 1000, fenPerKg: 350, at })]);
    const [open] = await findingsOf(platform.code, '2026-06', 'PRICE_DEVIATION');
    expect(open).toMatchObject({ status: 'open', severity: 'high', closed_reason: null });

    await send(platform, [trade('B1', seller, station, { kg: 1000, fenPerKg: 220, at, version: 2 })]);
    const [closed] = await findingsOf(platform.code, '2026-06', 'PRICE_DEVIATION');
    expect(closed!.id).toBe(open!.id);
    expect(closed!.status).toBe('closed');
    expect(closed!.closed_reason).toBe('no longer supported by the facts when 2026-06 was evaluated again');
    expect(await eventsOf(open!.id)).toEqual([
      { kind: 'detected', actor: 'rule-engine', note: null },
      { kind: 'closed', actor: 'rule-engine', note: closed!.closed_reason },
    ]);

    await send(platform, [trade('B1', seller, station, { kg: 1000, fenPerKg: 350, at, version: 3 })]);
    const [reopened, ...others] = await findingsOf(platform.code, '2026-06', 'PRICE_DEVIATION');
    expect(others).toEqual([]);
    expect(reopened).toMatchObject({
      id: open!.id,
      status: 'open',
      closed_reason: null,
      fingerprint: open!.fingerprint,
    });
    expect((await eventsOf(open!.id)).map((e) => [e.kind, e.note])).toEqual([
      ['detected', null],
      ['closed', closed!.closed_reason],
      ['reopened', 'fired again'],
    ]);
  });

  it('a dismissed finding stays dismissed on the same facts and reopens when they change', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('台山回收站', '440781');
    const seller = person('戊');
    const at = '2026-07-10T10:00:00+08:00';
    await send(platform, [trade('D1', seller, station, { kg: 1000, fenPerKg: 350, at })]);
    const [f] = await findingsOf(platform.code, '2026-07', 'PRICE_DEVIATION');
    // An officer's review, as the review endpoint records it.
    await ctx.rt.db
      .updateTable('anomalies')
      .set({
        status: 'dismissed',
        reviewed_by: 'officer-1',
        review_note: 'contract price',
        reviewed_at: new Date(),
      })
      .where('id', '=', f!.id)
      .execute();

    const same = await evaluate('2026-07');
    expect([same.reopened, same.updated]).toEqual([0, 0]);
    expect((await findingsOf(platform.code, '2026-07', 'PRICE_DEVIATION'))[0]!.status).toBe('dismissed');

    // Twice the quantity at the same unit price: the data changed, what the finding says did not.
    await send(platform, [trade('D1', seller, station, { kg: 2000, fenPerKg: 350, at, version: 2 })]);
    const [still] = await findingsOf(platform.code, '2026-07', 'PRICE_DEVIATION');
    expect(still).toMatchObject({ status: 'dismissed', fingerprint: f!.fingerprint });

    // A different price is a new fact: the finding reopens with it.
    await send(platform, [trade('D1', seller, station, { kg: 2000, fenPerKg: 400, at, version: 3 })]);
    const [reopened] = await findingsOf(platform.code, '2026-07', 'PRICE_DEVIATION');
    expect(reopened).toMatchObject({ id: f!.id, status: 'open' });
    expect(reopened!.fingerprint).not.toBe(f!.fingerprint);
    expect(reopened!.evidence.unit_price_per_t).toBe('4000.00');
    expect((await eventsOf(f!.id)).map((e) => [e.kind, e.note])).toEqual([
      ['detected', null],
      ['reopened', 'fired again on new facts after dismissal'],
    ]);
  });

  it('a dismissed time-limit finding stays dismissed while only the data clock moves on', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('恩平回收站', '440785');
    const [a, b, c] = [person('癸'), person('子'), person('丑')];
    await send(platform, [
      trade('G1', a, station, { kg: 1000, fenPerKg: 220, at: '2026-02-02T10:00:00+08:00' }),
      // A later trade moves the platform's clock past G1's 7-day limits.
      trade('G2', b, station, { kg: 1000, fenPerKg: 220, at: '2026-02-12T10:00:00+08:00' }),
    ]);
    await evaluate('2026-02');
    const missing = (await findingsOf(platform.code, '2026-02', 'MISSING_FLOW')).find(
      (f) => tradeIdsOf(f)[0] === 'G1' && f.evidence.missing_flow === 'payment',
    );
    expect(missing?.evidence).toMatchObject({ limit_days: 7, due_at: '2026-02-09T10:00:00+08:00' });
    await ctx.rt.db
      .updateTable('anomalies')
      .set({
        status: 'dismissed',
        reviewed_by: 'officer-1',
        review_note: 'paid in cash',
        reviewed_at: new Date(),
      })
      .where('id', '=', missing!.id)
      .execute();

    // Ten days later on the clock, nothing about G1 has changed: the dismissal stands, untouched.
    await send(platform, [
      trade('G3', c, station, { kg: 1000, fenPerKg: 220, at: '2026-02-22T10:00:00+08:00' }),
    ]);
    await evaluate('2026-02');
    const after = (await findingsOf(platform.code, '2026-02', 'MISSING_FLOW')).find(
      (f) => f.id === missing!.id,
    );
    expect(after).toMatchObject({ status: 'dismissed', fingerprint: missing!.fingerprint });
    expect((await eventsOf(missing!.id)).map((e) => e.kind)).toEqual(['detected']);
  });

  it('a settings version applies from its date: findings record its version and thresholds; disabling closes them', async () => {
    const platform = await ctx.addPlatform();
    const station = enterprise('开平回收站', '440783');
    const [a, b, c, d] = [person('己'), person('庚'), person('辛'), person('壬')];
    await send(platform, [
      trade('E0', a, station, { kg: 1000, fenPerKg: 264, at: '2026-08-20T10:00:00+08:00' }), // +20%
      trade('E1', b, station, { kg: 1000, fenPerKg: 264, at: '2026-09-05T10:00:00+08:00' }), // +20%
      trade('E2', c, station, { kg: 1000, fenPerKg: 350, at: '2026-09-06T10:00:00+08:00' }), // +59%
    ]);
    const before = await findingsOf(platform.code, '2026-09', 'PRICE_DEVIATION');
    expect(before.map((r) => [tradeIdsOf(r), r.rule_version])).toEqual([[['E2'], 1]]);

    const params = { medium_basis_points: 1_000, high_basis_points: 5_000, min_trades_for_median: 20 };
    const version = await addRuleSetting(ctx.rt.db, {
      rule: 'PRICE_DEVIATION',
      validFrom: '2026-09-01',
      enabled: true,
      params,
      note: 'band tightened to ±10%',
    });
    expect(version).toBe(2);

    const r = await evaluate('2026-09');
    expect(
      r.changes
        .filter((x) => x.rule === 'PRICE_DEVIATION')
        .map((x) => x.change)
        .sort(),
    ).toEqual(['detected', 'updated']);
    const after = await findingsOf(platform.code, '2026-09', 'PRICE_DEVIATION');
    expect(
      after.map((x) => [
        tradeIdsOf(x),
        x.severity,
        x.rule_version,
        x.evidence.thresholds,
        x.evidence.medium_above,
      ]),
    ).toEqual([
      [['E2'], 'high', 2, params, '0.1000'],
      [['E1'], 'medium', 2, params, '0.1000'],
    ]);

    // August is still under version 1: +20% is nothing there.
    await evaluate('2026-08');
    expect(await findingsOf(platform.code, '2026-08', 'PRICE_DEVIATION')).toEqual([]);

    // Disabled from October: October's finding is closed, September's stay.
    await send(platform, [
      trade('E3', d, station, { kg: 1000, fenPerKg: 350, at: '2026-10-03T10:00:00+08:00' }),
    ]);
    expect((await findingsOf(platform.code, '2026-10', 'PRICE_DEVIATION')).map((x) => x.status)).toEqual([
      'open',
    ]);
    await addRuleSetting(ctx.rt.db, {
      rule: 'PRICE_DEVIATION',
      validFrom: '2026-10-01',
      enabled: false,
      params,
      note: 'off',
    });
    const off = await evaluate('2026-10');
    expect(off.byRule.PRICE_DEVIATION).toBeUndefined();
    expect((await findingsOf(platform.code, '2026-10', 'PRICE_DEVIATION')).map((x) => x.status)).toEqual([
      'closed',
    ]);
    expect((await findingsOf(platform.code, '2026-09', 'PRICE_DEVIATION')).map((x) => x.status)).toEqual([
      'open',
      'open',
    ]);
  });
});
