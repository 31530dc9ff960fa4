import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskResidentId } from '../../src/domain/ids';
import { setOfficerStatus } from '../../src/repositories/officers.repository';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, person, uscc } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { auditOf, buildQueryApp, getAs, push } from './query-app';

let ctx: TestContext;
let oa: OfficerApp;
let platform: { code: string; secret: string };

const R = enterprise('蓬江绿源回收站', '440703');
const U = enterprise('新会某钢厂', '440705'); // never registered
const A = person('甲', '440703');
const Q = person('乙', '440781');

type Party = typeof R | typeof A;

function trade(id: string, seller: Party, buyer: Party, kg: number, at: string) {
  const amount = ((kg * 220) / 100).toFixed(2);
  return envelope('trade.created', {
    trade_id: id,
    version: 1,
    occurred_at: at,
    seller,
    buyer,
    site: { code: 'S1', division: '440703' },
    lines: [{ material: 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: '2.20', amount }],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
  });
}

let o703: TestOfficer;
let o705: TestOfficer;
let o781: TestOfficer;
let pii703: TestOfficer;
let auditor: TestOfficer;
let admin: TestOfficer;
let aKey: string;
let qKey: string;

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    envelope('party.registered', {
      uscc: R.uscc,
      name: R.name,
      division: '440703',
      taxpayer_kind: 'general',
      established_on: '2019-06-18',
      recycling_filing_no: 'JM-2019-0031',
      roles: ['sorting_center', 'recycler'],
    }),
    trade('A1', A, R, 1000, '2026-10-01T10:00:00+08:00'),
    trade('A2', A, R, 500, '2026-10-15T09:30:00+08:00'),
    trade('R1', R, U, 1200, '2026-10-20T16:45:00+08:00'),
    trade('R2', R, U, 100, '2026-10-21T08:00:00+08:00'),
    trade('Q1', Q, R, 300, '2026-10-02T10:00:00+08:00'),
  );
  await push(ctx, platform, envelope('trade.cancelled', { trade_id: 'R2', version: 2, reason: 'test' }));
  const keyOf = async (tradeId: string) =>
    (
      await ctx.rt.db
        .selectFrom('trades')
        .select('seller_key')
        .where('trade_id', '=', tradeId)
        .executeTakeFirstOrThrow()
    ).seller_key;
  aKey = await keyOf('A1');
  qKey = await keyOf('Q1');
  o703 = await addOfficer(ctx, { divisions: ['440703'] });
  o705 = await addOfficer(ctx, { divisions: ['440705'] });
  o781 = await addOfficer(ctx, { divisions: ['440781'] });
  pii703 = await addOfficer(ctx, { divisions: ['440700'], pii: true });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
  admin = await addOfficer(ctx, { role: 'admin', divisions: ['440700'] });
});
afterAll(async () => ctx.close());

describe('GET /v1/parties/{key}', () => {
  it('an enterprise: master data, roles and trade counts', async () => {
    const r = await getAs(oa, `/v1/parties/${R.uscc}`, o703.token);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({
      key: R.uscc,
      kind: 'enterprise',
      name: R.name,
      division: '440703',
      enterprise: {
        uscc: R.uscc,
        registered: true,
        registered_division: '440703',
        taxpayer_kind: 'general',
        established_on: '2019-06-18',
        recycling_filing_no: 'JM-2019-0031',
        roles: ['recycler', 'sorting_center'],
      },
      natural_person: null,
      // Active trades: A1, A2, Q1 bought; R1 sold; R2 cancelled.
      trades: {
        as_seller: 1,
        as_buyer: 3,
        cancelled: 1,
        first_trade_at: '2026-10-01T10:00:00+08:00',
        last_trade_at: '2026-10-20T16:45:00+08:00',
      },
    });
    expect(r.body.first_seen_at).toMatch(/\+08:00$/);
    const [entry] = await auditOf(ctx, o703.login);
    expect(entry).toMatchObject({
      endpoint: '/v1/parties/:key',
      parties: [R.uscc],
      trades: [],
      pii_unmasked: false,
    });
  });

  it('an unregistered enterprise: null master data', async () => {
    const r = await getAs(oa, `/v1/parties/${U.uscc}`, o705.token);
    expect(r.body.enterprise).toEqual({
      uscc: U.uscc,
      registered: false,
      registered_division: null,
      taxpayer_kind: null,
      established_on: null,
      recycling_filing_no: null,
      roles: [],
    });
    expect(r.body.trades).toMatchObject({ as_seller: 0, as_buyer: 1, cancelled: 1 });
  });

  it('a natural person: id number masked without pii', async () => {
    const r = await getAs(oa, `/v1/parties/${aKey}`, o703.token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      key: aKey,
      kind: 'natural_person',
      name: '甲',
      division: '440703',
      enterprise: null,
      natural_person: { id_number: maskResidentId(A.id_number) },
      trades: { as_seller: 2, as_buyer: 0 },
    });
    expect(r.body.natural_person.id_number).toMatch(/^440703\*{8}[0-9X]{4}$/);
    expect(r.text).not.toContain(A.id_number);
    expect((await auditOf(ctx, o703.login)).at(-1)!.pii_unmasked).toBe(false);
  });

  it('with pii: the id number in clear, and the audit entry records the unmasking', async () => {
    const r = await getAs(oa, `/v1/parties/${aKey}`, pii703.token);
    expect(r.body.natural_person.id_number).toBe(A.id_number);
    const entry = (await auditOf(ctx, pii703.login)).at(-1)!;
    expect(entry).toMatchObject({ status: 200, parties: [aKey], pii_unmasked: true });
    // An enterprise has nothing to unmask, even for a pii token.
    await getAs(oa, `/v1/parties/${R.uscc}`, pii703.token);
    expect((await auditOf(ctx, pii703.login)).at(-1)!.pii_unmasked).toBe(false);
  });

  it('404 out of scope, exactly like unknown', async () => {
    const out = await getAs(oa, `/v1/parties/${qKey}`, o703.token);
    const unknown = await getAs(oa, `/v1/parties/${uscc('440703')}`, o703.token);
    expect(out.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(out.body).toEqual({ ...unknown.body });
    expect((await getAs(oa, `/v1/parties/${qKey}`, o781.token)).status).toBe(200);
    expect((await getAs(oa, `/v1/parties/${U.uscc}`, o703.token)).status).toBe(404);
    expect((await getAs(oa, `/v1/parties/${R.uscc}`, o705.token)).status).toBe(404);
  });

  it('a raw id number, or anything that is not a key, answers 404 and is never echoed', async () => {
    for (const key of [
      A.id_number,
      A.id_number.toLowerCase(),
      aKey.toUpperCase(),
      'np_short',
      `${aKey}x`,
      // Lower case (the factory's USCCs may be all digits: then a letter is forced in).
      `${R.uscc.slice(0, 10)}a${R.uscc.slice(11)}`,
      R.uscc.slice(0, 17) + (R.uscc.endsWith('0') ? '1' : '0'), // wrong check character
      encodeURIComponent("' OR 1=1 --"),
      encodeURIComponent('蓬江绿源回收站'),
      '9'.repeat(5000),
    ]) {
      const r = await getAs(oa, `/v1/parties/${key}`, o703.token);
      expect(r.status, key).toBe(404);
      expect(r.text).not.toContain(A.id_number);
    }
  });

  it('401 without or with a disabled token; 403 for auditor and admin', async () => {
    const o = await addOfficer(ctx, { divisions: ['440703'] });
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    expect((await getAs(oa, `/v1/parties/${R.uscc}`)).status).toBe(401);
    expect((await getAs(oa, `/v1/parties/${R.uscc}`, o.token)).status).toBe(401);
    expect((await getAs(oa, `/v1/parties/${R.uscc}`, auditor.token)).status).toBe(403);
    expect((await getAs(oa, `/v1/parties/${R.uscc}`, admin.token)).status).toBe(403);
    const sup = await addOfficer(ctx, { divisions: ['440703'], role: 'supervisor' });
    expect((await getAs(oa, `/v1/parties/${R.uscc}`, sup.token)).status).toBe(200);
  });
});
