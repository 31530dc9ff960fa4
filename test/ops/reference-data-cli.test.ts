import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, UsageError } from '../../src/cli/output';
import { materialsCommand, type ReferenceDataFlags, treatmentsCommand } from '../../src/cli/reference-data';
import { periodBounds } from '../../src/domain/reference-sheet';
import { loadReferenceSheetData } from '../../src/repositories/parties-query.repository';
import { cliJson } from '../support/cli';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, person, pricedTrade } from '../support/factories';
import { drain } from '../support/pipeline';

// DOMAIN.md: "where a figure is a default, the software must let an administrator change it, with
// the period it applies to" — the material catalog, its reference prices and the tax treatments.

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const materials = (args: string[], flags: ReferenceDataFlags = {}) =>
  cliJson(() => materialsCommand(ctx.rt, args, flags));
const treatments = (args: string[], flags: ReferenceDataFlags = {}) =>
  cliJson(() => treatmentsCommand(ctx.rt, args, flags));

describe('retrace materials', () => {
  it('lists the seeded catalog with names, unit, treatment and reference prices', async () => {
    const { materials: list } = await materials(['list']);
    expect(list).toHaveLength(16);
    expect(list.find((m: { code: string }) => m.code === 'FE_HEAVY')).toEqual({
      code: 'FE_HEAVY',
      name_zh: '重型废钢',
      name_en: 'heavy scrap steel',
      unit: 't',
      hazardous: false,
      default_treatment: 'simple_3',
      active: true,
      reference_prices: [
        { valid_from: '2020-01-01', valid_to: null, price_per_t: '2200.00', source: 'seed' },
      ],
    });
  });

  it('adds a material that ingestion then accepts, and disables it again', async () => {
    const added = await materials(['add', 'GOLD_SCRAP'], {
      'name-zh': '废金料',
      'name-en': 'gold scrap',
      treatment: 'general_13',
      unit: 'kg',
      hazardous: 'no',
      price: '400000000.00',
      from: '2026-01',
    });
    expect(added.material).toMatchObject({
      code: 'GOLD_SCRAP',
      unit: 'kg',
      default_treatment: 'general_13',
      active: true,
      reference_prices: [
        { valid_from: '2026-01-01', valid_to: null, price_per_t: '400000000.00', source: 'cli' },
      ],
    });
    // A fresh platform: the API reads the catalog when it first validates one of its records.
    const p = await ctx.addPlatform();
    const station = enterprise('杜阮回收站', '440703');
    const trade = pricedTrade('G1', person('寅'), station, {
      kg: 1,
      fenPerKg: 400_000,
      at: '2026-10-02T10:00:00+08:00',
      material: 'GOLD_SCRAP',
    });
    const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(trade), { secret: p.secret });
    expect(res.status, await res.clone().text()).toBe(202);

    const off = await materials(['disable', 'GOLD_SCRAP']);
    expect(off.material.active).toBe(false);
    const changed = await materials(['set', 'GOLD_SCRAP'], { hazardous: 'yes', 'name-en': 'scrap gold' });
    expect(changed.material).toMatchObject({ hazardous: true, name_en: 'scrap gold', active: false });
  });

  it('a new reference price applies from a month; the one before ends the day before', async () => {
    const { material } = await materials(['price', 'FE_LIGHT'], { from: '2026-11', price: '2050.00' });
    expect(material.reference_prices).toEqual([
      { valid_from: '2020-01-01', valid_to: '2026-10-31', price_per_t: '1900.00', source: 'seed' },
      { valid_from: '2026-11-01', valid_to: null, price_per_t: '2050.00', source: 'cli' },
    ]);
    // One between them ends where the next begins; the same month again replaces its price.
    await materials(['price', 'FE_LIGHT'], { from: '2026-06-01', price: '1950.00' });
    const again = await materials(['price', 'FE_LIGHT'], { from: '2026-06', price: '1960.00' });
    expect(
      again.material.reference_prices.map((r: { valid_to: string | null; price_per_t: string }) => [
        r.valid_to,
        r.price_per_t,
      ]),
    ).toEqual([
      ['2026-05-31', '1900.00'],
      ['2026-10-31', '1960.00'],
      [null, '2050.00'],
    ]);
  });

  it('refuses what it cannot do, with the reason', async () => {
    await expect(
      materials(['add', 'FE_HEAVY'], { 'name-zh': 'x', 'name-en': 'x', treatment: 'simple_3' }),
    ).rejects.toThrow(CliError);
    await expect(materials(['set', 'NOPE'], { unit: 't' })).rejects.toThrow(/no material NOPE/);
    await expect(materials(['add', 'bad code'], {})).rejects.toThrow(UsageError);
    await expect(materials(['set', 'FE_HEAVY'], {})).rejects.toThrow(/nothing to change/);
    await expect(materials(['set', 'FE_HEAVY'], { treatment: 'vat_99' })).rejects.toThrow(
      /--treatment must be one of/,
    );
    await expect(materials(['price', 'FE_HEAVY'], { from: '2026-11-15', price: '2500' })).rejects.toThrow(
      /by month/,
    );
    await expect(materials(['price', 'FE_HEAVY'], { from: '2026-11', price: '-1' })).rejects.toThrow(
      /positive/,
    );
  });
});

describe('retrace treatments', () => {
  it('a levy rate from a day on: the version before ends the day before, and the sheet uses it', async () => {
    // An income-tax prepayment rate of 1% from Oct 20 (an administrator's change).
    const out = await treatments(['set', 'iit_reverse_invoice'], { from: '2026-10-20', rate: '0.01' });
    expect(out.treatments).toEqual([
      expect.objectContaining({ valid_from: '2024-04-29', valid_to: '2026-10-19', rate: '0.0050' }),
      expect.objectContaining({ valid_from: '2026-10-20', valid_to: null, rate: '0.0100' }),
    ]);
    // A person's sale to a station on Oct 22: 10,100.00 → ex 10,000.00, IIT 1% = 100.00.
    const p = await ctx.addPlatform();
    const station = enterprise('白沙回收站', '440703');
    const seller = person('卯');
    const sale = pricedTrade('R1', seller, station, {
      kg: 1000,
      fenPerKg: 1010,
      at: '2026-10-22T10:00:00+08:00',
    });
    const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(sale), { secret: p.secret });
    expect(res.status).toBe(202);
    await drain(ctx, { rules: false });
    const { startMs, endMs } = periodBounds('2026-10');
    const data = await loadReferenceSheetData(
      ctx.rt.db,
      { key: station.uscc, kind: 'enterprise' },
      '2026-10',
      { start: new Date(startMs), end: new Date(endMs) },
    );
    expect(data.facts.withholding).toEqual([
      expect.objectContaining({ basisPoints: 100n, iitBasisPoints: 100n, ex: 1_000_000n }),
    ]);
  });

  it('a reverse-invoicing version carries its monthly exemption; bad input is refused', async () => {
    const out = await treatments(['set', 'reverse_invoice'], {
      from: '2027-06-01',
      rate: '0.01',
      'monthly-exemption': '120000.00',
      description: 'exemption raised (example)',
    });
    expect(
      out.treatments.map((t: { valid_from: string; valid_to: string | null; monthly_exemption: string }) => [
        t.valid_from,
        t.valid_to,
        t.monthly_exemption,
      ]),
    ).toEqual([
      ['2024-04-29', '2027-05-31', '100000.00'],
      ['2027-06-01', '2027-12-31', '120000.00'],
      ['2028-01-01', null, '100000.00'],
    ]);
    // A new rate alone keeps the exemption in force on its date; `none` removes it.
    const rateOnly = await treatments(['set', 'reverse_invoice'], { from: '2027-09-01', rate: '0.02' });
    expect(
      rateOnly.treatments.find((t: { valid_from: string }) => t.valid_from === '2027-09-01'),
    ).toMatchObject({
      rate: '0.0200',
      monthly_exemption: '120000.00',
    });
    const none = await treatments(['set', 'reverse_invoice'], {
      from: '2027-10-01',
      rate: '0.02',
      'monthly-exemption': 'none',
    });
    expect(none.treatments.find((t: { valid_from: string }) => t.valid_from === '2027-10-01')).toMatchObject({
      monthly_exemption: null,
    });
    await expect(treatments(['set', 'simple_3'], { from: '2027-02-30', rate: '0.03' })).rejects.toThrow(
      UsageError,
    );
    await expect(treatments(['set', 'vat_99'], { from: '2027-01-01', rate: '0.01' })).rejects.toThrow(
      /unknown treatment/,
    );
    await expect(treatments(['set', 'simple_3'], { from: '2027-01', rate: '0.01' })).rejects.toThrow(
      /YYYY-MM-DD/,
    );
    await expect(treatments(['set', 'simple_3'], { from: '2027-01-01', rate: '3%' })).rejects.toThrow(
      /--rate/,
    );
    await expect(
      treatments(['set', 'simple_3'], { from: '2027-01-01', rate: '0.03', 'monthly-exemption': '1.00' }),
    ).rejects.toThrow(/reverse_invoice only/);
  });
});
