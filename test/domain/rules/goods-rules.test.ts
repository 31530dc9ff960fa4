import { describe, expect, it } from 'vitest';
import { haversineKm, impossibleTravel, vehicleOverload } from '../../../src/domain/rules/goods-rules';
import { periodWindow } from '../../../src/domain/rules/types';
import { cst, enterprise, kg, MINUTE_MS, PLATFORM, person, subject, trade, weighing } from './builders';

/** The goods rules (DOMAIN.md section 7): weighbridge tickets, vehicles, where sellers were. */
const W = periodWindow('2026-10');
const AT = cst(2026, 10, 10, 10);

describe('VEHICLE_OVERLOAD', () => {
  const P = { max_gross_kg: 49_000 };

  it('gross above 49,000 kg (GB 1589) is high on the weighed trade’s buyer', () => {
    const w = weighing('W1', { weighedMs: AT, grossG: kg('49000.001'), ticketNo: 'TK1', tradeId: 'T1' });
    const [f, ...rest] = vehicleOverload(W, [w], P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'VEHICLE_OVERLOAD',
      severity: 'high',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.documents).toEqual([{ kind: 'weighing', number: 'TK1' }]);
    expect(f!.evidence).toEqual({
      ticket_no: 'TK1',
      vehicle_plate: '粤J12345',
      gross_kg: '49000.001',
      max_gross_kg: 49_000,
    });
  });

  it('exactly 49,000 kg is nothing', () => {
    expect(vehicleOverload(W, [weighing('W1', { weighedMs: AT, grossG: kg(49_000) })], P)).toEqual([]);
  });

  it('a ticket of an unknown trade, or of another month, is nothing', () => {
    const heavy = { grossG: kg(60_000) };
    expect(vehicleOverload(W, [weighing('W1', { weighedMs: AT, buyerKey: null, ...heavy })], P)).toEqual([]);
    expect(vehicleOverload(W, [weighing('W2', { weighedMs: cst(2026, 9, 30, 23), ...heavy })], P)).toEqual(
      [],
    );
  });
});

describe('IMPOSSIBLE_TRAVEL', () => {
  const P = { min_km: 10, max_kmh: 120 };
  // On the equator a degree of latitude is exact enough to hit whole kilometres: these offsets
  // give haversineKm exactly 10 km and 24 km (24 km at 120 km/h is exactly 12 minutes).
  const TEN_KM = 0.0899320363724538;
  const TWENTY_FOUR_KM = 0.21583688729388914;
  const at = (lat: number) => ({ siteLat: lat, siteLon: 113 });

  it('the test coordinates are what they claim', () => {
    expect(haversineKm(0, 113, TEN_KM, 113)).toBe(10);
    expect(haversineKm(0, 113, TWENTY_FOUR_KM, 113)).toBe(24);
  });

  const vehicle = (minutes: number, lat = TWENTY_FOUR_KM, ms = 0) =>
    impossibleTravel(
      W,
      [
        weighing('W1', {
          weighedMs: AT,
          siteCode: 'A',
          ticketNo: 'TK1',
          tradeId: 'T1',
          buyerKey: 'B1',
          ...at(0),
        }),
        weighing('W2', {
          weighedMs: AT + minutes * MINUTE_MS + ms,
          siteCode: 'Z',
          ticketNo: 'TK2',
          tradeId: 'T2',
          buyerKey: 'B2',
          ...at(lat),
        }),
      ],
      [],
      P,
    );

  it('one vehicle at two sites 24 km apart in 11 min 59 s is high on the second buyer', () => {
    const [f, ...rest] = vehicle(12, TWENTY_FOUR_KM, -1000);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'IMPOSSIBLE_TRAVEL',
      severity: 'high',
      party: 'B2',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`, `${PLATFORM}:T2`],
    });
    expect(f!.documents).toEqual([
      { kind: 'weighing', number: 'TK1' },
      { kind: 'weighing', number: 'TK2' },
    ]);
    expect(f!.evidence).toEqual({
      subject: 'vehicle',
      distance_km: 24,
      minutes_between: 12,
      speed_kmh: 120.2,
      min_km: 10,
      max_kmh: 120,
      sites: ['A', 'Z'],
    });
  });

  it('exactly 120 km/h (24 km in 12 min) is nothing, nor anything slower', () => {
    expect(vehicle(12)).toEqual([]);
    expect(vehicle(12, TWENTY_FOUR_KM, 1000)).toEqual([]);
  });

  it('exactly 10 km apart is nothing even at the same instant; a little more is impossible', () => {
    expect(vehicle(0, TEN_KM)).toEqual([]);
    const [f] = vehicle(0, TEN_KM * 1.001);
    expect([f!.severity, f!.evidence.speed_kmh, f!.evidence.distance_km]).toEqual(['high', null, 10.01]);
  });

  it('a natural-person seller at two sites too fast is medium on the seller', () => {
    const s = person('P');
    const ts = [
      trade('T1', { occurredMs: AT, seller: s, siteCode: 'A', ...at(0) }),
      trade('T2', { occurredMs: AT + 11 * MINUTE_MS, seller: s, siteCode: 'Z', ...at(TWENTY_FOUR_KM) }),
    ];
    const [f, ...rest] = impossibleTravel(W, [], ts, P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'IMPOSSIBLE_TRAVEL',
      severity: 'medium',
      party: 'P',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`, `${PLATFORM}:T2`],
    });
    expect(f!.documents).toEqual([]);
    expect(f!.evidence).toMatchObject({ subject: 'person', distance_km: 24, minutes_between: 11 });
  });

  it('enterprise sellers and sites without a location are not sightings', () => {
    const e = enterprise('E');
    const ts = [
      trade('T1', { occurredMs: AT, seller: e, ...at(0) }),
      trade('T2', { occurredMs: AT + MINUTE_MS, seller: e, ...at(TWENTY_FOUR_KM) }),
    ];
    expect(impossibleTravel(W, [], ts, P)).toEqual([]);
    const ws = [
      weighing('W1', { weighedMs: AT, ...at(0) }),
      weighing('W2', { weighedMs: AT + MINUTE_MS, siteLat: null, siteLon: null }),
    ];
    expect(impossibleTravel(W, ws, [], P)).toEqual([]);
  });

  it('is reported in the month of the second sighting', () => {
    const s = person('P');
    const ts = [
      trade('T1', { occurredMs: cst(2026, 9, 30, 23, 55), seller: s, ...at(0) }),
      trade('T2', { occurredMs: cst(2026, 10, 1, 0, 1), seller: s, ...at(TWENTY_FOUR_KM) }),
    ];
    expect(impossibleTravel(W, [], ts, P)).toHaveLength(1);
    expect(impossibleTravel(periodWindow('2026-09'), [], ts, P)).toEqual([]);
  });

  // Any two sightings count, not only consecutive ones (fixed; this was a reported bug). The vehicle below is at X, then 9 km on
  // at Y, then at Z 18 km from X, six minutes after X (180 km/h between two sites more than 10 km
  // apart, which DOMAIN.md says fires), but neither consecutive hop is over 10 km.
  it('a vehicle at two sites > 10 km apart too fast fires even with a nearer sighting between', () => {
    const nineKm = TEN_KM * 0.9;
    const ws = [
      weighing('W1', { weighedMs: AT, siteCode: 'X', ...at(0) }),
      weighing('W2', { weighedMs: AT + 3 * MINUTE_MS, siteCode: 'Y', ...at(nineKm) }),
      weighing('W3', { weighedMs: AT + 6 * MINUTE_MS, siteCode: 'Z', ...at(2 * nineKm) }),
    ];
    expect(impossibleTravel(W, ws, [], P).map((f) => f.evidence.sites)).toEqual([['X', 'Z']]);
  });
});
