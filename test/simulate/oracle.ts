/**
 * A test oracle: an independent, deliberately plain reading of DOMAIN.md section 7 (default
 * thresholds, section 6 tolerances and allocation) over the simulator's events. It is NOT the
 * production rule engine; it checks that the simulator's planted-case list is exact and that its
 * background is clean under the rules as written. Where DOMAIN.md leaves room, the choice made
 * here is stated next to the rule.
 */
import { allocateStream, type Sale, type StreamEntry } from '../../src/domain/allocation';
import { SEED_MATERIALS, seedTaxTreatmentOn, type TaxTreatment } from '../../src/domain/catalog';
import {
  exTaxFromInclusive,
  parseKg,
  parseMoney,
  parseQuantity,
  parseRate,
  parseUnitPrice,
  type QuantityUnit,
} from '../../src/domain/money';
import { distanceKm, type SimEvent } from '../../src/simulate/generator';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface Finding {
  rule: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  /** trade ids */
  trades: string[];
  /** USCC or `person:<id>` */
  parties: string[];
  detail: string;
}

interface PartyJson {
  kind: 'enterprise' | 'natural_person';
  uscc?: string;
  id_number?: string;
  name: string;
}

interface SiteJson {
  code: string;
  division: string;
  location?: { lat: number; lon: number };
}

export interface OTrade {
  id: string;
  version: number;
  atMs: number;
  seller: string;
  sellerKind: PartyJson['kind'];
  sellerName: string;
  buyer: string;
  site: SiteJson;
  /** grams by material */
  materials: Map<string, bigint>;
  grams: bigint;
  totalFen: bigint;
  treatment: string;
  /** fen per tonne of each line (tax inclusive) */
  linePrices: { material: string; yuanPerT10k: bigint }[];
  upstream: { tradeId: string; grams: bigint }[];
}

interface OPayment {
  id: string;
  tradeIds: string[];
  atMs: number;
  amountFen: bigint;
  payer: { account_no: string; party?: string };
  payee: { account_no: string; account_name: string; party?: string };
  serial?: string;
}

interface OWeighing {
  tradeId: string;
  ticket: string;
  site: SiteJson;
  plate: string;
  grossG: bigint;
  netG: bigint;
  atMs: number;
}

interface OInvoice {
  no: string;
  seller: string;
  buyer: string;
  tradeIds: string[];
  atMs: number;
  totalFen: bigint;
  materials: Map<string, bigint>;
}

export interface Facts {
  clockMs: number;
  parties: Map<string, { roles: string[]; established_on: string }>;
  trades: Map<string, OTrade>;
  payments: OPayment[];
  weighings: OWeighing[];
  invoices: OInvoice[];
}

const keyOf = (p: PartyJson) => (p.kind === 'enterprise' ? p.uscc! : `person:${p.id_number}`);
const ms = (iso: string) => Date.parse(iso);
const abs = (x: bigint) => (x < 0n ? -x : x);
const maxB = (a: bigint, b: bigint) => (a > b ? a : b);
const amountTol = (total: bigint) => maxB(100n, (abs(total) * 50n) / 10_000n);
const weightTol = (grams: bigint) => maxB(20_000n, (abs(grams) * 100n) / 10_000n);
const monthOf = (atMs: number) => new Date(atMs + 8 * HOUR).toISOString().slice(0, 7);
const REF_FEN_PER_T = new Map(SEED_MATERIALS.map((m) => [m.code, m.reference_price_fen_per_t]));
const HAZARDOUS = new Set(SEED_MATERIALS.filter((m) => m.hazardous).map((m) => m.code));
/** Amount excl. VAT at the treatment's rate on the trade's date (Asia/Shanghai). */
export function exTaxOf(t: OTrade): bigint {
  const date = new Date(t.atMs + 8 * HOUR).toISOString().slice(0, 10);
  const row = seedTaxTreatmentOn(t.treatment as TaxTreatment, date);
  if (!row) throw new Error(`no ${t.treatment} rate on ${date}`);
  return exTaxFromInclusive(t.totalFen, parseRate(row.rate)!);
}

/** Unit price of a trade in 1/10,000 CNY per tonne. */
export function pricePerT(t: OTrade): bigint {
  return t.linePrices[0]!.yuanPerT10k;
}

export function loadFacts(events: readonly SimEvent[]): Facts {
  const f: Facts = {
    clockMs: 0,
    parties: new Map(),
    trades: new Map(),
    payments: [],
    weighings: [],
    invoices: [],
  };
  const cancelled = new Map<string, number>();
  for (const e of events) {
    f.clockMs = Math.max(f.clockMs, ms(e.timestamp));
    const d = e.data as Record<string, unknown>;
    switch (e.type) {
      case 'party.registered':
        f.parties.set(d.uscc as string, {
          roles: d.roles as string[],
          established_on: d.established_on as string,
        });
        break;
      case 'trade.created':
      case 'trade.amended': {
        const seller = d.seller as PartyJson;
        const lines = d.lines as {
          material: string;
          quantity: string;
          unit: QuantityUnit;
          unit_price: string;
        }[];
        const materials = new Map<string, bigint>();
        let grams = 0n;
        const linePrices: OTrade['linePrices'] = [];
        for (const l of lines) {
          const g = parseQuantity(l.quantity, l.unit)!;
          materials.set(l.material, (materials.get(l.material) ?? 0n) + g);
          grams += g;
          const p = parseUnitPrice(l.unit_price)!.tenThousandths;
          linePrices.push({ material: l.material, yuanPerT10k: l.unit === 't' ? p : p * 1000n });
        }
        const t: OTrade = {
          id: d.trade_id as string,
          version: d.version as number,
          atMs: ms(d.occurred_at as string),
          seller: keyOf(seller),
          sellerKind: seller.kind,
          sellerName: seller.name,
          buyer: keyOf(d.buyer as PartyJson),
          site: d.site as SiteJson,
          materials,
          grams,
          totalFen: parseMoney(d.total_amount as string)!,
          treatment: d.tax_treatment as string,
          linePrices,
          upstream: ((d.upstream ?? []) as { trade_id: string; quantity: string; unit: QuantityUnit }[]).map(
            (u) => ({
              tradeId: u.trade_id,
              grams: parseQuantity(u.quantity, u.unit)!,
            }),
          ),
        };
        const prior = f.trades.get(t.id);
        if (!prior || prior.version < t.version) f.trades.set(t.id, t);
        break;
      }
      case 'trade.cancelled':
        cancelled.set(d.trade_id as string, d.version as number);
        break;
      case 'payment.made': {
        const payer = d.payer as { account_no: string; party?: PartyJson };
        const payee = d.payee as { account_no: string; account_name: string; party?: PartyJson };
        f.payments.push({
          id: d.payment_id as string,
          tradeIds: d.trade_ids as string[],
          atMs: ms(d.paid_at as string),
          amountFen: parseMoney(d.amount as string)!,
          payer: { account_no: payer.account_no, ...(payer.party ? { party: keyOf(payer.party) } : {}) },
          payee: {
            account_no: payee.account_no,
            account_name: payee.account_name,
            ...(payee.party ? { party: keyOf(payee.party) } : {}),
          },
          ...(d.serial_no ? { serial: d.serial_no as string } : {}),
        });
        break;
      }
      case 'weighing.recorded':
        f.weighings.push({
          tradeId: d.trade_id as string,
          ticket: d.ticket_no as string,
          site: d.site as SiteJson,
          plate: d.vehicle_plate as string,
          grossG: parseKg(d.gross_kg as string)!,
          netG: parseKg(d.net_kg as string)!,
          atMs: ms(d.weighed_at as string),
        });
        break;
      case 'invoice.issued': {
        const materials = new Map<string, bigint>();
        for (const l of d.lines as { material: string; quantity: string; unit: QuantityUnit }[]) {
          materials.set(l.material, (materials.get(l.material) ?? 0n) + parseQuantity(l.quantity, l.unit)!);
        }
        f.invoices.push({
          no: d.invoice_no as string,
          seller: keyOf(d.seller as PartyJson),
          buyer: keyOf(d.buyer as PartyJson),
          tradeIds: d.trade_ids as string[],
          atMs: ms(d.issued_at as string),
          totalFen: parseMoney(d.total as string)!,
          materials,
        });
        break;
      }
      default:
        throw new Error(`oracle: unexpected event type ${e.type}`);
    }
  }
  for (const [id, v] of cancelled) {
    const t = f.trades.get(id);
    if (t && t.version < v) f.trades.delete(id);
  }
  return f;
}

function group<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

const uniq = (xs: readonly string[]) => [...new Set(xs)];

/** Runs every rule; returns findings in rule order. */
export function findAnomalies(f: Facts): Finding[] {
  const out: Finding[] = [];
  const add = (x: Finding) => out.push({ ...x, trades: uniq(x.trades), parties: uniq(x.parties) });
  const trades = [...f.trades.values()];
  const tradeParties = (t: OTrade) => [t.seller, t.buyer];

  // Flows, linked by declared trade ids (every simulated document declares them, except the
  // round-trip transfers and the invoice without trade, which must stay unlinked).
  const payBy = new Map<string, bigint>();
  const paidAny = new Set<string>();
  for (const p of f.payments) {
    const linked = p.tradeIds.map((id) => f.trades.get(id)).filter((t): t is OTrade => t !== undefined);
    const sum = linked.reduce((s, t) => s + t.totalFen, 0n);
    for (const t of linked) {
      paidAny.add(t.id);
      payBy.set(t.id, (payBy.get(t.id) ?? 0n) + (sum === 0n ? 0n : (p.amountFen * t.totalFen) / sum));
    }
  }
  const weighBy = group(f.weighings, (w) => w.tradeId);
  const invoiceBy = new Map<string, { inv: OInvoice; fen: bigint; grams: bigint }[]>();
  for (const inv of f.invoices) {
    const linked = inv.tradeIds.map((id) => f.trades.get(id)).filter((t): t is OTrade => t !== undefined);
    const sumFen = linked.reduce((s, t) => s + t.totalFen, 0n);
    const sumG = linked.reduce((s, t) => s + t.grams, 0n);
    const invG = [...inv.materials.values()].reduce((s, g) => s + g, 0n);
    for (const t of linked) {
      const list = invoiceBy.get(t.id) ?? [];
      list.push({ inv, fen: (inv.totalFen * t.totalFen) / sumFen, grams: (invG * t.grams) / sumG });
      invoiceBy.set(t.id, list);
    }
  }

  for (const t of trades) {
    const age = f.clockMs - t.atMs;
    // PAYMENT_MISMATCH
    if (paidAny.has(t.id)) {
      const paid = payBy.get(t.id) ?? 0n;
      if (paid > t.totalFen + amountTol(t.totalFen)) {
        add({
          rule: 'PAYMENT_MISMATCH',
          severity: 'high',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `paid ${paid} of ${t.totalFen}`,
        });
      } else if (age >= 7 * DAY && paid < t.totalFen - amountTol(t.totalFen)) {
        add({
          rule: 'PAYMENT_MISMATCH',
          severity: 'medium',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `paid ${paid} of ${t.totalFen}`,
        });
      }
    }
    // WEIGHT_MISMATCH
    const ws = weighBy.get(t.id);
    if (ws) {
      const net = ws.reduce((s, w) => s + w.netG, 0n);
      const diff = abs(net - t.grams);
      if (diff > weightTol(t.grams)) {
        add({
          rule: 'WEIGHT_MISMATCH',
          severity: diff * 100n > t.grams * 5n ? 'high' : 'medium',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `net ${net} vs ${t.grams}`,
        });
      }
    }
    // INVOICE_MISMATCH: material (high); amount or quantity beyond tolerance (medium). A party
    // difference on the invoice is a flow status, not this rule (DOMAIN.md lists only these).
    const invs = invoiceBy.get(t.id);
    if (invs) {
      const materials = new Set(invs.flatMap((i) => [...i.inv.materials.keys()]));
      const fen = invs.reduce((s, i) => s + i.fen, 0n);
      const grams = invs.reduce((s, i) => s + i.grams, 0n);
      if ([...materials].some((m) => !t.materials.has(m))) {
        add({
          rule: 'INVOICE_MISMATCH',
          severity: 'high',
          trades: [t.id],
          parties: tradeParties(t),
          detail: 'material',
        });
      } else if (abs(fen - t.totalFen) > amountTol(t.totalFen) || abs(grams - t.grams) > weightTol(t.grams)) {
        add({
          rule: 'INVOICE_MISMATCH',
          severity: 'medium',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `invoiced ${fen}/${grams}`,
        });
      }
    }
    // MISSING_FLOW
    if (age >= 7 * DAY && (!paidAny.has(t.id) || !ws)) {
      add({
        rule: 'MISSING_FLOW',
        severity: 'medium',
        trades: [t.id],
        parties: tradeParties(t),
        detail: 'payment or weighing',
      });
    }
    if (age >= 30 * DAY && t.sellerKind === 'enterprise' && !invs) {
      add({
        rule: 'MISSING_FLOW',
        severity: 'low',
        trades: [t.id],
        parties: tradeParties(t),
        detail: 'invoice',
      });
    }
    // PRICE_DEVIATION against the seed reference (all simulated materials have one).
    for (const lp of t.linePrices) {
      const ref = REF_FEN_PER_T.get(lp.material)! * 100n; // → 1/10,000 CNY per t
      const dev = abs(lp.yuanPerT10k - ref);
      if (dev * 100n > ref * 50n) {
        add({
          rule: 'PRICE_DEVIATION',
          severity: 'high',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `${lp.yuanPerT10k}`,
        });
      } else if (dev * 100n > ref * 30n) {
        add({
          rule: 'PRICE_DEVIATION',
          severity: 'medium',
          trades: [t.id],
          parties: tradeParties(t),
          detail: `${lp.yuanPerT10k}`,
        });
      }
    }
    // HAZARDOUS_UNLICENSED
    for (const m of t.materials.keys()) {
      if (HAZARDOUS.has(m) && !f.parties.get(t.buyer)?.roles.includes('hazardous_licensed')) {
        add({
          rule: 'HAZARDOUS_UNLICENSED',
          severity: 'high',
          trades: [t.id],
          parties: tradeParties(t),
          detail: m,
        });
      }
    }
  }

  // THIRD_PARTY_PAYEE: payee neither the seller nor an account in the seller's name.
  for (const p of f.payments) {
    for (const id of p.tradeIds) {
      const t = f.trades.get(id);
      if (!t) continue;
      if (p.payee.party !== t.seller && p.payee.account_name !== t.sellerName) {
        add({
          rule: 'THIRD_PARTY_PAYEE',
          severity: 'high',
          trades: [t.id],
          parties: [...tradeParties(t), ...(p.payee.party ? [p.payee.party] : [])],
          detail: p.payee.account_name,
        });
      }
    }
  }

  // FUNDS_ROUND_TRIP: X pays Y; within 30 days X receives ≥ 50% back from Y's account.
  const byAccounts = group(f.payments, (p) => `${p.payer.account_no}>${p.payee.account_no}`);
  for (const p of f.payments) {
    const back = (byAccounts.get(`${p.payee.account_no}>${p.payer.account_no}`) ?? []).filter(
      (q) => q.atMs > p.atMs && q.atMs <= p.atMs + 30 * DAY,
    );
    const sum = back.reduce((s, q) => s + q.amountFen, 0n);
    if (back.length > 0 && sum * 2n >= p.amountFen) {
      add({
        rule: 'FUNDS_ROUND_TRIP',
        severity: 'critical',
        trades: [...p.tradeIds, ...back.flatMap((q) => q.tradeIds)],
        parties: [p.payer.party, p.payee.party].filter((x): x is string => x !== undefined),
        detail: `${sum} back of ${p.amountFen}`,
      });
    }
  }

  // SHARED_PAYEE_ACCOUNT: an account paid for ≥ 3 natural-person sellers in a month (paid_at).
  const payeeMonth = new Map<string, Set<string>>();
  const payeeTrades = new Map<string, string[]>();
  for (const p of f.payments) {
    for (const id of p.tradeIds) {
      const t = f.trades.get(id);
      if (t?.sellerKind !== 'natural_person') continue;
      const k = `${p.payee.account_no}|${monthOf(p.atMs)}`;
      payeeMonth.set(k, (payeeMonth.get(k) ?? new Set()).add(t.seller));
      payeeTrades.set(k, [...(payeeTrades.get(k) ?? []), t.id]);
    }
  }
  for (const [k, sellers] of payeeMonth) {
    if (sellers.size >= 3) {
      add({
        rule: 'SHARED_PAYEE_ACCOUNT',
        severity: 'high',
        trades: payeeTrades.get(k)!,
        parties: [...sellers],
        detail: k,
      });
    }
  }

  // Allocation (DOMAIN.md section 6) for recyclers and sorting centres: UNSOURCED_SALE, PASS_THROUGH.
  const traders = [...f.parties].filter(
    ([, p]) => p.roles.includes('recycler') || p.roles.includes('sorting_center'),
  );
  for (const [uscc] of traders) {
    const mine = trades.filter((t) => t.seller === uscc || t.buyer === uscc);
    const materials = new Set(mine.flatMap((t) => [...t.materials.keys()]));
    for (const m of materials) {
      const purchases: StreamEntry[] = mine
        .filter((t) => t.buyer === uscc && t.materials.has(m))
        .map((t) => ({
          ref: { platform: 'p', tradeId: t.id },
          atMs: t.atMs,
          quantityG: t.materials.get(m)!,
        }));
      const salesT = mine.filter((t) => t.seller === uscc && t.materials.has(m));
      if (salesT.length === 0) continue;
      const sales: Sale[] = salesT.map((t) => ({
        ref: { platform: 'p', tradeId: t.id },
        atMs: t.atMs,
        quantityG: t.materials.get(m)!,
        claims: t.upstream.map((u) => ({
          upstream: { platform: 'p', tradeId: u.tradeId },
          quantityG: u.grams,
        })),
      }));
      const r = allocateStream(purchases, sales);
      // UNSOURCED_SALE per month of the sale.
      const soldBy = new Map<string, bigint>();
      for (const s of salesT)
        soldBy.set(monthOf(s.atMs), (soldBy.get(monthOf(s.atMs)) ?? 0n) + s.materials.get(m)!);
      const unsourcedBy = group(r.unsourced, (u) => monthOf(f.trades.get(u.sale.tradeId)!.atMs));
      for (const [month, us] of unsourcedBy) {
        const g = us.reduce((s, u) => s + u.quantityG, 0n);
        if (g > maxB(500_000n, (soldBy.get(month)! * 2n) / 100n)) {
          add({
            rule: 'UNSOURCED_SALE',
            severity: 'high',
            trades: us.map((u) => u.sale.tradeId),
            parties: [uscc],
            detail: `${g} g in ${month}`,
          });
        }
      }
      // PASS_THROUGH
      const allocBy = group(r.allocations, (a) => `${a.sale.tradeId}|${a.purchase.tradeId}`);
      for (const [k, as] of allocBy) {
        const [saleId, purchaseId] = k.split('|') as [string, string];
        const sale = f.trades.get(saleId)!;
        const purchase = f.trades.get(purchaseId)!;
        const g = as.reduce((s, a) => s + a.quantityG, 0n);
        const saleG = sale.materials.get(m)!;
        const purchaseG = purchase.materials.get(m)!;
        if (
          g * 10n >= saleG * 9n &&
          purchase.atMs < sale.atMs &&
          sale.atMs - purchase.atMs < 24 * HOUR &&
          abs(purchaseG - saleG) * 100n <= saleG &&
          (pricePerT(sale) - pricePerT(purchase)) * 100n < pricePerT(purchase) * 2n
        ) {
          add({
            rule: 'PASS_THROUGH',
            severity: 'high',
            trades: [saleId, purchaseId],
            parties: [uscc, purchase.seller],
            detail: m,
          });
        }
      }
    }
  }

  // CIRCULAR_TRADING: enterprise cycles of 2–6 parties, same material, all within 90 days.
  const entTrades = trades.filter((t) => t.sellerKind === 'enterprise');
  for (const m of new Set(entTrades.flatMap((t) => [...t.materials.keys()]))) {
    const edges = group(
      entTrades.filter((t) => t.materials.has(m)),
      (t) => `${t.seller}>${t.buyer}`,
    );
    const next = new Map<string, string[]>();
    for (const k of edges.keys()) {
      const [a, b] = k.split('>') as [string, string];
      next.set(a, [...(next.get(a) ?? []), b]);
    }
    const seen = new Set<string>();
    const walk = (startNode: string, path: string[]) => {
      const last = path[path.length - 1]!;
      for (const n of next.get(last) ?? []) {
        if (n === startNode && path.length >= 2) {
          const canon = [...path].sort().join(',');
          if (seen.has(canon)) continue;
          const cycleEdges = path.map((p, i) => edges.get(`${p}>${path[(i + 1) % path.length]}`)!);
          const all = cycleEdges.flat();
          const within = all.some((t0) =>
            cycleEdges.every((es) => es.some((t) => t.atMs >= t0.atMs && t.atMs <= t0.atMs + 90 * DAY)),
          );
          if (within) {
            seen.add(canon);
            add({
              rule: 'CIRCULAR_TRADING',
              severity: path.length === 2 ? 'high' : 'critical',
              trades: all.map((t) => t.id),
              parties: path,
              detail: m,
            });
          }
        } else if (!path.includes(n) && path.length < 6) {
          walk(startNode, [...path, n]);
        }
      }
    };
    for (const a of next.keys()) walk(a, [a]);
  }

  // REVERSE_INVOICE_LIMIT and INCOME_SPLITTING on natural persons' monthly sales excl. VAT.
  const personMonths = new Map<string, Map<string, { ex: bigint; trades: string[] }>>();
  for (const t of trades) {
    if (t.sellerKind !== 'natural_person') continue;
    const months = personMonths.get(t.seller) ?? new Map();
    personMonths.set(t.seller, months);
    const cell = months.get(monthOf(t.atMs)) ?? { ex: 0n, trades: [] };
    cell.ex += exTaxOf(t);
    cell.trades.push(t.id);
    months.set(monthOf(t.atMs), cell);
  }
  const monthIndex = (p: string) => Number(p.slice(0, 4)) * 12 + Number(p.slice(5, 7)) - 1;
  for (const [person, months] of personMonths) {
    const entries = [...months].map(([p, c]) => ({ i: monthIndex(p), ...c }));
    let worst: 'medium' | 'high' | null = null;
    for (const e of entries) {
      const window = entries.filter((x) => x.i > e.i - 12 && x.i <= e.i);
      const sum = window.reduce((s, x) => s + x.ex, 0n);
      if (sum > 500_000_000n) worst = 'high';
      else if (sum > 400_000_000n && worst === null) worst = 'medium';
    }
    if (worst) {
      add({
        rule: 'REVERSE_INVOICE_LIMIT',
        severity: worst,
        trades: entries.flatMap((e) => e.trades),
        parties: [person],
        detail: '',
      });
    }
    const split = entries.filter((e) => e.ex >= 9_500_000n && e.ex < 10_000_000n);
    const hit = split.some((e) => split.filter((x) => x.i >= e.i && x.i < e.i + 6).length >= 3);
    if (hit) {
      add({
        rule: 'INCOME_SPLITTING',
        severity: 'medium',
        trades: split.flatMap((e) => e.trades),
        parties: [person],
        detail: '',
      });
    }
  }

  // VEHICLE_OVERLOAD
  for (const w of f.weighings) {
    if (w.grossG > 49_000_000n) {
      const t = f.trades.get(w.tradeId);
      add({
        rule: 'VEHICLE_OVERLOAD',
        severity: 'high',
        trades: [w.tradeId],
        parties: t ? tradeParties(t) : [],
        detail: w.plate,
      });
    }
  }

  // IMPOSSIBLE_TRAVEL: every pair of sightings, not only consecutive ones.
  const impossible = <T>(
    xs: T[],
    at: (x: T) => number,
    loc: (x: T) => { lat: number; lon: number } | undefined,
  ) => {
    const pairs: [T, T][] = [];
    for (let i = 0; i < xs.length; i++) {
      for (let j = i + 1; j < xs.length; j++) {
        const a = loc(xs[i]!);
        const b = loc(xs[j]!);
        if (!a || !b) continue;
        const km = distanceKm(a, b);
        const hours = Math.abs(at(xs[i]!) - at(xs[j]!)) / HOUR;
        if (km > 10 && (hours === 0 || km / hours > 120)) pairs.push([xs[i]!, xs[j]!]);
      }
    }
    return pairs;
  };
  for (const [plate, ws] of group(f.weighings, (w) => w.plate)) {
    for (const [a, b] of impossible(
      ws,
      (w) => w.atMs,
      (w) => w.site.location,
    )) {
      const ta = f.trades.get(a.tradeId);
      const tb = f.trades.get(b.tradeId);
      add({
        rule: 'IMPOSSIBLE_TRAVEL',
        severity: 'high',
        trades: [a.tradeId, b.tradeId],
        parties: [...(ta ? tradeParties(ta) : []), ...(tb ? tradeParties(tb) : [])],
        detail: plate,
      });
    }
  }
  for (const [person, ts] of group(
    trades.filter((t) => t.sellerKind === 'natural_person'),
    (t) => t.seller,
  )) {
    for (const [a, b] of impossible(
      ts,
      (t) => t.atMs,
      (t) => t.site.location,
    )) {
      add({
        rule: 'IMPOSSIBLE_TRAVEL',
        severity: 'medium',
        trades: [a.id, b.id],
        parties: [person, a.buyer, b.buyer],
        detail: '',
      });
    }
  }

  // DUPLICATE_DOCUMENT: a ticket (per site), a payment serial, or an invoice number on different
  // trades. The last needs two invoice records with one number, which one platform cannot send
  // (the number is the record key; an invoice covering several trades is consolidated, not reused).
  for (const [k, ws] of group(f.weighings, (w) => `${w.site.code}|${w.ticket}`)) {
    const ids = uniq(ws.map((w) => w.tradeId));
    if (ids.length > 1)
      add({
        rule: 'DUPLICATE_DOCUMENT',
        severity: 'high',
        trades: ids,
        parties: ids.flatMap((id) => tradeParties(f.trades.get(id)!)),
        detail: k,
      });
  }
  for (const [k, ps] of group(
    f.payments.filter((p) => p.serial !== undefined && p.tradeIds.length > 0),
    (p) => p.serial!,
  )) {
    const ids = uniq(ps.flatMap((p) => p.tradeIds));
    if (ps.length > 1 && ids.length > 1)
      add({
        rule: 'DUPLICATE_DOCUMENT',
        severity: 'high',
        trades: ids,
        parties: ids.flatMap((id) => tradeParties(f.trades.get(id)!)),
        detail: k,
      });
  }

  // SHELL_BURST: < 180 days old and > ¥5,000,000 excl. VAT of sales in a month.
  for (const [uscc, p] of f.parties) {
    const born = Date.parse(`${p.established_on}T00:00:00+08:00`);
    for (const [month, ts] of group(
      trades.filter((t) => t.seller === uscc),
      (t) => monthOf(t.atMs),
    )) {
      const ex = ts.reduce((s, t) => s + exTaxOf(t), 0n);
      if (ex > 500_000_000n && ts.some((t) => t.atMs - born < 180 * DAY)) {
        add({
          rule: 'SHELL_BURST',
          severity: 'high',
          trades: ts.map((t) => t.id),
          parties: [uscc],
          detail: month,
        });
      }
    }
  }

  // INVOICE_WITHOUT_TRADE: an invoice naming no trade, with no trade of the same parties and
  // material from 90 days before to 7 days after it, once 7 days have passed.
  for (const inv of f.invoices) {
    if (inv.tradeIds.length > 0 || f.clockMs - inv.atMs < 7 * DAY) continue;
    const match = trades.some(
      (t) =>
        t.seller === inv.seller &&
        t.buyer === inv.buyer &&
        [...inv.materials.keys()].some((m) => t.materials.has(m)) &&
        t.atMs >= inv.atMs - 90 * DAY &&
        t.atMs <= inv.atMs + 7 * DAY,
    );
    if (!match)
      add({
        rule: 'INVOICE_WITHOUT_TRADE',
        severity: 'high',
        trades: [],
        parties: [inv.seller, inv.buyer],
        detail: inv.no,
      });
  }

  return out;
}
