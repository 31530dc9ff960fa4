/**
 * The simulated trading platform's data set (DOMAIN.md section 9; docs/simulator.md): a
 * realistic Jiangmen recycling economy over a few months, with planted cases of every anomaly
 * rule of DOMAIN.md section 7, each recorded so that a test can measure recall and precision.
 *
 * Pure and deterministic: the same options give the same events, byte for byte. No clock, no
 * Math.random — a seeded PRNG (mulberry32) drives every choice, and the background and the planted
 * cases draw from separate streams, so planting never changes the background.
 *
 * Units inside: money in fen (bigint), prices in whole yuan per tonne (bigint, tax inclusive),
 * quantities in grams (safe-integer numbers: the largest sum stays far below 2^53), times in epoch
 * milliseconds, days as indexes from the first day of `start` (Asia/Shanghai, UTC+8, no DST).
 *
 * The background is clean by construction under DOMAIN.md sections 6–7 with default thresholds;
 * the invariants it keeps are listed in docs/simulator.md and checked by
 * test/simulate/generator.test.ts.
 */
import {
  type InvoiceKind,
  type PartyRole,
  type PaymentChannel,
  SEED_MATERIALS,
  seedTaxTreatmentOn,
  type TaxTreatment,
} from '../domain/catalog';
import { makeResidentId, makeUscc, USCC_ALPHABET } from '../domain/ids';
import {
  exTaxFromInclusive,
  formatKg,
  formatMoney,
  formatQuantity,
  formatUnitPrice,
  lineAmountFen,
  parseRate,
  type QuantityUnit,
  roundHalfUpDiv,
  taxOf,
} from '../domain/money';
import type { Envelope } from './client';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export const DEFAULT_START = '2026-08';

export interface GenerateOptions {
  /** Any integer in [0, 2^32). */
  seed: number;
  /** Calendar months of trading, 1–24. */
  months: number;
  /** Volume multiplier (persons, stations, deliveries); 1 ≈ 10,000 events for 3 months. */
  scale: number;
  /** First month, 'YYYY-MM' (Asia/Shanghai); default {@link DEFAULT_START}. */
  start?: string;
  /** Platform code: the planted cases name their trades as (platform, trade_id). */
  platform: string;
}

/** An event as a platform sends it: `id` is the `webhook-id` (or the NDJSON line id). */
export type SimEvent = Envelope & { id: string };

export interface PlantedCase {
  /** DOMAIN.md section 7 rule code. */
  rule: string;
  /** Expected severity under the default thresholds. */
  severity: 'low' | 'medium' | 'high' | 'critical';
  description: string;
  trades: { platform: string; trade_id: string }[];
  /** USCC, or `person:<id_number>` for a natural person. */
  parties: string[];
  documents?: { kind: 'payment' | 'weighing' | 'invoice'; number: string }[];
  /** YYYY-MM: the month in which the rule's condition is met. */
  period: string;
  /** Other rules this case truly also breaks (their findings belong to this case too). */
  also_triggers: string[];
}

/** A planted case left out, with the reason (e.g. too few months for INCOME_SPLITTING). */
export interface SkippedCase {
  rule: string;
  reason: string;
}

export interface DatasetStats {
  events: number;
  by_type: Record<string, number>;
  /** Distinct trades (a trade with amendments counts once). */
  trades: number;
  /** Trading days (inclusive); documents of the last trades follow a few days later. */
  window: { from: string; to: string; days: number };
  /** The latest event time: the data clock after everything arrived. */
  data_clock: string;
  parties: {
    enterprises: number;
    natural_persons: number;
    by_role: Record<string, number>;
    background_enterprises: number;
    background_persons: number;
  };
  /** Live (not cancelled) trades by material: count, kg, amount (CNY, tax inclusive). */
  by_material: Record<string, { trades: number; kg: string; amount: string }>;
  background: {
    person_purchases: number;
    enterprise_trades: number;
    amendments: number;
    cancellations: number;
    upstream_declared: number;
  };
}

export interface Dataset {
  /** In the order a platform would send them: by event time, then by creation. */
  events: SimEvent[];
  planted: PlantedCase[];
  skipped: SkippedCase[];
  stats: DatasetStats;
}

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/** FNV-1a, 32 bits: turns labels into seeds. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for simulation, and identical on every platform. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('Rng.pick: empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  weighted<T>(xs: readonly (readonly [T, number])[]): T {
    const total = xs.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [x, w] of xs) {
      r -= w;
      if (r < 0) return x;
    }
    return xs[xs.length - 1]![0];
  }

  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** An independent stream for a purpose, so that one part's draws never shift another's. */
  fork(label: string): Rng {
    return new Rng(hash32(`${this.state}:${label}`));
  }
}

// ---------------------------------------------------------------------------------------------
// Time, geography, reference data
// ---------------------------------------------------------------------------------------------

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Asia/Shanghai is UTC+8 all year. */
const TZ_MS = 8 * HOUR;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RFC 3339 in +08:00. */
export function isoAt(ms: number): string {
  const d = new Date(ms + TZ_MS);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+08:00`
  );
}

function dateAt(ms: number): string {
  return isoAt(ms).slice(0, 10);
}

function monthAt(ms: number): string {
  return isoAt(ms).slice(0, 7);
}

export interface Division {
  code: string;
  abbr: string;
  zh: string;
  lat: number;
  lon: number;
  weight: number;
}

/** Jiangmen's seven county-level divisions with an approximate centre. */
export const JIANGMEN: readonly Division[] = [
  { code: '440703', abbr: 'PJ', zh: '蓬江区', lat: 22.6, lon: 113.07, weight: 3 },
  { code: '440704', abbr: 'JH', zh: '江海区', lat: 22.56, lon: 113.13, weight: 2 },
  { code: '440705', abbr: 'XH', zh: '新会区', lat: 22.46, lon: 113.03, weight: 3 },
  { code: '440781', abbr: 'TS', zh: '台山市', lat: 22.25, lon: 112.79, weight: 2 },
  { code: '440783', abbr: 'KP', zh: '开平市', lat: 22.38, lon: 112.69, weight: 2 },
  { code: '440784', abbr: 'HS', zh: '鹤山市', lat: 22.76, lon: 112.96, weight: 2 },
  { code: '440785', abbr: 'EP', zh: '恩平市', lat: 22.19, lon: 112.36, weight: 1 },
];

function division(code: string): Division {
  const d = JIANGMEN.find((x) => x.code === code);
  if (!d) throw new RangeError(`not a Jiangmen division: ${code}`);
  return d;
}

/** Great-circle distance in km (haversine, R = 6371 km). */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Reference price, whole yuan per tonne, tax inclusive. */
const REF_YUAN: ReadonlyMap<string, bigint> = new Map(
  SEED_MATERIALS.map((m) => [m.code, m.reference_price_fen_per_t / 100n]),
);

function refYuan(material: string): bigint {
  const r = REF_YUAN.get(material);
  if (r === undefined) throw new RangeError(`no reference price for ${material}`);
  return r;
}

/** Reference × Π(factor / 10,000), half-up to the yuan. Factors in basis points. */
function priceYuan(material: string, factorsBp: readonly number[]): bigint {
  let num = refYuan(material);
  let den = 1n;
  for (const f of factorsBp) {
    num *= BigInt(f);
    den *= 10_000n;
  }
  return roundHalfUpDiv(num, den);
}

/** ⌈price × (10,000 + bp) / 10,000⌉: the lowest price with at least that margin. */
function withMargin(price: bigint, bp: number): bigint {
  const num = price * BigInt(10_000 + bp);
  return (num + 9_999n) / 10_000n;
}

/** Price tiers, in basis points of the reference: what each link of the chain pays. */
const TIER = { person: 8_600, station: 9_800, sorting: 11_200 } as const;
/** Every background sale is priced at least this far (basis points) over each purchase it draws on. */
export const BACKGROUND_MIN_MARGIN_BP = 800;

/**
 * The levy rate of a treatment on the trade's date, from the seed table with effective periods
 * (reverse invoicing: 1% until 2027-12-31, then 3%).
 */
export function rateOn(treatment: TaxTreatment, atMs: number): string {
  const row = seedTaxTreatmentOn(treatment, dateAt(atMs));
  if (!row) throw new RangeError(`no ${treatment} rate on ${dateAt(atMs)}`);
  return row.rate;
}

// ---------------------------------------------------------------------------------------------
// The world's entities
// ---------------------------------------------------------------------------------------------

export interface SiteInfo {
  code: string;
  division: string;
  lat: number;
  lon: number;
}

interface Account {
  account_name: string;
  account_no: string;
  channel: PaymentChannel;
}

interface Org {
  uscc: string;
  name: string;
  division: string;
  roles: PartyRole[];
  established_on: string;
  filing?: string;
  site: SiteInfo;
  account: Account;
  plates: string[];
  registerAtMs: number;
  background: boolean;
}

interface Person {
  id_number: string;
  name: string;
  home: { lat: number; lon: number };
  account: Account;
  plate: string;
  background: boolean;
}

type Seller = { kind: 'enterprise'; org: Org } | { kind: 'natural_person'; person: Person };

interface Trade {
  id: string;
  atMs: number;
  seller: Seller;
  buyer: Org;
  site: SiteInfo;
  material: string;
  grams: number;
  unit: QuantityUnit;
  /** Whole yuan per tonne, tax inclusive (the final price after any amendment). */
  priceYuan: bigint;
  totalFen: bigint;
  treatment: TaxTreatment;
  upstream?: { tradeId: string; grams: number }[];
  version: number;
}

const partyKey = (s: Seller): string =>
  s.kind === 'enterprise' ? s.org.uscc : `person:${s.person.id_number}`;

const sellerAccount = (s: Seller): Account => (s.kind === 'enterprise' ? s.org.account : s.person.account);

function partyJson(s: Seller) {
  return s.kind === 'enterprise'
    ? { kind: 'enterprise' as const, uscc: s.org.uscc, name: s.org.name }
    : { kind: 'natural_person' as const, id_number: s.person.id_number, name: s.person.name };
}

const orgSeller = (org: Org): Seller => ({ kind: 'enterprise', org });
const personSeller = (person: Person): Seller => ({ kind: 'natural_person', person });

function siteJson(site: SiteInfo) {
  return { code: site.code, division: site.division, location: { lat: site.lat, lon: site.lon } };
}

function accountJson(a: Account, party: Seller) {
  return { account_name: a.account_name, account_no: a.account_no, party: partyJson(party) };
}

// ---------------------------------------------------------------------------------------------
// Names and identifiers
// ---------------------------------------------------------------------------------------------

const SURNAMES = [...'陈李黄梁张林吴刘何谭余冯关甄区伍邝罗周郑杨朱许麦苏叶邓莫钟曾'];
const GIVEN = [...'伟强明华建国志文杰军平辉荣海新金锦永德成勇丽芳娟敏燕红霞玉秀英兰婷洁俊超宁坚雄标'];
const FIRM_WORDS = [
  ...['鑫源', '恒达', '宏发', '永盛', '金利', '华丰', '兴旺', '广润', '绿洲', '顺通', '伟业', '利民'],
  ...['创新', '联发', '德信', '嘉和', '万通', '锦程', '天成', '富华', '新港', '海丰', '誉达', '汇泉'],
  ...['泰昌', '俊达', '长青', '瑞丰', '安捷', '众鑫', '同心', '乐业', '骏宇', '诚信', '永旺', '美达'],
  ...['东升', '南方', '立新', '建兴', '粤兴', '宝丰', '和盛', '昌隆', '晟达', '聚源', '丰泽', '协力'],
];
/** Birthplaces of sellers from outside Jiangmen (migrant workers are common in the trade). */
const OTHER_BIRTHPLACES = ['430521', '452123', '441481', '360731', '513030', '440883', '441723'];
const PLATE_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '0123456789';

// ---------------------------------------------------------------------------------------------
// The builder: identities, records and events
// ---------------------------------------------------------------------------------------------

interface Lot {
  tradeId: string;
  atMs: number;
  left: number;
  priceYuan: bigint;
}

interface Chunk {
  lot: Lot;
  grams: number;
}

interface EmittedEvent {
  atMs: number;
  seq: number;
  ev: SimEvent;
}

interface InvoiceLineSpec {
  material: string;
  grams: number;
  unit: QuantityUnit;
  totalFen: bigint;
  rate: string;
}

class World {
  readonly events: EmittedEvent[] = [];
  readonly orgs: Org[] = [];
  readonly persons: Person[] = [];
  readonly trades = new Map<string, Trade>();
  /** Live stock lots per `${uscc}|${material}`, recyclers and sorting centres only. */
  readonly stock = new Map<string, Lot[]>();
  private readonly unsorted = new Set<string>();
  private seq = 0;
  private tradeSeq = 0;
  private paymentSeq = 0;
  private weighingSeq = 0;
  private invoiceSeq = 0;
  private serialSeq = 0;
  private readonly tickets = new Map<string, number>();
  private readonly used = new Set<string>();
  private readonly truckDays = new Map<string, Set<number>>();
  private siteSeq = 0;

  constructor(
    readonly platform: string,
    /** Upper-case base-36 tag of (platform, seed): keeps ids of different runs apart. */
    readonly tag: string,
    /** Six digits of the same hash, for the all-digit document numbers. */
    readonly digits: string,
    readonly rng: Rng,
    readonly dayMs: (day: number) => number,
  ) {}

  private unique(kind: string, make: () => string): string {
    for (let i = 0; i < 10_000; i++) {
      const v = make();
      if (!this.used.has(`${kind}:${v}`)) {
        this.used.add(`${kind}:${v}`);
        return v;
      }
    }
    throw new Error(`could not find a fresh ${kind}`);
  }

  private chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.rng.int(0, alphabet.length - 1)];
    return s;
  }

  emit(type: string, atMs: number, data: unknown): void {
    const seq = this.seq++;
    this.events.push({
      atMs,
      seq,
      ev: { id: `evt_${this.tag}_${pad(seq, 7)}`, type, timestamp: isoAt(atMs), data },
    });
  }

  // --- parties ---------------------------------------------------------------------------

  personName(): string {
    return this.unique(
      'name',
      () => this.rng.pick(SURNAMES) + this.chars(GIVEN.join(''), this.rng.int(1, 2)),
    );
  }

  firmName(pattern: (word: string) => string): string {
    return this.unique('firm', () => pattern(this.rng.pick(FIRM_WORDS)));
  }

  plate(): string {
    return this.unique('plate', () =>
      this.rng.chance(0.7)
        ? `粤J${this.chars(PLATE_CHARS, 1)}${this.chars(DIGITS, 4)}`
        : `粤J${this.chars(DIGITS, 5)}`,
    );
  }

  location(div: Division, spread = 0.03): { lat: number; lon: number } {
    const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
    return {
      lat: r6(div.lat + (this.rng.next() * 2 - 1) * spread),
      lon: r6(div.lon + (this.rng.next() * 2 - 1) * spread),
    };
  }

  org(opts: {
    name: string;
    division: string;
    roles: PartyRole[];
    kindLetter: string;
    background: boolean;
    established_on?: string;
    registerAtMs: number;
    location?: { lat: number; lon: number };
    trucks?: number;
  }): Org {
    const div = division(opts.division);
    const uscc = this.unique('uscc', () =>
      makeUscc(`91${opts.division}${this.chars(USCC_ALPHABET.replace(/[IOSVZ]/g, ''), 9)}`),
    );
    // Genuine enterprises are 4–18 years old when the data starts.
    const year = Number(dateAt(this.dayMs(0)).slice(0, 4)) - this.rng.int(4, 18);
    const established =
      opts.established_on ?? `${year}-${pad(this.rng.int(1, 12))}-${pad(this.rng.int(1, 28))}`;
    const filed = opts.roles.includes('recycler') || opts.roles.includes('sorting_center');
    const loc = opts.location ?? this.location(div);
    const org: Org = {
      uscc,
      name: opts.name,
      division: opts.division,
      roles: opts.roles,
      established_on: established,
      ...(filed
        ? { filing: `${opts.division}-${established.slice(0, 4)}-${pad(this.rng.int(1, 9999), 4)}` }
        : {}),
      site: {
        code: `JM${this.tag}-${div.abbr}-${opts.kindLetter}${pad(++this.siteSeq, 3)}`,
        division: opts.division,
        lat: loc.lat,
        lon: loc.lon,
      },
      account: {
        account_name: opts.name,
        account_no: this.unique('account', () => `44${this.chars(DIGITS, 18)}`),
        channel: 'bank_transfer',
      },
      plates: [],
      registerAtMs: opts.registerAtMs,
      background: opts.background,
    };
    for (let i = 0; i < (opts.trucks ?? 2); i++) org.plates.push(this.plate());
    this.orgs.push(org);
    this.emit('party.registered', opts.registerAtMs, {
      uscc: org.uscc,
      name: org.name,
      division: org.division,
      taxpayer_kind: 'general',
      established_on: org.established_on,
      ...(org.filing ? { recycling_filing_no: org.filing } : {}),
      roles: org.roles,
    });
    return org;
  }

  person(opts: { home: { lat: number; lon: number }; background: boolean }): Person {
    const name = this.personName();
    const birthplace = this.rng.chance(0.8) ? this.rng.pick(JIANGMEN).code : this.rng.pick(OTHER_BIRTHPLACES);
    const id_number = this.unique('resident', () =>
      makeResidentId(
        `${birthplace}${this.rng.int(1955, 2002)}${pad(this.rng.int(1, 12))}${pad(this.rng.int(1, 28))}${pad(this.rng.int(0, 999), 3)}`,
      ),
    );
    const channel = this.rng.weighted<PaymentChannel>([
      ['bank_transfer', 60],
      ['wechat_pay', 25],
      ['alipay', 15],
    ]);
    const account_no = this.unique('account', () =>
      channel === 'bank_transfer'
        ? `62${this.chars(DIGITS, 17)}`
        : channel === 'wechat_pay'
          ? `wxid-${this.chars('abcdefghjkmnpqrstuvwxyz23456789', 12)}`
          : `1${this.rng.pick(['3', '5', '8'])}${this.chars(DIGITS, 9)}`,
    );
    const p: Person = {
      id_number,
      name,
      home: opts.home,
      account: { account_name: name, account_no, channel },
      plate: this.plate(),
      background: opts.background,
    };
    this.persons.push(p);
    return p;
  }

  /** A truck of `org` not yet used on `day` (one trip a day keeps travel plausible), if any. */
  freeTruck(org: Org, day: number): string | undefined {
    const plate = org.plates.find((p) => !this.truckDays.get(p)?.has(day));
    if (plate !== undefined) this.useTruck(plate, day);
    return plate;
  }

  /** Like {@link freeTruck}, but buys the enterprise another truck when all are out. */
  truck(org: Org, day: number): string {
    const free = this.freeTruck(org, day);
    if (free !== undefined) return free;
    const plate = this.plate();
    org.plates.push(plate);
    this.useTruck(plate, day);
    return plate;
  }

  useTruck(plate: string, day: number): void {
    const days = this.truckDays.get(plate) ?? new Set<number>();
    this.truckDays.set(plate, days);
    days.add(day);
  }

  // --- trades ----------------------------------------------------------------------------

  trade(t: Omit<Trade, 'id' | 'totalFen' | 'version'>, opts: { typoPriceYuan?: bigint } = {}): Trade {
    const id = `T${this.tag}-${pad(++this.tradeSeq, 7)}`;
    const trade: Trade = {
      ...t,
      id,
      totalFen: lineAmountFen(BigInt(t.grams), t.unit, unitPrice(t.priceYuan, t.unit)),
      version: 1,
    };
    this.trades.set(id, trade);
    if (opts.typoPriceYuan !== undefined) {
      // Version 1 carried a mistyped price; version 2 (two hours later) corrects it.
      this.emit('trade.created', t.atMs, tradeData({ ...trade, priceYuan: opts.typoPriceYuan }, 1));
      trade.version = 2;
      this.emit('trade.amended', t.atMs + 2 * HOUR, tradeData(trade, 2));
    } else {
      this.emit('trade.created', t.atMs, tradeData(trade, 1));
    }
    if (trade.buyer.roles.includes('recycler') || trade.buyer.roles.includes('sorting_center')) {
      const key = `${trade.buyer.uscc}|${trade.material}`;
      const lots = this.stock.get(key) ?? [];
      this.stock.set(key, lots);
      lots.push({ tradeId: id, atMs: t.atMs, left: t.grams, priceYuan: t.priceYuan });
      this.unsorted.add(key);
    }
    return trade;
  }

  /** Cancels a trade that never went further: no stock, no payment, no documents. */
  cancel(trade: Trade, atMs: number, reason: string): void {
    trade.version += 1;
    this.emit('trade.cancelled', atMs, { trade_id: trade.id, version: trade.version, reason });
    const lots = this.stock.get(`${trade.buyer.uscc}|${trade.material}`);
    const i = lots?.findIndex((l) => l.tradeId === trade.id) ?? -1;
    if (lots && i >= 0) lots.splice(i, 1);
    this.trades.delete(trade.id);
  }

  /** Remaining lots of (party, material) bought strictly before `beforeMs`, in allocation order. */
  lots(uscc: string, material: string, beforeMs: number): Lot[] {
    const key = `${uscc}|${material}`;
    const lots = this.stock.get(key) ?? [];
    if (this.unsorted.has(key)) {
      lots.sort((a, b) => a.atMs - b.atMs || (a.tradeId < b.tradeId ? -1 : a.tradeId > b.tradeId ? 1 : 0));
      this.unsorted.delete(key);
    }
    return lots.filter((l) => l.left > 0 && l.atMs < beforeMs);
  }

  // --- documents -------------------------------------------------------------------------

  ticketNo(site: SiteInfo, atMs: number): string {
    const ymd = dateAt(atMs).replaceAll('-', '');
    const k = `${site.code}|${ymd}`;
    const n = (this.tickets.get(k) ?? 0) + 1;
    this.tickets.set(k, n);
    return `${site.code}-${ymd}-${pad(n, 4)}`;
  }

  weigh(
    trade: Trade,
    w: {
      plate: string;
      atMs: number;
      netGrams: number;
      tareGrams: number;
      ticketNo?: string;
      site?: SiteInfo;
    },
  ): { weighing_id: string; ticket_no: string } {
    const site = w.site ?? trade.site;
    const weighing_id = `W${this.tag}-${pad(++this.weighingSeq, 7)}`;
    const ticket_no = w.ticketNo ?? this.ticketNo(site, w.atMs);
    this.emit('weighing.recorded', w.atMs, {
      weighing_id,
      ticket_no,
      trade_id: trade.id,
      site: siteJson(site),
      vehicle_plate: w.plate,
      gross_kg: formatKg(BigInt(w.tareGrams + w.netGrams)),
      tare_kg: formatKg(BigInt(w.tareGrams)),
      net_kg: formatKg(BigInt(w.netGrams)),
      weighed_at: isoAt(w.atMs),
    });
    return { weighing_id, ticket_no };
  }

  serialNo(atMs: number): string {
    return `${dateAt(atMs).replaceAll('-', '')}${this.digits}${pad(++this.serialSeq, 6)}`;
  }

  pay(p: {
    tradeIds: string[];
    atMs: number;
    amountFen: bigint;
    payer: Seller;
    payee: Seller;
    payeeAccount?: Account;
    payeeParty?: Seller;
    serialNo?: string;
  }): { payment_id: string; serial_no: string } {
    const payment_id = `P${this.tag}-${pad(++this.paymentSeq, 7)}`;
    const serial_no = p.serialNo ?? this.serialNo(p.atMs);
    const payeeAccount = p.payeeAccount ?? sellerAccount(p.payee);
    this.emit('payment.made', p.atMs, {
      payment_id,
      trade_ids: p.tradeIds,
      paid_at: isoAt(p.atMs),
      amount: formatMoney(p.amountFen),
      channel: payeeAccount.channel,
      payer: accountJson(sellerAccount(p.payer), p.payer),
      payee: accountJson(payeeAccount, p.payeeParty ?? p.payee),
      serial_no,
    });
    return { payment_id, serial_no };
  }

  invoiceNo(atMs: number): string {
    // 数电发票: year (2) + region 44 (2) + channel (1) + sequence (15, here: run digits + counter).
    return `${dateAt(atMs).slice(2, 4)}441${this.digits}${pad(++this.invoiceSeq, 9)}`;
  }

  invoice(i: {
    kind: InvoiceKind;
    atMs: number;
    seller: Seller;
    buyer: Org;
    tradeIds: string[];
    lines: InvoiceLineSpec[];
  }): string {
    const invoice_no = this.invoiceNo(i.atMs);
    let totalEx = 0n;
    let totalTax = 0n;
    const lines = i.lines.map((l) => {
      const rate = parseRate(l.rate)!;
      const ex = exTaxFromInclusive(l.totalFen, rate);
      let tax = l.totalFen - ex;
      // total − ex is within a fen of ex × rate; fall back to the exact product if not.
      if (tax - taxOf(ex, rate) > 1n || taxOf(ex, rate) - tax > 1n) tax = taxOf(ex, rate);
      totalEx += ex;
      totalTax += tax;
      return {
        material: l.material,
        quantity: formatQuantity(BigInt(l.grams), l.unit),
        unit: l.unit,
        amount_ex_tax: formatMoney(ex),
        tax_rate: l.rate,
        tax_amount: formatMoney(tax),
      };
    });
    this.emit('invoice.issued', i.atMs, {
      invoice_no,
      kind: i.kind,
      issued_at: isoAt(i.atMs),
      seller: partyJson(i.seller),
      buyer: partyJson(orgSeller(i.buyer)),
      trade_ids: i.tradeIds,
      lines,
      total_ex_tax: formatMoney(totalEx),
      total_tax: formatMoney(totalTax),
      total: formatMoney(totalEx + totalTax),
    });
    return invoice_no;
  }

  /** A random time on `day` between two clock times (hours, fractional). */
  timeOn(day: number, fromHour: number, toHour: number): number {
    const minutes = this.rng.int(Math.round(fromHour * 60), Math.round(toHour * 60));
    return this.dayMs(day) + minutes * MINUTE + this.rng.int(0, 59) * 1000;
  }
}

function unitPrice(yuanPerT: bigint, unit: QuantityUnit) {
  // 1 yuan/t = 0.001 yuan/kg = 10 ten-thousandths per kg.
  return { tenThousandths: unit === 't' ? yuanPerT * 10_000n : yuanPerT * 10n };
}

function tradeData(t: Trade, version: number) {
  const price = unitPrice(t.priceYuan, t.unit);
  const amount = lineAmountFen(BigInt(t.grams), t.unit, price);
  return {
    trade_id: t.id,
    version,
    occurred_at: isoAt(t.atMs),
    seller: partyJson(t.seller),
    buyer: partyJson(orgSeller(t.buyer)),
    site: siteJson(t.site),
    lines: [
      {
        material: t.material,
        quantity: formatQuantity(BigInt(t.grams), t.unit),
        unit: t.unit,
        unit_price: formatUnitPrice(price),
        amount: formatMoney(amount),
      },
    ],
    total_amount: formatMoney(amount),
    tax_treatment: t.treatment,
    ...(t.upstream
      ? {
          upstream: t.upstream.map((u) => ({
            trade_id: u.tradeId,
            quantity: formatQuantity(BigInt(u.grams), 't'),
            unit: 't' as const,
          })),
        }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Standard flows: what a genuine trade gets
// ---------------------------------------------------------------------------------------------

interface FlowOptions {
  /** false: no weighing. */
  weigh?: false | { plate?: string; atMs?: number; netGrams?: number; ticketNo?: string };
  pay?:
    | false
    | { atMs?: number; amountFen?: bigint; payeeAccount?: Account; payeeParty?: Seller; serialNo?: string };
  invoice?: false | { atMs?: number; material?: string };
}

interface Flows {
  weighing?: { weighing_id: string; ticket_no: string };
  payment?: { payment_id: string; serial_no: string };
  invoiceNo?: string;
}

/**
 * Weighing (just before the trade, net within 0.4% of the quantity), payment of exactly the
 * total from the buyer to the seller's own account 1–3 days later, and the invoice 1–5 days
 * later: reverse for a natural person, special between enterprises.
 */
function completeFlows(w: World, t: Trade, day: number, plate: string, o: FlowOptions = {}): Flows {
  const rng = w.rng;
  const out: Flows = {};
  if (o.weigh !== false) {
    const person = t.seller.kind === 'natural_person';
    // A station deducts a little for impurities (扣杂): the traded quantity is at most 0.4% below net.
    const deduct =
      person && rng.chance(0.3) ? Math.round((t.grams * rng.int(5, 40)) / 10_000 / 100) * 100 : 0;
    const net = o.weigh?.netGrams ?? t.grams + deduct;
    const tare = person ? rng.int(1_500, 3_500) * 1000 : rng.int(12_000, 16_000) * 1000;
    out.weighing = w.weigh(t, {
      plate: o.weigh?.plate ?? plate,
      atMs: o.weigh?.atMs ?? t.atMs - rng.int(5, 20) * MINUTE,
      netGrams: net,
      tareGrams: tare,
      ...(o.weigh?.ticketNo ? { ticketNo: o.weigh.ticketNo } : {}),
    });
  }
  if (o.pay !== false) {
    out.payment = w.pay({
      tradeIds: [t.id],
      atMs: o.pay?.atMs ?? w.timeOn(day + rng.int(1, 3), 9, 17),
      amountFen: o.pay?.amountFen ?? t.totalFen,
      payer: orgSeller(t.buyer),
      payee: t.seller,
      ...(o.pay?.payeeAccount ? { payeeAccount: o.pay.payeeAccount } : {}),
      ...(o.pay?.payeeParty ? { payeeParty: o.pay.payeeParty } : {}),
      ...(o.pay?.serialNo ? { serialNo: o.pay.serialNo } : {}),
    });
  }
  if (o.invoice !== false) {
    const rate = rateOn(t.treatment, t.atMs);
    out.invoiceNo = w.invoice({
      kind: t.seller.kind === 'natural_person' ? 'reverse' : 'special',
      atMs: o.invoice?.atMs ?? w.timeOn(day + rng.int(1, 5), 9, 17),
      seller: t.seller,
      buyer: t.buyer,
      tradeIds: [t.id],
      lines: [
        {
          material: o.invoice?.material ?? t.material,
          grams: t.grams,
          unit: t.unit,
          totalFen: t.totalFen,
          rate,
        },
      ],
    });
  }
  return out;
}

/** FIFO over remaining lots: what a sale of `grams` would take. */
function fifo(lots: readonly Lot[], grams: number): Chunk[] {
  const chunks: Chunk[] = [];
  let rest = grams;
  for (const lot of lots) {
    if (rest <= 0) break;
    const g = Math.min(lot.left, rest);
    if (g > 0) chunks.push({ lot, grams: g });
    rest -= g;
  }
  return chunks;
}

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

const sumGrams = (xs: readonly { grams: number }[]) => xs.reduce((s, x) => s + x.grams, 0);

// ---------------------------------------------------------------------------------------------
// The background economy
// ---------------------------------------------------------------------------------------------

interface Ctx {
  w: World;
  days: number;
  scale: number;
  /** Market factor per material and day, basis points around 10,000 (±3%). */
  market: Map<string, number[]>;
  stats: DatasetStats['background'];
}

const PERSON_MATERIALS: readonly (readonly [string, number])[] = [
  ['FE_HEAVY', 25],
  ['FE_LIGHT', 20],
  ['FE_CAST', 5],
  ['PAPER', 15],
  ['PLASTIC', 10],
  ['CU', 14],
  ['AL', 8],
  ['SS', 3],
];

/** kg a natural person brings in one visit, by material (0.05–3 t overall). */
const PERSON_KG: Record<string, readonly [number, number]> = {
  FE_HEAVY: [300, 3000],
  FE_LIGHT: [200, 2500],
  FE_CAST: [200, 2000],
  SS: [50, 600],
  CU: [50, 400],
  AL: [50, 800],
  PAPER: [100, 2000],
  PLASTIC: [100, 1500],
};

/** A station sells a material once it holds this much (grams). */
const STATION_LOT_G: Record<string, number> = {
  FE_HEAVY: 12e6,
  FE_LIGHT: 8e6,
  FE_CAST: 6e6,
  SS: 1.5e6,
  CU: 0.8e6,
  AL: 1.2e6,
  PAPER: 6e6,
  PLASTIC: 4e6,
};

const SORTING_LOT_G: Record<string, number> = {
  FE_HEAVY: 20e6,
  FE_LIGHT: 20e6,
  FE_CAST: 15e6,
  SS: 4e6,
  CU: 2.5e6,
  AL: 3e6,
  PAPER: 15e6,
  PLASTIC: 10e6,
};

/** One truck load at most (net); with a tare ≤ 16 t the gross stays ≤ 46.1 t. */
const MAX_LOAD_G = 30e6;
/** A person's monthly sales stay below this (fen, tax inclusive): far from ¥95,000 excl. VAT. */
export const PERSON_MONTHLY_CAP_FEN = 5_500_000n;

type UtiliserKind = 'steel' | 'copper' | 'aluminium' | 'paper' | 'plastics';
const UTILISER_OF: Record<string, UtiliserKind> = {
  FE_HEAVY: 'steel',
  FE_LIGHT: 'steel',
  FE_CAST: 'steel',
  SS: 'steel',
  CU: 'copper',
  AL: 'aluminium',
  PAPER: 'paper',
  PLASTIC: 'plastics',
};
/** Share of a station's lots that go straight to the utiliser instead of a sorting centre. */
const DIRECT_SHARE: Record<string, number> = {
  FE_HEAVY: 0.3,
  FE_LIGHT: 0.3,
  FE_CAST: 0.3,
  SS: 0.3,
  CU: 0.5,
  AL: 0.5,
  PAPER: 0.8,
  PLASTIC: 0.6,
};

interface GeneratorPlan {
  org: Org;
  products: {
    material: string;
    everyDays: number;
    kg: readonly [number, number];
    to: 'station' | 'sorting' | 'hazardous';
    next: number;
  }[];
}

interface Background {
  stations: Org[];
  sorting: Org[];
  utilisers: Record<UtiliserKind, Org>;
  hazardous: Org;
}

function buildBackground(ctx: Ctx, rng: Rng, registerAtMs: number): Background {
  const { w, scale } = ctx;
  const nStations = Math.max(2, Math.round(16 * scale));
  const nSorting = Math.max(1, Math.round(3 * scale));
  const nPersons = Math.max(12, Math.round(300 * scale));

  const weightedDivision = () => rng.weighted(JIANGMEN.map((d) => [d, d.weight] as const));
  const stations: Org[] = [];
  for (let i = 0; i < nStations; i++) {
    const div = i < JIANGMEN.length ? JIANGMEN[i]! : weightedDivision();
    stations.push(
      w.org({
        name: w.firmName((x) => `江门市${div.zh}${x}再生资源回收有限公司`),
        division: div.code,
        roles: ['recycler'],
        kindLetter: 'S',
        background: true,
        registerAtMs,
      }),
    );
  }
  const sortingDivisions = ['440704', '440705', '440784', '440783', '440781', '440703', '440785'];
  const sorting: Org[] = [];
  for (let i = 0; i < nSorting; i++) {
    const div = division(sortingDivisions[i % sortingDivisions.length]!);
    sorting.push(
      w.org({
        name: w.firmName((x) => `江门${x}再生资源分拣中心有限公司`),
        division: div.code,
        roles: ['sorting_center'],
        kindLetter: 'C',
        background: true,
        registerAtMs,
        trucks: 4,
      }),
    );
  }
  const utiliser = (div: string, pattern: (x: string) => string) =>
    w.org({
      name: w.firmName(pattern),
      division: div,
      roles: ['utilizer'],
      kindLetter: 'U',
      background: true,
      registerAtMs,
    });
  const utilisers: Record<UtiliserKind, Org> = {
    steel: utiliser('440705', (x) => `江门市新会区${x}钢铁有限公司`),
    copper: utiliser('440784', (x) => `鹤山市${x}铜业有限公司`),
    aluminium: utiliser('440703', (x) => `江门市蓬江区${x}铝型材有限公司`),
    paper: utiliser('440705', (x) => `江门市新会区${x}纸业有限公司`),
    plastics: utiliser('440704', (x) => `江门市江海区${x}塑料再生科技有限公司`),
  };
  const hazardous = w.org({
    name: w.firmName((x) => `鹤山市${x}废旧蓄电池回收处理有限公司`),
    division: '440784',
    roles: ['recycler', 'hazardous_licensed'],
    kindLetter: 'H',
    background: true,
    registerAtMs,
  });

  // Factories selling their own production scrap (产废企业).
  const gen = (div: string, pattern: (x: string) => string, products: GeneratorPlan['products']) => ({
    org: w.org({
      name: w.firmName(pattern),
      division: div,
      roles: ['generator'],
      kindLetter: 'G',
      background: true,
      registerAtMs,
    }),
    products: products.map((p) => ({
      ...p,
      everyDays: Math.max(1, Math.round(p.everyDays / scale)),
      next: rng.int(0, Math.max(0, Math.round(p.everyDays / scale) - 1)),
    })),
  });
  const p = (
    material: string,
    everyDays: number,
    kg: readonly [number, number],
    to: 'station' | 'sorting' | 'hazardous',
  ) => ({
    material,
    everyDays,
    kg,
    to,
    next: 0,
  });
  const generators: GeneratorPlan[] = [
    gen('440703', (x) => `江门市蓬江区${x}五金制品有限公司`, [
      p('FE_LIGHT', 6, [1000, 4000], 'station'),
      p('SS', 10, [200, 600], 'station'),
    ]),
    gen('440704', (x) => `江门市江海区${x}电机有限公司`, [
      p('CU', 7, [80, 250], 'station'),
      p('FE_LIGHT', 12, [5000, 12000], 'sorting'),
    ]),
    gen('440705', (x) => `江门市新会区${x}包装制品有限公司`, [
      p('PAPER', 5, [8000, 14000], 'sorting'),
      p('PLASTIC', 9, [800, 2000], 'station'),
    ]),
    gen('440783', (x) => `开平市${x}汽车配件有限公司`, [
      p('FE_CAST', 7, [5000, 12000], 'sorting'),
      p('AL', 10, [1000, 2500], 'sorting'),
    ]),
    gen('440703', (x) => `江门市${x}客运有限公司`, [p('PB_BATTERY', 12, [1000, 4000], 'hazardous')]),
    gen('440781', (x) => `台山市${x}通信铁塔维护有限公司`, [p('PB_BATTERY', 15, [500, 2000], 'hazardous')]),
  ];

  // Natural-person sellers: one home station, sometimes a second one within 10 km.
  interface SellerPlan {
    person: Person;
    stations: Org[];
    materials: string[];
    interval: number;
    next: number;
  }
  const sellers: SellerPlan[] = [];
  for (let i = 0; i < nPersons; i++) {
    const div = weightedDivision();
    const home = w.location(div, 0.06);
    const byDistance = [...stations].sort((a, b) => distanceKm(home, a.site) - distanceKm(home, b.site));
    const main = rng.chance(0.75) || byDistance.length < 2 ? byDistance[0]! : byDistance[1]!;
    const near = stations.filter((s) => s !== main && distanceKm(s.site, main.site) < 10);
    const chosen = near.length > 0 && rng.chance(0.35) ? [main, rng.pick(near)] : [main];
    const m1 = rng.weighted(PERSON_MATERIALS);
    const m2 = rng.weighted(PERSON_MATERIALS);
    const interval = rng.weighted<[number, number]>([
      [[4, 8], 20],
      [[9, 20], 50],
      [[20, 40], 30],
    ]);
    const every = rng.int(interval[0], interval[1]);
    sellers.push({
      person: w.person({ home, background: true }),
      stations: chosen,
      materials: rng.chance(0.4) && m2 !== m1 ? [m1, m2] : [m1],
      interval: every,
      next: rng.int(0, every - 1),
    });
  }

  const sortingOf = new Map(
    stations.map((s) => [
      s,
      [...sorting].sort((a, b) => distanceKm(s.site, a.site) - distanceKm(s.site, b.site))[0]!,
    ]),
  );
  const monthly = new Map<string, bigint>();
  const lastSale = new Map<string, number>();
  let personOrdinal = 0;

  const market = (material: string, day: number) => ctx.market.get(material)?.[day] ?? 10_000;
  const noise = () => 10_000 + rng.int(-100, 100);

  for (let day = 0; day < ctx.days; day++) {
    // Phase 1 (07:30–11:45): persons sell at stations; factories deliver.
    for (const s of sellers) {
      if (s.next !== day) continue;
      s.next = day + Math.max(1, Math.round(s.interval * (0.6 + rng.next() * 0.8)));
      const station = rng.pick(s.stations);
      const material = rng.pick(s.materials);
      const [lo, hi] = PERSON_KG[material]!;
      const at = w.timeOn(day, 7.5, 11.75);
      const price = priceYuan(material, [TIER.person, market(material, day), noise()]);
      let grams = rng.int(lo, hi) * 1000;
      const month = monthAt(at);
      const mk = `${s.person.id_number}|${month}`;
      const soFar = monthly.get(mk) ?? 0n;
      const amount = (g: number) => lineAmountFen(BigInt(g), 'kg', unitPrice(price, 'kg'));
      if (soFar + amount(grams) > PERSON_MONTHLY_CAP_FEN) {
        // Keep the month small: sell only what fits (in whole kg), or stay home.
        const room = PERSON_MONTHLY_CAP_FEN - soFar;
        grams = Number((room * 10_000n) / price / 1000n) * 1000 - 1000;
        if (grams < 50_000) continue;
      }
      personOrdinal += 1;
      const cancelled = personOrdinal === 123;
      const amended = !cancelled && personOrdinal % 400 === 57;
      const trade = w.trade(
        {
          atMs: at,
          seller: personSeller(s.person),
          buyer: station,
          site: station.site,
          material,
          grams,
          unit: 'kg',
          priceYuan: price,
          treatment: 'reverse_invoice',
        },
        amended ? { typoPriceYuan: (price * 97n) / 100n } : {},
      );
      ctx.stats.person_purchases += 1;
      if (cancelled) {
        w.cancel(
          trade,
          at + 3 * HOUR,
          '卖方撤回，未过磅未付款 (seller withdrew before weighing and payment)',
        );
        ctx.stats.cancellations += 1;
        continue;
      }
      if (amended) ctx.stats.amendments += 1;
      monthly.set(mk, soFar + trade.totalFen);
      completeFlows(w, trade, day, s.person.plate);
    }
    for (const g of generators) {
      for (const prod of g.products) {
        if (prod.next !== day) continue;
        const target =
          prod.to === 'hazardous'
            ? hazardous
            : prod.to === 'sorting'
              ? [...sorting].sort(
                  (a, b) => distanceKm(g.org.site, a.site) - distanceKm(g.org.site, b.site),
                )[0]!
              : [...stations].sort((a, b) => distanceKm(g.org.site, a.site) - distanceKm(g.org.site, b.site))[
                  rng.int(0, Math.min(2, stations.length - 1))
                ]!;
        const plate = w.freeTruck(g.org, day);
        if (plate === undefined) {
          prod.next = day + 1;
          continue;
        }
        prod.next = day + Math.max(1, Math.round(prod.everyDays * (0.7 + rng.next() * 0.6)));
        const trade = w.trade({
          atMs: w.timeOn(day, 8, 11.5),
          seller: orgSeller(g.org),
          buyer: target,
          site: target.site,
          material: prod.material,
          grams: rng.int(prod.kg[0], prod.kg[1]) * 1000,
          unit: 't',
          priceYuan: priceYuan(prod.material, [TIER.person, market(prod.material, day), noise()]),
          treatment: 'general_13',
        });
        ctx.stats.enterprise_trades += 1;
        completeFlows(w, trade, day, plate);
      }
    }

    // Phase 2 (13:00–14:45): stations sell aggregated lots; phase 3 (15:30–17:45): sorting centres.
    const sell = (
      seller: Org,
      lotG: Record<string, number>,
      fromHour: number,
      toHour: number,
      tier: number,
    ) => {
      for (const material of Object.keys(lotG)) {
        const lk = `${seller.uscc}|${material}`;
        if ((lastSale.get(lk) ?? -99) > day - 3) continue;
        const at = w.timeOn(day, fromHour, toHour);
        const lots = w.lots(seller.uscc, material, at);
        const avail = sumGrams(lots.map((l) => ({ grams: l.left })));
        if (avail < lotG[material]!) continue;
        let grams = Math.min(MAX_LOAD_G, Math.floor((avail * (0.85 + rng.next() * 0.07)) / 1000) * 1000);
        let chunks = fifo(lots, grams);
        // An aggregated lot: no single purchase supplies 85% or more of it.
        if (Math.max(...chunks.map((c) => c.grams)) >= 0.85 * grams) {
          grams = Math.min(MAX_LOAD_G, Math.floor((avail * 0.95) / 1000) * 1000);
          chunks = fifo(lots, grams);
          if (Math.max(...chunks.map((c) => c.grams)) >= 0.85 * grams) continue;
        }
        const plate = w.freeTruck(seller, day);
        if (plate === undefined) continue;
        const kind = UTILISER_OF[material]!;
        const buyer =
          seller.roles.includes('sorting_center') || rng.chance(DIRECT_SHARE[material]!)
            ? utilisers[kind]
            : sortingOf.get(seller)!;
        const maxBought = chunks.reduce((m, c) => maxBig(m, c.lot.priceYuan), 0n);
        const listed = priceYuan(material, [tier, market(material, day), noise()]);
        const floor = withMargin(maxBought, BACKGROUND_MIN_MARGIN_BP);
        const declare = rng.chance(0.3);
        const trade = w.trade({
          atMs: at,
          seller: orgSeller(seller),
          buyer,
          site: buyer.site,
          material,
          grams,
          unit: 't',
          priceYuan: maxBig(listed, floor),
          treatment: 'simple_3',
          ...(declare ? { upstream: chunks.map((c) => ({ tradeId: c.lot.tradeId, grams: c.grams })) } : {}),
        });
        for (const c of chunks) c.lot.left -= c.grams;
        lastSale.set(lk, day);
        ctx.stats.enterprise_trades += 1;
        if (declare) ctx.stats.upstream_declared += 1;
        completeFlows(w, trade, day, plate);
      }
    };
    for (const s of stations) sell(s, STATION_LOT_G, 13, 14.75, TIER.station);
    for (const c of sorting) sell(c, SORTING_LOT_G, 15.5, 17.75, TIER.sorting);
  }
  return { stations, sorting, utilisers, hazardous };
}

// ---------------------------------------------------------------------------------------------
// Planted cases
// ---------------------------------------------------------------------------------------------

interface PlantCtx {
  w: World;
  rng: Rng;
  days: number;
  bg: Background;
  registerAtMs: number;
  planted: PlantedCase[];
  skipped: SkippedCase[];
}

function plantAll(pc: PlantCtx): void {
  const { w, rng, days, bg } = pc;
  const platform = w.platform;
  /** Latest day for a case whose rule waits 7 days (data clock ≥ trade + 7 days), with margin. */
  const lastDay7 = Math.max(1, days - 12);
  const dayIn = (lo: number, hi: number) =>
    rng.int(Math.max(0, lo), Math.max(Math.max(0, lo), Math.min(hi, days - 1)));

  const station = (
    div: string,
    opts: { roles?: PartyRole[]; established_on?: string; registerAtMs?: number } = {},
  ) => {
    const d = division(div);
    return w.org({
      name: w.firmName((x) => `江门市${d.zh}${x}再生资源回收有限公司`),
      division: div,
      roles: opts.roles ?? ['recycler'],
      kindLetter: 'S',
      background: false,
      registerAtMs: opts.registerAtMs ?? pc.registerAtMs,
      ...(opts.established_on ? { established_on: opts.established_on } : {}),
    });
  };
  const factory = (div: string, pattern: (x: string) => string) =>
    w.org({
      name: w.firmName(pattern),
      division: div,
      roles: ['generator'],
      kindLetter: 'G',
      background: false,
      registerAtMs: pc.registerAtMs,
    });
  const person = (near: Org) => w.person({ home: near.site, background: false });

  const at = (day: number, hour: number) => w.dayMs(day) + Math.round(hour * 60) * MINUTE;

  /** A natural person sells at a station (reverse-invoiced), with all flows unless overridden. */
  const buy = (
    st: Org,
    p: Person,
    o: {
      day: number;
      hour?: number;
      material: string;
      kg: number;
      factorBp?: number;
      flows?: FlowOptions;
      plate?: string;
    },
  ) => {
    const trade = w.trade({
      atMs: at(o.day, o.hour ?? 9 + rng.int(0, 20) / 10),
      seller: personSeller(p),
      buyer: st,
      site: st.site,
      material: o.material,
      grams: Math.round(o.kg * 1000),
      unit: 'kg',
      priceYuan: priceYuan(o.material, [o.factorBp ?? TIER.person]),
      treatment: 'reverse_invoice',
    });
    const flows = completeFlows(w, trade, o.day, o.plate ?? p.plate, o.flows);
    return { trade, flows };
  };

  /** An enterprise sells to an enterprise (special invoice), delivered to the buyer's site. */
  const sale = (
    seller: Org,
    buyer: Org,
    o: {
      day: number;
      hour?: number;
      material: string;
      tonnes: number;
      factorBp: number;
      treatment?: TaxTreatment;
      upstream?: Trade[];
      flows?: FlowOptions;
      plate?: string;
    },
  ) => {
    const grams = Math.round(o.tonnes * 1e6);
    const trade = w.trade({
      atMs: at(o.day, o.hour ?? 14),
      seller: orgSeller(seller),
      buyer,
      site: buyer.site,
      material: o.material,
      grams,
      unit: 't',
      priceYuan: priceYuan(o.material, [o.factorBp]),
      treatment: o.treatment ?? (seller.roles.includes('generator') ? 'general_13' : 'simple_3'),
      ...(o.upstream ? { upstream: o.upstream.map((u) => ({ tradeId: u.id, grams: u.grams })) } : {}),
    });
    const flows = completeFlows(w, trade, o.day, o.plate ?? w.truck(seller, o.day), o.flows);
    return { trade, flows };
  };

  const ref = (t: Trade) => ({ platform, trade_id: t.id });
  const partiesOf = (...ts: Trade[]) => {
    const keys: string[] = [];
    for (const t of ts)
      for (const k of [partyKey(t.seller), t.buyer.uscc]) if (!keys.includes(k)) keys.push(k);
    return keys;
  };
  const plant = (c: Omit<PlantedCase, 'also_triggers'> & { also_triggers?: string[] }) =>
    pc.planted.push({ ...c, also_triggers: c.also_triggers ?? [] });

  const steel = bg.utilisers.steel;
  const copper = bg.utilisers.copper;

  // PAYMENT_MISMATCH, high: paid 20% more than the trade total.
  {
    const st = station('440705');
    const p = person(st);
    const d = dayIn(1, lastDay7);
    const { trade } = buy(st, p, { day: d, material: 'FE_HEAVY', kg: 2400 });
    // Rebuild the payment: the standard one was exact; this case pays 120% instead.
    replaceLastPayment(w, trade, (trade.totalFen * 12n) / 10n);
    plant({
      rule: 'PAYMENT_MISMATCH',
      severity: 'high',
      description:
        'station paid a natural-person seller 120% of the trade total (overpayment beyond tolerance)',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      period: monthAt(trade.atMs),
    });
  }

  // PAYMENT_MISMATCH, medium: only 70% paid, and still short 7 days after the trade.
  {
    const st = station('440781');
    const p = person(st);
    const d = dayIn(1, lastDay7);
    const { trade } = buy(st, p, { day: d, material: 'CU', kg: 180 });
    replaceLastPayment(w, trade, (trade.totalFen * 7n) / 10n);
    plant({
      rule: 'PAYMENT_MISMATCH',
      severity: 'medium',
      description: 'station paid only 70% of the trade total; nothing else follows (underpaid after 7 days)',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      period: monthAt(trade.atMs),
    });
  }

  // WEIGHT_MISMATCH, medium (3%) and high (8%).
  for (const [pctBp, severity] of [
    [300, 'medium'],
    [800, 'high'],
  ] as const) {
    const st = station(pctBp === 300 ? '440783' : '440784');
    const p = person(st);
    const d = dayIn(1, days - 2);
    const kg = 2000;
    const { trade, flows } = buy(st, p, {
      day: d,
      material: 'FE_LIGHT',
      kg,
      flows: { weigh: { netGrams: kg * 1000 + (kg * 1000 * pctBp) / 10_000 } },
    });
    plant({
      rule: 'WEIGHT_MISMATCH',
      severity,
      description: `weighbridge net is ${pctBp / 100}% above the traded quantity (${kg} kg)`,
      trades: [ref(trade)],
      parties: partiesOf(trade),
      documents: [{ kind: 'weighing', number: flows.weighing!.ticket_no }],
      period: monthAt(trade.atMs),
    });
  }

  // INVOICE_MISMATCH (变票): the invoice names heavy scrap for a sale of light scrap.
  {
    const g = factory('440704', (x) => `江门市江海区${x}金属制品有限公司`);
    const d = dayIn(1, days - 2);
    const { trade, flows } = sale(g, steel, {
      day: d,
      material: 'FE_LIGHT',
      tonnes: 18.5,
      factorBp: TIER.person,
      flows: { invoice: { material: 'FE_HEAVY' } },
    });
    plant({
      rule: 'INVOICE_MISMATCH',
      severity: 'high',
      description: '变票: special invoice says FE_HEAVY for a trade of FE_LIGHT (same quantity and amount)',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      documents: [{ kind: 'invoice', number: flows.invoiceNo! }],
      period: monthAt(trade.atMs),
    });
  }

  // MISSING_FLOW: no payment; no weighing; (with enough data) an enterprise sale never invoiced.
  {
    const st = station('440785');
    const p = person(st);
    const { trade } = buy(st, p, {
      day: dayIn(1, lastDay7),
      material: 'PAPER',
      kg: 1500,
      flows: { pay: false },
    });
    plant({
      rule: 'MISSING_FLOW',
      severity: 'medium',
      description: 'purchase from a natural person never paid (no payment 7 days after the trade)',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      period: monthAt(trade.atMs),
    });
    const st2 = station('440704');
    const p2 = person(st2);
    const { trade: t2 } = buy(st2, p2, {
      day: dayIn(1, lastDay7),
      material: 'AL',
      kg: 600,
      flows: { weigh: false },
    });
    plant({
      rule: 'MISSING_FLOW',
      severity: 'medium',
      description: 'purchase from a natural person without any weighbridge ticket (7 days after the trade)',
      trades: [ref(t2)],
      parties: partiesOf(t2),
      period: monthAt(t2.atMs),
    });
    if (days >= 45) {
      const g = factory('440705', (x) => `江门市新会区${x}机械制造有限公司`);
      const { trade: t3 } = sale(g, steel, {
        day: dayIn(1, days - 40),
        material: 'FE_CAST',
        tonnes: 9.6,
        factorBp: TIER.person,
        flows: { invoice: false },
      });
      plant({
        rule: 'MISSING_FLOW',
        severity: 'low',
        description: 'factory sale to the steel mill never invoiced (no invoice 30 days after the trade)',
        trades: [ref(t3)],
        parties: partiesOf(t3),
        period: monthAt(t3.atMs),
      });
    } else {
      pc.skipped.push({
        rule: 'MISSING_FLOW',
        reason:
          'the no-invoice variant needs 45 days of data (30-day grace window); only the 7-day variants planted',
      });
    }
  }

  // THIRD_PARTY_PAYEE: paid into a relative's account.
  {
    const st = station('440703');
    const p = person(st);
    const relative = person(st);
    const { trade } = buy(st, p, {
      day: dayIn(1, days - 2),
      material: 'FE_HEAVY',
      kg: 1800,
      flows: { pay: { payeeAccount: relative.account, payeeParty: personSeller(relative) } },
    });
    plant({
      rule: 'THIRD_PARTY_PAYEE',
      severity: 'high',
      description: 'payment for a natural person’s sale went to another person’s account',
      trades: [ref(trade)],
      parties: [...partiesOf(trade), `person:${relative.id_number}`],
      period: monthAt(trade.atMs),
    });
  }

  // FUNDS_ROUND_TRIP (资金回流): money paid to a seller comes back from the seller's account.
  {
    const st = station('440705');
    const p = person(st);
    const d = dayIn(1, days - 8);
    const { trade, flows } = buy(st, p, {
      day: d,
      material: 'CU',
      kg: 380,
      flows: { pay: { atMs: at(d + 1, 10) } },
    });
    const back = (trade.totalFen * 8n) / 10n;
    const ret = w.pay({
      tradeIds: [],
      atMs: at(d + 5, 15),
      amountFen: back,
      payer: personSeller(p),
      payee: orgSeller(st),
    });
    plant({
      rule: 'FUNDS_ROUND_TRIP',
      severity: 'critical',
      description: 'station paid a natural person, who transferred 80% back to the station 4 days later',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      documents: [
        { kind: 'payment', number: flows.payment!.serial_no },
        { kind: 'payment', number: ret.serial_no },
      ],
      period: monthAt(at(d + 5, 15)),
    });
    const st2 = station('440783');
    const g = factory('440783', (x) => `开平市${x}五金塑料制品有限公司`);
    const d2 = dayIn(1, days - 10);
    const { trade: t2, flows: f2 } = sale(g, st2, {
      day: d2,
      material: 'FE_HEAVY',
      tonnes: 21.3,
      factorBp: TIER.person,
      flows: { pay: { atMs: at(d2 + 2, 10) } },
    });
    const ret2 = w.pay({
      tradeIds: [],
      atMs: at(d2 + 8, 11),
      amountFen: (t2.totalFen * 6n) / 10n,
      payer: orgSeller(g),
      payee: orgSeller(st2),
    });
    plant({
      rule: 'FUNDS_ROUND_TRIP',
      severity: 'critical',
      description: 'station paid a factory for scrap; the factory transferred 60% back 6 days later',
      trades: [ref(t2)],
      parties: partiesOf(t2),
      documents: [
        { kind: 'payment', number: f2.payment!.serial_no },
        { kind: 'payment', number: ret2.serial_no },
      ],
      period: monthAt(at(d2 + 8, 11)),
    });
  }

  // SHARED_PAYEE_ACCOUNT (borrowed identity cards): four "sellers", one account.
  {
    const st = station('440781');
    const ring = person(st);
    const others = [person(st), person(st), person(st)];
    // All in one calendar month: the month of day d.
    const d = dayIn(1, days - 6);
    const monthEnd = lastDayOfMonth(w, d, days);
    const trades: Trade[] = [];
    [ring, ...others].forEach((p, i) => {
      const day = Math.min(d + i, monthEnd);
      const { trade } = buy(st, p, {
        day,
        hour: 9 + i,
        material: 'FE_LIGHT',
        kg: 1200 + 150 * i,
        plate: ring.plate,
        flows: { pay: { payeeAccount: ring.account, payeeParty: personSeller(ring), atMs: at(day, 16) } },
      });
      trades.push(trade);
    });
    plant({
      rule: 'SHARED_PAYEE_ACCOUNT',
      severity: 'high',
      description:
        'one account (in the name of one seller) received the payments of four natural-person sellers in one month; the other three are also third-party payees',
      trades: trades.map(ref),
      parties: partiesOf(...trades),
      period: monthAt(trades[0]!.atMs),
      also_triggers: ['THIRD_PARTY_PAYEE'],
    });
  }

  // UNSOURCED_SALE: a station sells 20 t having bought 2.7 t.
  {
    const st = station('440784');
    const d = dayIn(1, days - 5);
    const p1 = person(st);
    const p2 = person(st);
    const { trade: b1 } = buy(st, p1, { day: d, material: 'FE_HEAVY', kg: 1500 });
    const { trade: b2 } = buy(st, p2, { day: d + 1, material: 'FE_HEAVY', kg: 1200 });
    const { trade: s } = sale(st, steel, {
      day: d + 2,
      material: 'FE_HEAVY',
      tonnes: 20,
      factorBp: TIER.station,
    });
    plant({
      rule: 'UNSOURCED_SALE',
      severity: 'high',
      description: 'station sold 20 t of FE_HEAVY after buying only 2.7 t (17.3 t unsourced)',
      trades: [ref(s)],
      parties: partiesOf(s, b1, b2),
      period: monthAt(s.atMs),
    });
  }

  // PASS_THROUGH (过票): bought 22 t, sold the same 22 t six hours later at +1%.
  {
    const supplier = station('440705');
    const st = station('440704');
    const d = dayIn(6, days - 2);
    const sources: Trade[] = [];
    for (let i = 0; i < 6; i++) {
      const p = person(supplier);
      for (const back of [6, 3]) {
        sources.push(
          buy(supplier, p, { day: d - back + (i % 2), material: 'FE_HEAVY', kg: 1850 + 10 * i }).trade,
        );
      }
    }
    const lotTonnes = 22;
    const { trade: purchase } = sale(supplier, st, {
      day: d,
      hour: 8.5,
      material: 'FE_HEAVY',
      tonnes: lotTonnes,
      factorBp: TIER.station,
    });
    const { trade: pass } = sale(st, steel, {
      day: d,
      hour: 14.5,
      material: 'FE_HEAVY',
      tonnes: lotTonnes,
      factorBp: (TIER.station * 101) / 100,
      upstream: [purchase],
    });
    plant({
      rule: 'PASS_THROUGH',
      severity: 'high',
      description:
        '过票: station resold a 22 t lot 6 hours after buying it, same quantity, 1% margin (declared upstream)',
      trades: [ref(pass), ref(purchase)],
      parties: partiesOf(pass, purchase),
      period: monthAt(pass.atMs),
    });
  }

  // CIRCULAR_TRADING 对开 (two parties) and 环开 (three parties).
  {
    const a = station('440703');
    const b = station('440784');
    // Stock first; the return trade 40 days later when the data allow (keeps the two payments
    // more than 30 days apart, so that this is not also a funds round trip).
    const dStock = dayIn(1, Math.max(1, days - 46));
    for (let i = 0; i < 5; i++) buy(a, person(a), { day: dStock + (i % 2), material: 'CU', kg: 400 });
    const gap = days - dStock - 4 >= 42 ? 40 : Math.max(3, Math.min(10, days - dStock - 4));
    const d1 = dStock + 2;
    const { trade: t1 } = sale(a, b, { day: d1, material: 'CU', tonnes: 1.8, factorBp: TIER.station });
    const { trade: t2 } = sale(b, a, { day: d1 + gap, material: 'CU', tonnes: 1.8, factorBp: TIER.sorting });
    plant({
      rule: 'CIRCULAR_TRADING',
      severity: 'high',
      description: `对开: A sold 1.8 t of copper to B, and B sold it back to A ${gap} days later`,
      trades: [ref(t1), ref(t2)],
      parties: partiesOf(t1, t2),
      period: monthAt(t2.atMs),
      // Each pays the other: within 30 days that is also money coming back (资金回流).
      also_triggers: gap <= 30 ? ['FUNDS_ROUND_TRIP'] : [],
    });

    const x = station('440705');
    const y = station('440781');
    const z = station('440783');
    const d = dayIn(1, days - 12);
    for (let i = 0; i < 4; i++) buy(x, person(x), { day: d + (i % 2), material: 'AL', kg: 800 });
    const { trade: c1 } = sale(x, y, { day: d + 2, material: 'AL', tonnes: 3, factorBp: TIER.station });
    const { trade: c2 } = sale(y, z, { day: d + 5, material: 'AL', tonnes: 3, factorBp: 10_700 });
    const { trade: c3 } = sale(z, x, { day: d + 8, material: 'AL', tonnes: 3, factorBp: 11_600 });
    plant({
      rule: 'CIRCULAR_TRADING',
      severity: 'critical',
      description: '环开: A → B → C → A, 3 t of aluminium within 6 days',
      trades: [ref(c1), ref(c2), ref(c3)],
      parties: partiesOf(c1, c2, c3),
      period: monthAt(c3.atMs),
    });
  }

  // REVERSE_INVOICE_LIMIT: a big individual copper dealer; 80–100% (medium) and > 100% (high).
  for (const [visits, tonnes, severity] of [
    [9, 9.5, 'medium'],
    [11, 10, 'high'],
  ] as const) {
    const st = station(severity === 'medium' ? '440703' : '440705');
    const p = person(st);
    // Visits on days 1–19: with invoices ≤ 5 days later, everything stays in the first month.
    const last = Math.min(days - 1, 20);
    const trades: Trade[] = [];
    let day = 0;
    for (let i = 0; i < visits; i++) {
      day = Math.min(last, Math.floor((i * last) / visits) + 1);
      trades.push(buy(st, p, { day, material: 'CU', kg: tonnes * 1000 }).trade);
    }
    const total = trades.reduce((s, t) => s + t.totalFen, 0n);
    plant({
      rule: 'REVERSE_INVOICE_LIMIT',
      severity,
      description: `natural person sold ${visits} × ${tonnes} t of copper: reverse-invoiced ¥${formatMoney(exTaxFromInclusive(total, parseRate(rateOn('reverse_invoice', trades[0]!.atMs))!))} excl. VAT (${severity === 'medium' ? '> 80%' : '> 100%'} of ¥5,000,000)`,
      trades: trades.map(ref),
      parties: partiesOf(...trades),
      period: monthAt(trades[trades.length - 1]!.atMs),
    });
  }

  // INCOME_SPLITTING: just under ¥100,000 excl. VAT three months running.
  {
    const firstDays = monthStarts(w, days);
    if (firstDays.length >= 3) {
      const st = station('440784');
      const p = person(st);
      const trades: Trade[] = [];
      const price = priceYuan('CU', [TIER.person]);
      for (const m0 of firstDays.slice(0, 3)) {
        // Aim at ¥97,500 excl. VAT: three visits, the last one topping up.
        const rateBp = parseRate(rateOn('reverse_invoice', w.dayMs(m0)))!.basisPoints;
        const targetFen = (9_750_000n * (10_000n + rateBp)) / 10_000n;
        const g1 = rng.int(580, 680) * 1000;
        const g2 = rng.int(580, 680) * 1000;
        const fen = (g: number) => lineAmountFen(BigInt(g), 'kg', unitPrice(price, 'kg'));
        const g3 = Number(((targetFen - fen(g1) - fen(g2)) * 10_000n) / price / 1000n) * 1000;
        [g1, g2, g3].forEach((g, i) => {
          trades.push(buy(st, p, { day: m0 + 2 + 7 * i, material: 'CU', kg: g / 1000 }).trade);
        });
      }
      plant({
        rule: 'INCOME_SPLITTING',
        severity: 'medium',
        description:
          'natural person’s monthly sales ≈ ¥97,500 excl. VAT (just under the ¥100,000 exemption) in 3 consecutive months',
        trades: trades.map(ref),
        parties: partiesOf(...trades),
        period: monthAt(trades[trades.length - 1]!.atMs),
      });
    } else {
      pc.skipped.push({
        rule: 'INCOME_SPLITTING',
        reason: `needs 3 calendar months of data (the rule counts months in [¥95,000, ¥100,000)); got ${firstDays.length}`,
      });
    }
  }

  // VEHICLE_OVERLOAD: 40 t net on a 15.2 t truck.
  {
    const g = factory('440705', (x) => `江门市新会区${x}钢结构有限公司`);
    const d = dayIn(1, days - 2);
    const { trade, flows } = sale(g, steel, {
      day: d,
      material: 'FE_HEAVY',
      tonnes: 40,
      factorBp: TIER.person,
      flows: { weigh: { netGrams: 40e6 } },
    });
    plant({
      rule: 'VEHICLE_OVERLOAD',
      severity: 'high',
      description: 'weighbridge ticket with 40 t net on one truck: gross over 49,000 kg',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      documents: [{ kind: 'weighing', number: flows.weighing!.ticket_no }],
      period: monthAt(trade.atMs),
    });
  }

  // IMPOSSIBLE_TRAVEL: one truck at two far sites 1/240 h per km apart; one person likewise.
  {
    const g = factory('440703', (x) => `江门市蓬江区${x}不锈钢制品有限公司`);
    const far = station('440785');
    const d = dayIn(1, days - 2);
    const plate = w.truck(g, d);
    const km = distanceKm(steel.site, far.site);
    const gapMin = Math.max(1, Math.floor((km / 240) * 60));
    const w1 = at(d, 10);
    const { trade: t1 } = sale(g, steel, {
      day: d,
      hour: 10 + 10 / 60,
      material: 'FE_LIGHT',
      tonnes: 12.4,
      factorBp: TIER.person,
      plate,
      flows: { weigh: { atMs: w1 } },
    });
    const { trade: t2 } = sale(g, far, {
      day: d,
      hour: 10 + (gapMin + 10) / 60,
      material: 'FE_LIGHT',
      tonnes: 6.2,
      factorBp: TIER.person,
      plate,
      flows: { weigh: { atMs: w1 + gapMin * MINUTE } },
    });
    plant({
      rule: 'IMPOSSIBLE_TRAVEL',
      severity: 'high',
      description: `the same truck weighed at two sites ${km.toFixed(0)} km apart ${gapMin} minutes apart`,
      trades: [ref(t1), ref(t2)],
      parties: partiesOf(t1, t2),
      period: monthAt(t1.atMs),
    });

    const s1 = station('440703');
    const s2 = station('440781');
    const p = person(s1);
    const d2 = dayIn(1, days - 2);
    const km2 = distanceKm(s1.site, s2.site);
    const gap2 = Math.max(1, Math.floor((km2 / 240) * 60));
    const { trade: u1 } = buy(s1, p, { day: d2, hour: 9, material: 'PAPER', kg: 900 });
    const { trade: u2 } = buy(s2, p, {
      day: d2,
      hour: 9 + gap2 / 60,
      material: 'PAPER',
      kg: 750,
      plate: w.plate(),
    });
    plant({
      rule: 'IMPOSSIBLE_TRAVEL',
      severity: 'medium',
      description: `a natural person sold at two stations ${km2.toFixed(0)} km apart ${gap2} minutes apart (different vehicles)`,
      trades: [ref(u1), ref(u2)],
      parties: partiesOf(u1, u2),
      period: monthAt(u1.atMs),
    });
  }

  // PRICE_DEVIATION: +40% (medium) and −60% (high) against the reference.
  for (const [factorBp, severity, material, kg] of [
    [14_000, 'medium', 'FE_HEAVY', 1500],
    [4_000, 'high', 'CU', 300],
  ] as const) {
    const st = station(severity === 'medium' ? '440704' : '440785');
    const p = person(st);
    const { trade } = buy(st, p, { day: dayIn(1, days - 2), material, kg, factorBp });
    plant({
      rule: 'PRICE_DEVIATION',
      severity,
      description: `unit price ${factorBp > 10_000 ? '+' : '−'}${Math.abs(factorBp - 10_000) / 100}% against the ${material} reference price`,
      trades: [ref(trade)],
      parties: partiesOf(trade),
      period: monthAt(trade.atMs),
    });
  }

  // DUPLICATE_DOCUMENT: a weighbridge ticket and a bank serial used twice.
  {
    const st = station('440783');
    const d = dayIn(1, days - 4);
    const { trade: a, flows: fa } = buy(st, person(st), { day: d, material: 'FE_HEAVY', kg: 1600 });
    const { trade: b } = buy(st, person(st), {
      day: d + 2,
      material: 'FE_HEAVY',
      kg: 1700,
      flows: { weigh: { ticketNo: fa.weighing!.ticket_no } },
    });
    plant({
      rule: 'DUPLICATE_DOCUMENT',
      severity: 'high',
      description: 'one weighbridge ticket number at one site attached to two different trades',
      trades: [ref(a), ref(b)],
      parties: partiesOf(a, b),
      documents: [{ kind: 'weighing', number: fa.weighing!.ticket_no }],
      period: monthAt(b.atMs),
    });

    const st2 = station('440784');
    const d2 = dayIn(1, days - 4);
    const { trade: c, flows: fc } = buy(st2, person(st2), { day: d2, material: 'PLASTIC', kg: 900 });
    const { trade: e } = buy(st2, person(st2), {
      day: d2 + 1,
      material: 'PLASTIC',
      kg: 950,
      flows: { pay: { serialNo: fc.payment!.serial_no } },
    });
    plant({
      rule: 'DUPLICATE_DOCUMENT',
      severity: 'high',
      description: 'one bank serial number on the payments of two different trades',
      trades: [ref(c), ref(e)],
      parties: partiesOf(c, e),
      documents: [{ kind: 'payment', number: fc.payment!.serial_no }],
      period: monthAt(e.atMs),
    });

    // The third kind, one invoice number on different trades, needs two invoice records with
    // the same number. Within one platform the number is the record's key (a second record is a
    // 409 conflict, and one invoice covering several trades is a consolidated invoice), so it can
    // only happen across platforms; this simulator is one platform.
    pc.skipped.push({
      rule: 'DUPLICATE_DOCUMENT',
      reason:
        'the invoice-number variant needs two platforms (an invoice number is a record key within one); ticket and serial variants planted',
    });
  }

  // SHELL_BURST (走逃 risk): a 60-day-old recycler sells ¥5.7m excl. VAT of copper in one month.
  {
    const starts = monthStarts(w, days);
    const m0 = starts.find((s) => monthLength(w, s, days) >= 16) ?? 0;
    const firstTradeMs = at(m0 + 1, 8);
    const shell = station('440705', {
      established_on: dateAt(firstTradeMs - 60 * DAY),
      registerAtMs: firstTradeMs - DAY,
    });
    const g1 = factory('440705', (x) => `江门市新会区${x}电线电缆有限公司`);
    const g2 = factory('440784', (x) => `鹤山市${x}电工器材有限公司`);
    const bought: Trade[] = [];
    for (let i = 0; i < 5; i++) {
      bought.push(
        sale(i % 2 === 0 ? g1 : g2, shell, {
          day: m0 + 1 + i,
          hour: 9,
          material: 'CU',
          tonnes: 22,
          factorBp: TIER.person,
        }).trade,
      );
    }
    const sold: Trade[] = [];
    for (let i = 0; i < 4; i++) {
      sold.push(
        sale(shell, copper, { day: m0 + 8 + 2 * i, material: 'CU', tonnes: 25, factorBp: TIER.station })
          .trade,
      );
    }
    const ex = sold.reduce((s, t) => s + exTaxFromInclusive(t.totalFen, parseRate('0.03')!), 0n);
    plant({
      rule: 'SHELL_BURST',
      severity: 'high',
      description: `recycler established 60 days before its first trade sold ¥${formatMoney(ex)} excl. VAT of copper in one month`,
      trades: sold.map(ref),
      parties: [shell.uscc, copper.uscc],
      period: monthAt(sold[0]!.atMs),
    });
  }

  // INVOICE_WITHOUT_TRADE (票货分离): a special invoice between two parties that never traded.
  {
    const seller = station('440781');
    const buyer = station('440785');
    const d = dayIn(1, lastDay7);
    const grams = 30e6;
    const totalFen = lineAmountFen(BigInt(grams), 't', unitPrice(priceYuan('FE_HEAVY', [TIER.station]), 't'));
    const invoiceNo = w.invoice({
      kind: 'special',
      atMs: at(d, 11),
      seller: orgSeller(seller),
      buyer,
      tradeIds: [],
      lines: [{ material: 'FE_HEAVY', grams, unit: 't', totalFen, rate: '0.03' }],
    });
    plant({
      rule: 'INVOICE_WITHOUT_TRADE',
      severity: 'high',
      description: 'special invoice for 30 t of FE_HEAVY between two recyclers that have no trade at all',
      trades: [],
      parties: [seller.uscc, buyer.uscc],
      documents: [{ kind: 'invoice', number: invoiceNo }],
      period: monthAt(at(d, 11)),
    });
  }

  // HAZARDOUS_UNLICENSED: lead-acid batteries sold to a station without a hazardous-waste licence.
  {
    const g = factory('440781', (x) => `台山市${x}汽车维修有限公司`);
    const st = station('440781');
    const { trade } = sale(g, st, {
      day: dayIn(1, days - 2),
      material: 'PB_BATTERY',
      tonnes: 3.2,
      factorBp: TIER.person,
    });
    plant({
      rule: 'HAZARDOUS_UNLICENSED',
      severity: 'high',
      description: 'PB_BATTERY sold to a recycler without the hazardous_licensed role',
      trades: [ref(trade)],
      parties: partiesOf(trade),
      period: monthAt(trade.atMs),
    });
  }
}

/** Replaces the amount of the payment just emitted for `trade` (keeps its id, time and serial). */
function replaceLastPayment(w: World, trade: Trade, amountFen: bigint): void {
  for (let i = w.events.length - 1; i >= 0; i--) {
    const e = w.events[i]!;
    const data = e.ev.data as { trade_ids?: string[]; amount?: string };
    if (e.ev.type === 'payment.made' && data.trade_ids?.includes(trade.id)) {
      data.amount = formatMoney(amountFen);
      return;
    }
  }
  throw new Error(`no payment for ${trade.id}`);
}

/** Day indexes of the first day of each calendar month in the window. */
function monthStarts(w: World, days: number): number[] {
  const out: number[] = [];
  for (let d = 0; d < days; d++) if (dateAt(w.dayMs(d)).endsWith('-01')) out.push(d);
  return out;
}

function monthLength(w: World, startDay: number, days: number): number {
  const m = monthAt(w.dayMs(startDay));
  let n = 0;
  for (let d = startDay; d < days && monthAt(w.dayMs(d)) === m; d++) n++;
  return n;
}

function lastDayOfMonth(w: World, day: number, days: number): number {
  const m = monthAt(w.dayMs(day));
  let d = day;
  while (d + 1 < days && monthAt(w.dayMs(d + 1)) === m) d++;
  return d;
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

const START_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;
/** Reverse invoicing (税务总局公告2024年第5号) applies from 2024-04-29: the first full month. */
export const EARLIEST_START = '2024-05';

export function generateDataset(opts: GenerateOptions): Dataset {
  const { seed, months, scale, platform } = opts;
  const start = opts.start ?? DEFAULT_START;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw new RangeError('seed must be an integer in [0, 4294967295]');
  if (!Number.isInteger(months) || months < 1 || months > 24)
    throw new RangeError('months must be an integer from 1 to 24');
  if (!Number.isFinite(scale) || scale <= 0 || scale > 50) throw new RangeError('scale must be in (0, 50]');
  const m = START_RE.exec(start);
  if (!m || start < EARLIEST_START || start > '2099-12') {
    throw new RangeError(
      `start must be a month YYYY-MM from ${EARLIEST_START} (reverse invoicing began 2024-04-29)`,
    );
  }
  if (platform.length === 0) throw new RangeError('platform must not be empty');

  const year = Number(m[1]);
  const month = Number(m[2]);
  const day0 = Date.UTC(year, month - 1, 1) - TZ_MS;
  const end = Date.UTC(year, month - 1 + months, 1) - TZ_MS;
  const days = Math.round((end - day0) / DAY);
  const dayMs = (d: number) => day0 + d * DAY;

  const h = hash32(`${platform}:${seed}`);
  const tag = h.toString(36).toUpperCase().padStart(7, '0');
  const digits = pad(h % 1_000_000, 6);
  const root = new Rng(hash32(`retrace-sim:${seed}`));
  const w = new World(platform, tag, digits, root.fork('ids'), dayMs);

  const mrng = root.fork('market');
  const market = new Map<string, number[]>();
  for (const mat of SEED_MATERIALS) {
    const series: number[] = [];
    let x = 0;
    for (let d = 0; d < days; d++) {
      x = Math.max(-300, Math.min(300, x + mrng.int(-40, 40)));
      series.push(10_000 + x);
    }
    market.set(mat.code, series);
  }

  const stats: DatasetStats['background'] = {
    person_purchases: 0,
    enterprise_trades: 0,
    amendments: 0,
    cancellations: 0,
    upstream_declared: 0,
  };
  const registerAtMs = day0 - DAY + 9 * HOUR;
  const bg = buildBackground({ w, days, scale, market, stats }, root.fork('background'), registerAtMs);
  const backgroundEnterprises = w.orgs.length;
  const backgroundPersons = w.persons.length;

  const planted: PlantedCase[] = [];
  const skipped: SkippedCase[] = [];
  plantAll({ w, rng: root.fork('planted'), days, bg, registerAtMs, planted, skipped });

  const sorted = [...w.events].sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
  const events = sorted.map((e) => e.ev);

  const byType: Record<string, number> = {};
  for (const e of events) byType[e.type] = (byType[e.type] ?? 0) + 1;
  const byRole: Record<string, number> = {};
  for (const o of w.orgs) for (const r of o.roles) byRole[r] = (byRole[r] ?? 0) + 1;
  const byMaterial: Record<string, { trades: number; grams: bigint; fen: bigint }> = {};
  for (const t of w.trades.values()) {
    const b = byMaterial[t.material] ?? { trades: 0, grams: 0n, fen: 0n };
    byMaterial[t.material] = b;
    b.trades += 1;
    b.grams += BigInt(t.grams);
    b.fen += t.totalFen;
  }

  return {
    events,
    planted,
    skipped,
    stats: {
      events: events.length,
      by_type: byType,
      trades: w.trades.size + stats.cancellations,
      window: { from: dateAt(day0), to: dateAt(end - DAY), days },
      data_clock: isoAt(sorted[sorted.length - 1]!.atMs),
      parties: {
        enterprises: w.orgs.length,
        natural_persons: w.persons.length,
        by_role: byRole,
        background_enterprises: backgroundEnterprises,
        background_persons: backgroundPersons,
      },
      by_material: Object.fromEntries(
        Object.entries(byMaterial)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [k, { trades: v.trades, kg: formatKg(v.grams), amount: formatMoney(v.fen) }]),
      ),
      background: stats,
    },
  };
}
