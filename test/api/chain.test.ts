import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setOfficerStatus } from '../../src/repositories/officers.repository';
import { type AnyJson, createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, person, tradeOf } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { auditOf, buildQueryApp, getAs, push } from './query-app';

let ctx: TestContext;
let oa: OfficerApp;
let platform: { code: string; secret: string };

// A chain across three districts:
//   P (person, Taishan 440781) → T (station, Taishan)        U1  1,000 kg
//   P2 (person, Jianghai 440704) → C (sorting, Jianghai)     U0    500 kg
//   T → C                                                    U2  1,000 kg
//   C → M (mill, Xinhui 440705)                              U3    800 kg
const P = person('台山散户甲', '440781');
const P2 = person('江海散户乙', '440704');
const T = enterprise('台山回收站', '440781');
const C = enterprise('江海分拣中心', '440704');
const M = enterprise('新会钢铁', '440705');

type Party = typeof T | typeof P;

function trade(id: string, seller: Party, buyer: Party, kg: number, day: number) {
  const amount = ((kg * 220) / 100).toFixed(2);
  return envelope('trade.created', {
    trade_id: id,
    version: 1,
    occurred_at: `2026-10-0${day}T10:00:00+08:00`,
    seller,
    buyer,
    site: { code: 'S1', division: '440704' },
    lines: [{ material: 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: '2.20', amount }],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
  });
}

const register = (e: typeof T, division: string, role: string) =>
  envelope('party.registered', {
    uscc: e.uscc,
    name: e.name,
    division,
    taxpayer_kind: 'general',
    established_on: '2018-01-01',
    roles: [role],
  });

let o704: TestOfficer;
let o781: TestOfficer;
let o705: TestOfficer;
let auditor: TestOfficer;
const ids: Record<string, string> = {};

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    register(T, '440781', 'recycler'),
    register(C, '440704', 'sorting_center'),
    register(M, '440705', 'utilizer'),
    trade('U1', P, T, 1000, 1),
    trade('U0', P2, C, 500, 1),
    trade('U2', T, C, 1000, 2),
    trade('U3', C, M, 800, 3),
  );
  for (const r of await ctx.rt.db.selectFrom('trades').select(['id', 'trade_id']).execute()) {
    ids[r.trade_id] = r.id.toString();
  }
  o704 = await addOfficer(ctx, { divisions: ['440704'] });
  o781 = await addOfficer(ctx, { divisions: ['440781'] });
  o705 = await addOfficer(ctx, { divisions: ['440705'] });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
});
afterAll(async () => ctx.close());

const node = (body: AnyJson, tradeKey: string) => body.nodes.find((n: AnyJson) => n.id === ids[tradeKey]);

describe('GET /v1/trades/{id}/chain', () => {
  it('upstream from the mill sale: nodes outside the officer’s districts are redacted', async () => {
    const r = await getAs(oa, `/v1/trades/${platform.code}:U3/chain?direction=upstream`, o704.token);
    expect(r.status, r.text).toBe(200);
    const b = r.body;
    expect(b.root).toBe(ids.U3);
    expect(b.nodes.map((n: AnyJson) => [n.id, n.depth, n.side]).sort()).toEqual(
      [
        [ids.U3, 0, 'root'],
        [ids.U2, 1, 'upstream'],
        [ids.U0, 1, 'upstream'],
        [ids.U1, 2, 'upstream'],
      ].sort(),
    );
    // U2 (T → C): C is in 440704, so the whole trade shows, T included.
    expect(node(b, 'U2')).toMatchObject({
      trade_id: 'U2',
      redacted: false,
      seller: { redacted: false, key: T.uscc, name: T.name, division: '440781' },
      buyer: { redacted: false, key: C.uscc, name: C.name, division: '440704' },
      amount: '2200.00',
    });
    // U1 (P → T): both in Taishan. Quantity, material, time and divisions only.
    expect(node(b, 'U1')).toEqual({
      id: ids.U1,
      platform: platform.code,
      trade_id: null,
      redacted: true,
      seller: { redacted: true, label: 'another district', division: '440781' },
      buyer: { redacted: true, label: 'another district', division: '440781' },
      material: 'FE_HEAVY',
      quantity_kg: '1000.000',
      amount: null,
      occurred_at: '2026-10-01T10:00:00+08:00',
      depth: 2,
      side: 'upstream',
      status: 'active',
    });
    expect(r.text).not.toContain(P.name);
    expect(r.text).not.toContain(P.id_number);
    expect(b.edges).toEqual(
      expect.arrayContaining([
        { from: ids.U1, to: ids.U2, quantity_kg: '1000.000', basis: 'fifo' },
        { from: ids.U0, to: ids.U3, quantity_kg: '500.000', basis: 'fifo' },
        { from: ids.U2, to: ids.U3, quantity_kg: '300.000', basis: 'fifo' },
      ]),
    );
    // 800 kg of U3, all from natural persons two steps up.
    expect(b.origins).toEqual({
      natural_person_kg: '800.000',
      enterprise_kg: '0.000',
      unsourced_kg: '0.000',
    });
    expect(b.truncated).toBe(false);
  });

  it('audits the parties actually shown: never those of redacted nodes', async () => {
    const o = await addOfficer(ctx, { divisions: ['440704'] });
    await getAs(oa, `/v1/trades/${ids.U3}/chain?direction=upstream`, o.token);
    const [entry] = await auditOf(ctx, o.login);
    const pKey = (
      await ctx.rt.db
        .selectFrom('trades')
        .select('seller_key')
        .where('trade_id', '=', 'U1')
        .executeTakeFirstOrThrow()
    ).seller_key;
    expect(entry!.endpoint).toBe('/v1/trades/:id/chain');
    expect(entry!.parties).toEqual(expect.arrayContaining([T.uscc, C.uscc, M.uscc]));
    expect(entry!.parties).not.toContain(pKey);
    expect(entry!.trades).toEqual(expect.arrayContaining([ids.U0, ids.U1, ids.U2, ids.U3]));
  });

  it('downstream from Taishan: the Jianghai → Xinhui sale is redacted', async () => {
    const r = await getAs(oa, `/v1/trades/${ids.U1}/chain?direction=downstream&max_depth=5`, o781.token);
    expect(r.status).toBe(200);
    expect(node(r.body, 'U1')).toMatchObject({ redacted: false, side: 'root' });
    expect(node(r.body, 'U2')).toMatchObject({ redacted: false, depth: 1 });
    expect(node(r.body, 'U3')).toMatchObject({
      redacted: true,
      trade_id: null,
      amount: null,
      quantity_kg: '800.000',
      depth: 2,
      seller: { redacted: true, division: '440704' },
      buyer: { redacted: true, division: '440705' },
    });
    // C shows as U2's buyer (U2 is visible); the mill appears in U3 only.
    expect(r.text).not.toContain(M.name);
    expect(r.text).not.toContain(M.uscc);
  });

  it('max_depth bounds the graph and says so', async () => {
    const r = await getAs(oa, `/v1/trades/${ids.U3}/chain?direction=upstream&max_depth=1`, o704.token);
    expect(r.body.nodes.map((n: AnyJson) => n.trade_id).sort()).toEqual(['U0', 'U2', 'U3']);
    expect(r.body.truncated).toBe(true);
    const both = await getAs(oa, `/v1/trades/${ids.U2}/chain`, o704.token);
    expect(both.body.nodes.map((n: AnyJson) => n.side).sort()).toEqual(['downstream', 'root', 'upstream']);
  });

  it('the root must be in scope: 404 otherwise, like an unknown trade', async () => {
    expect((await getAs(oa, `/v1/trades/${ids.U1}/chain`, o705.token)).status).toBe(404);
    expect((await getAs(oa, `/v1/trades/${ids.U1}/chain`, o704.token)).status).toBe(404);
    expect((await getAs(oa, `/v1/trades/${platform.code}:NOPE/chain`, o704.token)).status).toBe(404);
    // The mill's officer sees U3, with everything upstream of it in other districts redacted.
    const mill = await getAs(oa, `/v1/trades/${ids.U3}/chain?direction=upstream`, o705.token);
    expect(mill.status).toBe(200);
    expect(
      mill.body.nodes
        .filter((n: AnyJson) => n.redacted)
        .map((n: AnyJson) => n.id)
        .sort(),
    ).toEqual([ids.U0, ids.U1, ids.U2].sort());
  });

  it('hostile parameters: 400 with a pointer, never 5xx', async () => {
    const cases: [string, string][] = [
      ['direction=sideways', '/query/direction'],
      ['direction=UPSTREAM', '/query/direction'],
      ['max_depth=0', '/query/max_depth'],
      ['max_depth=21', '/query/max_depth'],
      ['max_depth=-1', '/query/max_depth'],
      ['max_depth=1.5', '/query/max_depth'],
      ['max_depth=99999999999999999999', '/query/max_depth'],
      ['max_depth=%E5%8D%81', '/query/max_depth'],
    ];
    for (const [q, pointer] of cases) {
      const r = await getAs(oa, `/v1/trades/${ids.U3}/chain?${q}`, o704.token);
      expect(r.status, q).toBe(400);
      expect(r.body.errors[0].pointer, q).toBe(pointer);
    }
    for (const id of ['x', encodeURIComponent("' OR 1=1 --"), '123456789012345678901']) {
      expect((await getAs(oa, `/v1/trades/${id}/chain`, o704.token)).status).toBe(404);
    }
  });

  it('401 without or with a disabled token; 403 for an auditor', async () => {
    const o = await addOfficer(ctx, { divisions: ['440704'] });
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    expect((await getAs(oa, `/v1/trades/${ids.U3}/chain`)).status).toBe(401);
    expect((await getAs(oa, `/v1/trades/${ids.U3}/chain`, o.token)).status).toBe(401);
    expect((await getAs(oa, `/v1/trades/${ids.U3}/chain`, auditor.token)).status).toBe(403);
  });
});

describe('origins, material by material', () => {
  it('a multi-material trade in the middle passes each material’s origins to that material only', async () => {
    // a: person → R5, FE_LIGHT 1,000 kg. b: R5 → R6, FE_LIGHT 1,000 kg and GLASS 1,000 kg (R5 bought
    // no glass: b's glass is all unsourced). c: R6 → U, FE_LIGHT 1,000 kg. g: R6 → U, GLASS 600 kg.
    const pf = await ctx.addPlatform();
    const R5 = enterprise('蓬江回收站五', '440703');
    const R6 = enterprise('蓬江回收站六', '440703');
    const U = enterprise('蓬江利用企业', '440703');
    const at = (day: number) => `2026-10-0${day}T10:00:00+08:00`;
    await push(
      ctx,
      pf,
      register(R5, '440703', 'recycler'),
      register(R6, '440703', 'recycler'),
      register(U, '440703', 'utilizer'),
      tradeOf('a', person('蓬江散户', '440703'), R5, at(1), [['FE_LIGHT', '1000', '1.90', '1900.00']]),
      tradeOf('b', R5, R6, at(2), [
        ['FE_LIGHT', '1000', '2.00', '2000.00'],
        ['GLASS', '1000', '0.30', '300.00'],
      ]),
      tradeOf('c', R6, U, at(3), [['FE_LIGHT', '1000', '2.10', '2100.00']]),
      tradeOf('g', R6, U, at(3), [['GLASS', '600', '0.40', '240.00']]),
    );
    const o703 = await addOfficer(ctx, { divisions: ['440703'] });
    const origins = async (id: string) =>
      (await getAs(oa, `/v1/trades/${pf.code}:${id}/chain?direction=upstream`, o703.token)).body.origins;
    expect(await origins('c')).toEqual({
      natural_person_kg: '1000.000',
      enterprise_kg: '0.000',
      unsourced_kg: '0.000',
    });
    expect(await origins('g')).toEqual({
      natural_person_kg: '0.000',
      enterprise_kg: '0.000',
      unsourced_kg: '600.000',
    });
    // The root with two materials: each traced on its own, then added.
    expect(await origins('b')).toEqual({
      natural_person_kg: '1000.000',
      enterprise_kg: '0.000',
      unsourced_kg: '1000.000',
    });
  });
});
