import { describe, expect, it } from 'vitest';
import { allocateStream, type Sale, type StreamEntry } from '../../src/domain/allocation';
import { SEED_MATERIAL_CODES, SEED_MATERIALS } from '../../src/domain/catalog';
import { parseEvent } from '../../src/domain/events';
import { isValidPlate } from '../../src/domain/ids';
import { RULE_CODES } from '../../src/domain/rules/types';
import {
  BACKGROUND_MIN_MARGIN_BP,
  type Dataset,
  distanceKm,
  type GenerateOptions,
  generateDataset,
  type PlantedCase,
} from '../../src/simulate/generator';
import {
  exTaxOf,
  type Facts,
  type Finding,
  findAnomalies,
  loadFacts,
  type OTrade,
  pricePerT,
} from './oracle';

// The rule codes of DOMAIN.md section 7, as the engine defines them.
const RULES: readonly string[] = RULE_CODES;

const DAY = 86_400_000;
const PLATFORM = 'jmsim';

const CONFIGS: GenerateOptions[] = [
  { seed: 7, months: 3, scale: 1, platform: PLATFORM },
  { seed: 11, months: 1, scale: 0.1, platform: PLATFORM },
  { seed: 23, months: 2, scale: 0.4, start: '2027-11', platform: PLATFORM },
  { seed: 5, months: 4, scale: 0.05, start: '2024-05', platform: PLATFORM },
];

const cache = new Map<string, { ds: Dataset; facts: Facts; findings: Finding[] }>();
function load(opts: GenerateOptions) {
  const key = JSON.stringify(opts);
  let hit = cache.get(key);
  if (!hit) {
    const ds = generateDataset(opts);
    const facts = loadFacts(ds.events);
    hit = { ds, facts, findings: findAnomalies(facts) };
    cache.set(key, hit);
  }
  return hit;
}

/** A finding belongs to a case when the rule is the case's (or one it also triggers) and they share a trade. */
function belongs(c: PlantedCase, f: Finding, rule = f.rule): boolean {
  if (rule !== c.rule && !c.also_triggers.includes(rule)) return false;
  if (f.trades.length > 0) return f.trades.some((t) => c.trades.some((x) => x.trade_id === t));
  return f.parties.some((p) => c.parties.includes(p));
}

/** Parties that appear in planted cases, except the background utilisers that buy from planted sellers. */
function plantedParties(ds: Dataset, facts: Facts): Set<string> {
  const keys = new Set(ds.planted.flatMap((c) => c.parties));
  for (const k of [...keys]) if (facts.parties.get(k)?.roles.includes('utilizer')) keys.delete(k);
  return keys;
}

function backgroundTrades(ds: Dataset, facts: Facts): OTrade[] {
  const planted = plantedParties(ds, facts);
  return [...facts.trades.values()].filter((t) => !planted.has(t.seller) && !planted.has(t.buyer));
}

describe('generateDataset: determinism', () => {
  it('gives the identical data set for the same options, and a different one for another seed or platform', () => {
    const opts = { seed: 99, months: 2, scale: 0.15, platform: PLATFORM };
    const a = generateDataset(opts);
    const b = generateDataset(opts);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const c = generateDataset({ ...opts, seed: 100 });
    expect(c.events.map((e) => e.data)).not.toEqual(a.events.map((e) => e.data));
    const d = generateDataset({ ...opts, platform: 'other' });
    const ids = (x: Dataset) => new Set(x.events.map((e) => e.id));
    expect([...ids(d)].filter((id) => ids(a).has(id))).toEqual([]);
  });

  it('rejects options it cannot honour', () => {
    expect(() => generateDataset({ seed: -1, months: 3, scale: 1, platform: PLATFORM })).toThrow(RangeError);
    expect(() => generateDataset({ seed: 1, months: 0, scale: 1, platform: PLATFORM })).toThrow(RangeError);
    expect(() => generateDataset({ seed: 1, months: 3, scale: 0, platform: PLATFORM })).toThrow(RangeError);
    expect(() =>
      generateDataset({ seed: 1, months: 3, scale: 1, start: '2024-04', platform: PLATFORM }),
    ).toThrow(RangeError);
    expect(() =>
      generateDataset({ seed: 1, months: 3, scale: 1, start: '2026-13', platform: PLATFORM }),
    ).toThrow(RangeError);
  });

  it('produces on the order of 5,000–15,000 events at scale 1 over 3 months', () => {
    const { ds } = load(CONFIGS[0]!);
    expect(ds.events.length).toBeGreaterThan(5_000);
    expect(ds.events.length).toBeLessThan(15_000);
    expect(ds.stats.background.amendments).toBeGreaterThan(0);
    expect(ds.stats.background.cancellations).toBe(1);
    expect(ds.stats.background.upstream_declared).toBeGreaterThan(0);
    // Scrap steel dominates by weight, copper by value.
    const m = ds.stats.by_material;
    const kg = (code: string) => Number(m[code]?.kg ?? 0);
    const value = (code: string) => Number(m[code]?.amount ?? 0);
    const steelKg = kg('FE_HEAVY') + kg('FE_LIGHT') + kg('FE_CAST');
    for (const code of Object.keys(m)) if (!code.startsWith('FE_')) expect(steelKg).toBeGreaterThan(kg(code));
    for (const code of Object.keys(m)) if (code !== 'CU') expect(value('CU')).toBeGreaterThan(value(code));
  });
});

describe.each(CONFIGS)('generateDataset ($seed, $months months, scale $scale)', (opts) => {
  it('sends only events that the server accepts, each record key and version once', () => {
    const { ds } = load(opts);
    const problems: string[] = [];
    const eventIds = new Set<string>();
    const records = new Set<string>();
    let last = 0;
    for (const e of ds.events) {
      const r = parseEvent(
        { type: e.type, timestamp: e.timestamp, data: e.data },
        { materials: SEED_MATERIAL_CODES },
      );
      if (!r.ok) {
        problems.push(`${e.type} ${e.id}: ${JSON.stringify(r.errors)}`);
        continue;
      }
      if (eventIds.has(e.id)) problems.push(`event id ${e.id} twice`);
      eventIds.add(e.id);
      const key = `${r.record.kind}|${r.record.key}|${r.record.version}`;
      if (records.has(key)) problems.push(`record ${key} twice`);
      records.add(key);
      // In the order a platform would send them: by event time.
      const t = Date.parse(e.timestamp);
      if (t < last) problems.push(`${e.id} out of time order`);
      last = t;
    }
    expect(problems).toEqual([]);
  });

  it('plants every rule (or says why not) with cases that name existing trades, parties and documents', () => {
    const { ds, facts } = load(opts);
    const tradeIds = new Set(
      ds.events
        .filter((e) => e.type.startsWith('trade.'))
        .map((e) => (e.data as { trade_id: string }).trade_id),
    );
    const persons = new Set(
      [...facts.trades.values()].map((t) => t.seller).filter((k) => k.startsWith('person:')),
    );
    for (const p of facts.payments) if (p.payee.party?.startsWith('person:')) persons.add(p.payee.party);
    const documents = new Set([
      ...facts.weighings.map((w) => `weighing|${w.ticket}`),
      ...facts.payments.map((p) => `payment|${p.serial}`),
      ...facts.invoices.map((i) => `invoice|${i.no}`),
    ]);
    const planted = new Set(ds.planted.map((c) => c.rule));
    for (const rule of RULES) {
      if (!planted.has(rule))
        expect(
          ds.skipped.map((s) => s.rule),
          rule,
        ).toContain(rule);
    }
    for (const c of ds.planted) {
      expect(RULES).toContain(c.rule);
      for (const r of c.also_triggers) expect(RULES).toContain(r);
      expect(c.period).toMatch(/^\d{4}-\d{2}$/);
      if (c.rule !== 'INVOICE_WITHOUT_TRADE') expect(c.trades.length, c.description).toBeGreaterThan(0);
      for (const t of c.trades) {
        expect(t.platform).toBe(PLATFORM);
        expect(tradeIds.has(t.trade_id), `${c.rule}: ${t.trade_id}`).toBe(true);
      }
      for (const p of c.parties) {
        expect(p.startsWith('person:') ? persons.has(p) : facts.parties.has(p), `${c.rule}: ${p}`).toBe(true);
      }
      for (const d of c.documents ?? []) expect(documents.has(`${d.kind}|${d.number}`), d.number).toBe(true);
    }
    // Shared dedicated parties would blur attribution: each case has parties of its own, apart
    // from the background utilisers that buy from planted sellers.
    const owners = new Map<string, string>();
    const shared = plantedParties(ds, facts);
    ds.planted.forEach((c, i) => {
      for (const p of c.parties) {
        if (!shared.has(p)) continue;
        const prior = owners.get(p);
        expect(prior === undefined || prior === String(i), `${p} in two cases`).toBe(true);
        owners.set(p, String(i));
      }
    });
  });

  it('is exact under DOMAIN.md section 7: every planted rule fires on its case, and nothing else fires', () => {
    const { ds, findings } = load(opts);
    for (const c of ds.planted) {
      for (const rule of [c.rule, ...c.also_triggers]) {
        const hits = findings.filter((f) => f.rule === rule && belongs(c, f, rule));
        expect(hits.length, `${rule} for "${c.description}"`).toBeGreaterThan(0);
        if (rule === c.rule)
          expect(
            hits.map((h) => h.severity),
            c.description,
          ).toContain(c.severity);
      }
    }
    const stray = findings.filter((f) => !ds.planted.some((c) => belongs(c, f)));
    expect(stray).toEqual([]);
  });

  it('keeps the background invariants', () => {
    const { ds, facts } = load(opts);
    const problems: string[] = [];
    const check = (ok: boolean, what: string) => {
      if (!ok && problems.length < 50) problems.push(what);
    };
    const bg = backgroundTrades(ds, facts);
    const bgIds = new Set(bg.map((t) => t.id));
    expect(bg.length).toBeGreaterThan(50);
    const dayOf = (ms: number) => Math.floor((ms + 8 * 3_600_000) / DAY);

    // Enterprises are registered before their first trade, and genuine ones are years old.
    const registeredAt = new Map<string, number>();
    for (const e of ds.events) {
      if (e.type === 'party.registered')
        registeredAt.set((e.data as { uscc: string }).uscc, Date.parse(e.timestamp));
    }
    for (const t of facts.trades.values()) {
      for (const k of [t.seller, t.buyer]) {
        if (!k.startsWith('person:'))
          check((registeredAt.get(k) ?? Infinity) < t.atMs, `${k} registered after ${t.id}`);
      }
    }
    for (const t of bg) {
      for (const k of [t.seller, t.buyer]) {
        const p = facts.parties.get(k);
        if (p) check(t.atMs - Date.parse(p.established_on) > 3 * 365 * DAY, `${k} is young`);
      }
    }

    // Prices near the reference: within ±20% (the price rule starts at ±30%).
    const ref = new Map(SEED_MATERIALS.map((m) => [m.code, m.reference_price_fen_per_t * 100n]));
    for (const t of bg) {
      const r = ref.get(t.linePrices[0]!.material)!;
      const p = pricePerT(t);
      check(p * 100n >= r * 80n && p * 100n <= r * 120n, `${t.id} price ${p}`);
    }

    // Natural persons: small monthly and yearly sales, one or two stations within 10 km, at
    // most one visit a day.
    const byPerson = new Map<string, OTrade[]>();
    for (const t of bg) {
      if (t.sellerKind === 'natural_person') byPerson.set(t.seller, [...(byPerson.get(t.seller) ?? []), t]);
    }
    expect(byPerson.size).toBeGreaterThan(5);
    const siteOf = new Map(bg.map((t) => [t.site.code, t.site.location!]));
    for (const [person, ts] of byPerson) {
      const months = new Map<string, bigint>();
      for (const t of ts) {
        const m = new Date(t.atMs + 8 * 3_600_000).toISOString().slice(0, 7);
        months.set(m, (months.get(m) ?? 0n) + exTaxOf(t));
      }
      for (const [m, ex] of months) check(ex < 6_000_000n, `${person} ${m}: ${ex} fen`);
      check([...months.values()].reduce((s, x) => s + x, 0n) < 100_000_000n, `${person} yearly`);
      const sites = [...new Set(ts.map((t) => t.site.code))];
      check(sites.length <= 2, `${person} sells at ${sites.length} stations`);
      if (sites.length === 2) {
        check(
          distanceKm(siteOf.get(sites[0]!)!, siteOf.get(sites[1]!)!) < 10,
          `${person}: stations far apart`,
        );
      }
      const days = ts.map((t) => dayOf(t.atMs));
      check(new Set(days).size === days.length, `${person} sells twice a day`);
    }

    // Payments: exactly the total, from the buyer to the seller's own account, 1–3 days later.
    const payeesOf = new Map<string, Set<string>>();
    for (const p of facts.payments) {
      for (const id of p.tradeIds) {
        const t = facts.trades.get(id);
        if (!t || !bgIds.has(id)) continue;
        check(p.amountFen === t.totalFen, `${id} amount`);
        check(p.payee.party === t.seller && p.payee.account_name === t.sellerName, `${id} payee`);
        check(p.payer.party === t.buyer, `${id} payer`);
        check(
          p.atMs - t.atMs >= DAY / 2 && p.atMs - t.atMs < 4 * DAY,
          `${id} paid ${p.atMs - t.atMs} ms later`,
        );
        payeesOf.set(p.payee.account_no, (payeesOf.get(p.payee.account_no) ?? new Set()).add(t.seller));
      }
    }
    for (const [account, sellers] of payeesOf)
      check(sellers.size === 1, `${account} paid for several sellers`);

    // Weighings: net within 0.5%, gross ≤ 49 t, Jiangmen plates, one trip a day per vehicle.
    const plateDays = new Set<string>();
    for (const w of facts.weighings) {
      if (!bgIds.has(w.tradeId)) continue;
      const t = facts.trades.get(w.tradeId)!;
      const diff = w.netG > t.grams ? w.netG - t.grams : t.grams - w.netG;
      check(diff * 1000n <= t.grams * 5n, `${w.ticket} net`);
      check(w.grossG <= 49_000_000n, `${w.ticket} gross`);
      check(isValidPlate(w.plate) && w.plate.startsWith('粤J') && w.plate.length === 7, w.plate);
      const pd = `${w.plate}|${dayOf(w.atMs)}`;
      check(!plateDays.has(pd), `${pd} twice`);
      plateDays.add(pd);
    }

    // Invoices: one per trade, same parties and total, 1–5 days later.
    for (const inv of facts.invoices) {
      if (inv.tradeIds.length === 0 || !inv.tradeIds.every((id) => bgIds.has(id))) continue;
      check(inv.tradeIds.length === 1, `${inv.no} covers ${inv.tradeIds.length} trades`);
      const t = facts.trades.get(inv.tradeIds[0]!)!;
      check(inv.totalFen === t.totalFen, `${inv.no} total`);
      check(inv.seller === t.seller && inv.buyer === t.buyer, `${inv.no} parties`);
      check(inv.atMs - t.atMs >= DAY / 2 && inv.atMs - t.atMs < 6 * DAY, `${inv.no} issued late`);
    }
    const invoiced = new Set(facts.invoices.flatMap((i) => i.tradeIds));
    const weighed = new Set(facts.weighings.map((w) => w.tradeId));
    const paid = new Set(facts.payments.flatMap((p) => p.tradeIds));
    for (const t of bg) check(invoiced.has(t.id) && weighed.has(t.id) && paid.has(t.id), `${t.id} flows`);

    // Stock: every background sale is covered by earlier purchases (allocated as the engine does,
    // declared upstream first), no station lot comes ≥ 90% from one purchase, and each sale is
    // priced at least 8% over every purchase it draws on.
    const sellers = new Set(bg.filter((t) => t.sellerKind === 'enterprise').map((t) => t.seller));
    let allocations = 0;
    for (const party of sellers) {
      const roles = facts.parties.get(party)!.roles;
      if (!roles.includes('recycler') && !roles.includes('sorting_center')) continue;
      const mine = [...facts.trades.values()].filter((t) => t.seller === party || t.buyer === party);
      for (const m of new Set(mine.map((t) => t.linePrices[0]!.material))) {
        const ofM = mine.filter((t) => t.materials.has(m));
        const purchases: StreamEntry[] = ofM
          .filter((t) => t.buyer === party)
          .map((t) => ({ ref: { platform: PLATFORM, tradeId: t.id }, atMs: t.atMs, quantityG: t.grams }));
        const sales: Sale[] = ofM
          .filter((t) => t.seller === party)
          .map((t) => ({
            ref: { platform: PLATFORM, tradeId: t.id },
            atMs: t.atMs,
            quantityG: t.grams,
            claims: t.upstream.map((u) => ({
              upstream: { platform: PLATFORM, tradeId: u.tradeId },
              quantityG: u.grams,
            })),
          }));
        const r = allocateStream(purchases, sales);
        check(r.unsourced.length === 0, `${party} ${m} unsourced`);
        check(r.discrepancies.length === 0, `${party} ${m} claim discrepancies`);
        for (const a of r.allocations) {
          const sale = facts.trades.get(a.sale.tradeId)!;
          const purchase = facts.trades.get(a.purchase.tradeId)!;
          const floor = (pricePerT(purchase) * BigInt(10_000 + BACKGROUND_MIN_MARGIN_BP)) / 10_000n;
          check(pricePerT(sale) >= floor, `${sale.id} margin over ${purchase.id}`);
          if (roles.includes('recycler'))
            check(a.quantityG * 10n < sale.grams * 9n, `${sale.id}: one purchase ≥ 90%`);
          allocations += 1;
        }
      }
    }
    expect(allocations).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});

describe('planted cases at scale 1, 3 months', () => {
  it('lists every rule, with the side effects it truly has', () => {
    const { ds } = load(CONFIGS[0]!);
    // Only the variant a single platform cannot send.
    expect(ds.skipped.map((x) => x.rule)).toEqual(['DUPLICATE_DOCUMENT']);
    const rules = new Set(ds.planted.map((c) => c.rule));
    expect([...rules].sort()).toEqual([...RULES].sort());
    const severities = (rule: string) =>
      ds.planted
        .filter((c) => c.rule === rule)
        .map((c) => c.severity)
        .sort();
    expect(severities('PAYMENT_MISMATCH')).toEqual(['high', 'medium']);
    expect(severities('WEIGHT_MISMATCH')).toEqual(['high', 'medium']);
    expect(severities('CIRCULAR_TRADING')).toEqual(['critical', 'high']);
    expect(severities('REVERSE_INVOICE_LIMIT')).toEqual(['high', 'medium']);
    expect(severities('IMPOSSIBLE_TRAVEL')).toEqual(['high', 'medium']);
    expect(severities('PRICE_DEVIATION')).toEqual(['high', 'medium']);
    expect(
      ds.planted
        .filter((c) => c.rule === 'DUPLICATE_DOCUMENT')
        .flatMap((c) => c.documents!.map((d) => d.kind))
        .sort(),
    ).toEqual(['payment', 'weighing']);
    const also = Object.fromEntries(
      ds.planted.filter((c) => c.also_triggers.length > 0).map((c) => [c.rule, c.also_triggers]),
    );
    expect(also).toEqual({ SHARED_PAYEE_ACCOUNT: ['THIRD_PARTY_PAYEE'] });
  });

  it('with one month only, skips income splitting and says so', () => {
    const { ds } = load(CONFIGS[1]!);
    expect(ds.skipped.map((s) => s.rule)).toContain('INCOME_SPLITTING');
    const pair = ds.planted.find((c) => c.rule === 'CIRCULAR_TRADING' && c.severity === 'high')!;
    // Too short for the 40-day gap: each side's payment comes back within 30 days.
    expect(pair.also_triggers).toEqual(['FUNDS_ROUND_TRIP']);
  });
});
