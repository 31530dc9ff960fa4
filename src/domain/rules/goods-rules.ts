import { formatKg } from '../money';
import type { TradeFact, WeighingFact } from './facts';
import { type Finding, type PeriodWindow, periodOfMs } from './types';

/** Rules on the goods flow: weighbridge tickets, vehicles and where sellers were. */

export interface VehicleOverloadParams {
  max_gross_kg: number;
}

export interface ImpossibleTravelParams {
  min_km: number;
  max_kmh: number;
}

export function vehicleOverload(
  w: PeriodWindow,
  weighings: readonly WeighingFact[],
  p: VehicleOverloadParams,
): Finding[] {
  const out: Finding[] = [];
  const max = BigInt(p.max_gross_kg) * 1000n;
  for (const x of weighings) {
    if (periodOfMs(x.weighedMs) !== w.period || x.grossG <= max || !x.buyerKey) continue;
    out.push({
      rule: 'VEHICLE_OVERLOAD',
      dedupeKey: `${x.platform}:${x.weighingId}`,
      severity: 'high',
      partyKey: x.buyerKey,
      period: w.period,
      trades: [{ platform: x.platform, trade_id: x.tradeId }],
      documents: [{ kind: 'weighing', number: x.ticketNo }],
      summaryZh: `地磅单 ${x.ticketNo} 车辆 ${x.plate} 毛重 ${formatKg(x.grossG)} kg，超过 GB 1589 上限 ${p.max_gross_kg} kg`,
      summaryEn: `Weighbridge ticket ${x.ticketNo}: vehicle ${x.plate} gross ${formatKg(x.grossG)} kg exceeds the GB 1589 maximum of ${p.max_gross_kg} kg`,
      evidence: {
        ticket_no: x.ticketNo,
        vehicle_plate: x.plate,
        gross_kg: formatKg(x.grossG),
        max_gross_kg: p.max_gross_kg,
      },
    });
  }
  return out;
}

/** Great-circle distance in km (coordinates are not money: floating point is right here). */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

interface Sighting {
  atMs: number;
  lat: number;
  lon: number;
  site: string;
  platform: string;
  tradeId: string;
  document?: string;
  party: string | null;
}

/** Sightings further apart in time than this cannot be too fast for any distance in the region. */
const LOOKBACK_MS = 12 * 3_600_000;

/**
 * For each sighting, the earlier sighting (within LOOKBACK_MS) that it could not have been
 * reached from: more than `min_km` away and faster than `max_kmh`. Any earlier sighting counts,
 * not only the previous one (X → Y → Z may each be short hops while X → Z is impossible); the
 * fastest such pair is reported once per later sighting.
 */
function impossiblePairs(
  list: Sighting[],
  p: ImpossibleTravelParams,
): [Sighting, Sighting, number, number][] {
  const sorted = [...list].sort(
    (a, b) => a.atMs - b.atMs || (a.tradeId < b.tradeId ? -1 : a.tradeId > b.tradeId ? 1 : 0),
  );
  const out: [Sighting, Sighting, number, number][] = [];
  for (let i = 1; i < sorted.length; i++) {
    const b = sorted[i]!;
    let worst: [Sighting, Sighting, number, number] | null = null;
    for (let j = i - 1; j >= 0 && b.atMs - sorted[j]!.atMs <= LOOKBACK_MS; j--) {
      const a = sorted[j]!;
      const km = haversineKm(a.lat, a.lon, b.lat, b.lon);
      if (km <= p.min_km) continue;
      const hours = (b.atMs - a.atMs) / 3_600_000;
      const kmh = hours > 0 ? km / hours : Number.POSITIVE_INFINITY;
      if (kmh > p.max_kmh && (!worst || kmh > worst[3])) worst = [a, b, km, kmh];
    }
    if (worst) out.push(worst);
  }
  return out;
}

/**
 * IMPOSSIBLE_TRAVEL: the same vehicle (high) or natural-person seller (medium) seen at two sites
 * more than `min_km` apart, faster than `max_kmh` straight-line (any two sightings, not only
 * consecutive ones); reported in the month of the later one.
 */
export function impossibleTravel(
  w: PeriodWindow,
  weighings: readonly WeighingFact[],
  trades: readonly TradeFact[],
  p: ImpossibleTravelParams,
): Finding[] {
  const out: Finding[] = [];
  const vehicles = new Map<string, Sighting[]>();
  for (const x of weighings) {
    if (x.siteLat === null || x.siteLon === null) continue;
    const list = vehicles.get(x.plate) ?? [];
    if (list.length === 0) vehicles.set(x.plate, list);
    list.push({
      atMs: x.weighedMs,
      lat: x.siteLat,
      lon: x.siteLon,
      site: x.siteCode,
      platform: x.platform,
      tradeId: x.tradeId,
      document: x.ticketNo,
      party: x.buyerKey,
    });
  }
  for (const [plate, list] of vehicles) {
    for (const [a, b, km, kmh] of impossiblePairs(list, p)) {
      if (periodOfMs(b.atMs) !== w.period || !b.party) continue;
      out.push(travelFinding(w, 'vehicle', plate, b.party, a, b, km, kmh, p));
    }
  }
  const persons = new Map<string, { name: string; list: Sighting[] }>();
  for (const t of trades) {
    if (t.seller.kind !== 'natural_person' || t.siteLat === null || t.siteLon === null) continue;
    const entry = persons.get(t.seller.key) ?? { name: t.seller.name, list: [] };
    if (entry.list.length === 0) persons.set(t.seller.key, entry);
    entry.list.push({
      atMs: t.occurredMs,
      lat: t.siteLat,
      lon: t.siteLon,
      site: t.siteCode,
      platform: t.platform,
      tradeId: t.tradeId,
      party: t.seller.key,
    });
  }
  for (const [key, { name, list }] of persons) {
    for (const [a, b, km, kmh] of impossiblePairs(list, p)) {
      if (periodOfMs(b.atMs) !== w.period) continue;
      out.push(travelFinding(w, 'person', name, key, a, b, km, kmh, p));
    }
  }
  return out;
}

function travelFinding(
  w: PeriodWindow,
  subject: 'vehicle' | 'person',
  label: string,
  party: string,
  a: Sighting,
  b: Sighting,
  km: number,
  kmh: number,
  p: ImpossibleTravelParams,
): Finding {
  const minutes = Math.round((b.atMs - a.atMs) / 60_000);
  const speed = Number.isFinite(kmh) ? `${Math.round(kmh)} km/h` : 'no time between';
  const who = subject === 'vehicle' ? `车辆 ${label}` : `卖方 ${label}`;
  return {
    rule: 'IMPOSSIBLE_TRAVEL',
    dedupeKey: `${subject}:${a.platform}:${a.tradeId}>${b.platform}:${b.tradeId}`,
    severity: subject === 'vehicle' ? 'high' : 'medium',
    partyKey: party,
    period: w.period,
    trades: [
      { platform: a.platform, trade_id: a.tradeId },
      { platform: b.platform, trade_id: b.tradeId },
    ],
    documents:
      subject === 'vehicle' ? [a, b].map((s) => ({ kind: 'weighing' as const, number: s.document! })) : [],
    summaryZh: `${who} 在 ${minutes} 分钟内出现在相距 ${km.toFixed(1)} km 的 ${a.site} 与 ${b.site}（需 ${speed}）`,
    summaryEn: `${subject === 'vehicle' ? 'Vehicle' : 'Seller'} ${label} was at ${a.site} and ${b.site}, ${km.toFixed(1)} km apart, ${minutes} minutes apart (${speed})`,
    evidence: {
      subject,
      distance_km: Number(km.toFixed(2)),
      minutes_between: minutes,
      speed_kmh: Number.isFinite(kmh) ? Number(kmh.toFixed(1)) : null,
      min_km: p.min_km,
      max_kmh: p.max_kmh,
      sites: [a.site, b.site],
    },
  };
}
