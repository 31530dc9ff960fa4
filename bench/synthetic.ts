/**
 * A synthetic recycling economy written straight into the reconciled tables with set-based SQL
 * (generate_series), for the read benchmarks (bench/chain.ts, bench/query.ts): far faster than
 * pushing a million trades through the event pipeline, and shaped like what the pipeline stores.
 *
 * Shape, per "group" (one lot that reaches a mill), over `days` days from 2026-08-01 (+08:00):
 *   200 purchases from natural persons at stations (0.2–3 t each)
 *   → 10 station sales to a sorting centre (each allocated from 20 of those purchases, FIFO)
 *   → 1 sorting-centre sale, to a mill — or, for every 5th group, to a ladder of 12 brokers,
 *     each selling the lot on to the next (the last one to a mill): chains 14 allocation steps deep.
 * So a mill purchase has ~210 upstream trades, and a person's purchase reaches 2–14 steps
 * downstream. One station ("hot") gets enough of the purchases that it has about `hotTradesPerMonth`
 * trades a month (the reference sheet case); the others share the rest.
 *
 * Written: parties, trades (ids in time order), trade_versions, trade_flows (95% reconciled),
 * stream_entries (a purchase of the buyer and a sale of the seller per trade), allocations
 * (basis fifo), sale_results (natural persons' sales wholly unsourced, as allocation stores them).
 * Not written: payments, weighings, invoices (the detail endpoint reads empty lists for them).
 */
import pg from 'pg';
import { JIANGMEN_DIVISIONS, makeUscc, USCC_ALPHABET } from '../src/domain/ids';
import { progress, round } from './support';

export const SYNTHETIC_PLATFORM = 'bench';
const PER_GROUP = 211;
const LADDER = 12;
const LADDER_EVERY = 5;

export interface SyntheticInfo {
  trades: number;
  groups: number;
  persons: number;
  stations: number;
  centres: number;
  brokers: number;
  mills: number;
  hotStation: string;
  hotTradesInPeriod: number;
  period: string;
  stations_keys: string[];
  seconds: number;
  table_mib: Record<string, number>;
}

function base31(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = USCC_ALPHABET[n % 31]! + s;
    n = Math.floor(n / 31);
  }
  return s;
}

const COUNTIES = JIANGMEN_DIVISIONS.map((d) => d.code).filter((c) => c !== '440700');

/** Builds the data set in the (migrated, empty) database at `url`. */
export async function buildSynthetic(
  url: string,
  opts: { trades: number; days?: number; hotTradesPerMonth?: number },
): Promise<SyntheticInfo> {
  const days = opts.days ?? 90;
  const groups = Math.max(10, Math.ceil(opts.trades / (PER_GROUP + LADDER / LADDER_EVERY)));
  const persons = Math.max(500, groups * 20);
  const stations = Math.max(10, Math.ceil(groups / 10));
  const centres = Math.max(3, Math.ceil(groups / 100));
  const brokers = 30;
  const mills = 5;
  const months = days / 30;
  // Share (in 1/1000) of station lots that go to the hot station: ~hotTradesPerMonth purchases a month.
  const hotPermille = Math.min(
    500,
    Math.max(1, Math.round(((opts.hotTradesPerMonth ?? 10_000) * months * 1000) / (groups * 200))),
  );

  const ents: { key: string; kind: string; n: number; division: string; name: string; roles: string[] }[] =
    [];
  let serial = 0;
  const add = (kind: string, count: number, roles: string[]) => {
    for (let n = 0; n < count; n++) {
      const division = COUNTIES[(serial * 7 + n) % COUNTIES.length]!;
      const key = makeUscc(`91${division}MA${base31(serial++, 7)}`);
      ents.push({ key, kind, n, division, name: `${kind} ${n}`, roles });
    }
  };
  add('station', stations, ['recycler']);
  add('centre', centres, ['sorting_center']);
  add('broker', brokers, ['recycler']);
  add('mill', mills, ['utilizer']);

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  const step = async (label: string, text: string, values: unknown[] = []) => {
    const t = performance.now();
    const r = await client.query(text, values);
    progress(`synthetic: ${label} (${r.rowCount ?? 0} rows) ${Math.round(performance.now() - t)} ms`);
  };
  try {
    await client.query('SET synchronous_commit = off');
    await client.query("SET maintenance_work_mem = '256MB'");
    await client.query("SET work_mem = '64MB'");
    await step(
      'enterprises',
      `CREATE UNLOGGED TABLE bench_ent AS
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
         AS e(key, kind, n, division, name, roles)`,
      [
        ents.map((e) => e.key),
        ents.map((e) => e.kind),
        ents.map((e) => e.n),
        ents.map((e) => e.division),
        ents.map((e) => e.name),
        ents.map((e) => `{${e.roles.join(',')}}`),
      ],
    );
    await client.query(`CREATE UNLOGGED TABLE bench_t (
      tid bigint PRIMARY KEY, role text NOT NULL, g int NOT NULL,
      seller text NOT NULL, seller_div text NOT NULL, seller_kind text NOT NULL,
      buyer text NOT NULL, buyer_div text NOT NULL,
      material text NOT NULL, price_fen_per_kg int NOT NULL, at timestamptz NOT NULL,
      qty_g bigint NOT NULL, amount_fen bigint NOT NULL, parent bigint)`);

    // Material and price per group; the group's time; station/centre/mill/broker indexes.
    const groupCte = `
      grp AS (
        SELECT g,
          (ARRAY['FE_HEAVY','FE_HEAVY','FE_HEAVY','FE_HEAVY','FE_HEAVY','FE_HEAVY','PAPER','PAPER','CU','AL'])[g % 10 + 1] AS material,
          (ARRAY[190,190,190,190,190,190,140,140,5200,1400])[g % 10 + 1] AS price,
          timestamptz '2026-08-01 00:00:00+08' + make_interval(secs => (g + 0.5) * ${(days * 86400) / groups}) AS tg
        FROM generate_series(0, ${groups - 1}) g)`;
    const stationIdx = (g: string, j: string) =>
      `CASE WHEN ((((${g})::bigint * 10 + ${j}) * 2654435761) % 1000003) % 1000 < ${hotPermille} THEN 0
            ELSE 1 + (((${g})::bigint * 10 + ${j}) % ${stations - 1}) END`;

    await step(
      'person purchases',
      `WITH ${groupCte},
       lots AS (
         SELECT grp.*, j, k, ${stationIdx('g', 'j')} AS st,
                (((g::bigint * 200 + j * 20 + k) * 7919) % ${persons}) AS person
         FROM grp, generate_series(0, 9) j, generate_series(0, 19) k)
       INSERT INTO bench_t
       SELECT g::bigint * 1000 + 100 + j * 20 + k, 'person', g,
              'np_' || translate(md5('person-' || person), '0189', 'klmn'), s.division, 'natural_person',
              s.key, s.division, material, price,
              tg - interval '2 days' + make_interval(mins => j * 20 + k),
              qty, qty * price / 1000, g::bigint * 1000 + 10 + j
       FROM lots
       JOIN bench_ent s ON s.kind = 'station' AND s.n = lots.st
       CROSS JOIN LATERAL (SELECT 200000 + ((g::bigint * 1000 + j * 20 + k) * 7919) % 2800000 AS qty) q`,
    );
    await step(
      'station sales',
      `WITH ${groupCte},
       sums AS (SELECT g, (tid - g::bigint * 1000 - 100) / 20 AS j, sum(qty_g) AS qty, min(buyer) AS station,
                       min(buyer_div) AS station_div
                FROM bench_t WHERE role = 'person' GROUP BY 1, 2)
       INSERT INTO bench_t
       SELECT sums.g::bigint * 1000 + 10 + sums.j, 'station', sums.g, station, station_div, 'enterprise',
              c.key, c.division, material, price * 110 / 100,
              tg - interval '1 day' + make_interval(mins => sums.j::int),
              qty, qty * (price * 110 / 100) / 1000, sums.g::bigint * 1000 + 1
       FROM sums JOIN grp ON grp.g = sums.g
       JOIN bench_ent c ON c.kind = 'centre' AND c.n = sums.g % ${centres}`,
    );
    await step(
      'sorting-centre sales',
      `WITH ${groupCte},
       sums AS (SELECT g, sum(qty_g) AS qty, min(buyer) AS centre, min(buyer_div) AS centre_div
                FROM bench_t WHERE role = 'station' GROUP BY g)
       INSERT INTO bench_t
       SELECT sums.g::bigint * 1000 + 1, 'centre', sums.g, centre, centre_div, 'enterprise',
              b.key, b.division, material, price * 120 / 100, tg,
              qty, qty * (price * 120 / 100) / 1000,
              CASE WHEN sums.g % ${LADDER_EVERY} = 0 THEN sums.g::bigint * 1000 + 21 END
       FROM sums JOIN grp ON grp.g = sums.g
       JOIN bench_ent b ON CASE WHEN sums.g % ${LADDER_EVERY} = 0
                                THEN b.kind = 'broker' AND b.n = (sums.g * 7 + 3) % ${brokers}
                                ELSE b.kind = 'mill' AND b.n = sums.g % ${mills} END`,
    );
    await step(
      'broker ladders',
      `WITH lad AS (
         SELECT c.g, c.material, c.price_fen_per_kg AS price, c.at, c.qty_g, l
         FROM bench_t c, generate_series(1, ${LADDER}) l
         WHERE c.role = 'centre' AND c.g % ${LADDER_EVERY} = 0)
       INSERT INTO bench_t
       SELECT lad.g::bigint * 1000 + 20 + l, 'broker', lad.g, s.key, s.division, 'enterprise',
              b.key, b.division, material, price + l, at + make_interval(hours => l),
              qty_g, qty_g * (price + l) / 1000,
              CASE WHEN l < ${LADDER} THEN lad.g::bigint * 1000 + 21 + l END
       FROM lad
       JOIN bench_ent s ON s.kind = 'broker' AND s.n = (lad.g * 7 + l * 3) % ${brokers}
       JOIN bench_ent b ON CASE WHEN l < ${LADDER}
                                THEN b.kind = 'broker' AND b.n = (lad.g * 7 + (l + 1) * 3) % ${brokers}
                                ELSE b.kind = 'mill' AND b.n = lad.g % ${mills} END`,
    );

    await step(
      'parties',
      `INSERT INTO parties (party_key, kind, name, division, registered, roles, registered_division, established_on)
       SELECT key, 'enterprise', name, division, true, roles::text[], division, date '2015-01-01' FROM bench_ent
       UNION ALL
       SELECT DISTINCT ON (seller) seller, 'natural_person', 'person ' || substr(seller, 4, 6), seller_div, false,
              '{}', NULL, NULL
       FROM bench_t WHERE seller_kind = 'natural_person'`,
    );
    await step(
      'trades',
      `INSERT INTO trades (platform, trade_id, version, status, occurred_at, seller_key, buyer_key, seller_kind,
                           seller_division, buyer_division, site_code, site_division, total_fen, quantity_g,
                           materials, tax_treatment, lines)
       SELECT '${SYNTHETIC_PLATFORM}', 'T' || tid, 1, 'active', at, seller, buyer, seller_kind, seller_div, buyer_div,
              'SITE-' || substr(buyer, 11, 8), buyer_div, amount_fen, qty_g, ARRAY[material],
              CASE WHEN role = 'person' THEN 'reverse_invoice' ELSE 'simple_3' END,
              jsonb_build_array(jsonb_build_object('material', material, 'quantity_g', qty_g::text, 'unit', 'kg',
                'unit_price', (price_fen_per_kg / 100.0)::text, 'amount_fen', amount_fen::text))
       FROM bench_t ORDER BY at, tid`,
    );
    await step(
      'trade versions',
      `INSERT INTO trade_versions (platform, trade_id, version, kind, event_id, event_ts, data, received_at)
       SELECT platform, trade_id, 1, 'created', 'E' || trade_id, occurred_at,
              jsonb_build_object('trade_id', trade_id, 'lines', lines), occurred_at + interval '5 minutes'
       FROM trades`,
    );
    await step(
      'trade flows',
      `INSERT INTO trade_flows (platform, trade_id, payment_status, weighing_status, invoice_status, overall,
                                paid_fen, weighed_g, invoiced_fen, invoiced_g, differences)
       SELECT platform, trade_id,
              CASE WHEN id % 20 = 0 THEN 'mismatch' ELSE 'matched' END, 'matched', 'matched',
              CASE WHEN id % 20 = 0 THEN 'discrepant' ELSE 'reconciled' END,
              total_fen, quantity_g, total_fen, quantity_g, '[]'
       FROM trades`,
    );
    await step(
      'stream entries',
      `INSERT INTO stream_entries (party_key, material, role, platform, trade_id, occurred_at, quantity_g, amount_fen)
       SELECT buyer, material, 'purchase', '${SYNTHETIC_PLATFORM}', 'T' || tid, at, qty_g, amount_fen FROM bench_t
       UNION ALL
       SELECT seller, material, 'sale', '${SYNTHETIC_PLATFORM}', 'T' || tid, at, qty_g, amount_fen FROM bench_t`,
    );
    await step(
      'allocations',
      `INSERT INTO allocations (party_key, material, sale_platform, sale_trade_id, purchase_platform, purchase_trade_id,
                                basis, quantity_g, sale_at)
       SELECT c.buyer, c.material, '${SYNTHETIC_PLATFORM}', 'T' || p.tid, '${SYNTHETIC_PLATFORM}', 'T' || c.tid,
              'fifo', c.qty_g, p.at
       FROM bench_t c JOIN bench_t p ON p.tid = c.parent`,
    );
    await step(
      'sale results',
      `INSERT INTO sale_results (party_key, material, platform, trade_id, sale_at, quantity_g, unsourced_g)
       SELECT seller, material, '${SYNTHETIC_PLATFORM}', 'T' || tid, at, qty_g,
              CASE WHEN seller_kind = 'natural_person' THEN qty_g ELSE 0 END
       FROM bench_t`,
    );
    const hot = ents.find((e) => e.kind === 'station' && e.n === 0)!.key;
    const hotCount = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM trades
       WHERE (seller_key = $1 OR buyer_key = $1) AND occurred_at >= timestamptz '2026-09-01 00:00+08'
         AND occurred_at < timestamptz '2026-10-01 00:00+08'`,
      [hot],
    );
    await client.query('DROP TABLE bench_t, bench_ent');
    // VACUUM too, as autovacuum would have done by the time anyone queries a database this size:
    // without the visibility map it sets, every index-only scan reads the table as well.
    await step('vacuum and analyze', 'VACUUM (ANALYZE)');
    const sizes = await client.query<{ name: string; mib: number }>(
      `SELECT relname AS name, round(pg_total_relation_size(oid) / 1048576.0, 1)::float8 AS mib FROM pg_class
       WHERE relname IN ('trades', 'trade_versions', 'trade_flows', 'stream_entries', 'allocations', 'sale_results', 'parties')`,
    );
    const count = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM trades');
    return {
      trades: count.rows[0]!.n,
      groups,
      persons,
      stations,
      centres,
      brokers,
      mills,
      hotStation: hot,
      hotTradesInPeriod: hotCount.rows[0]!.n,
      period: '2026-09',
      stations_keys: ents.filter((e) => e.kind === 'station').map((e) => e.key),
      seconds: round((performance.now() - t0) / 1000, 1),
      table_mib: Object.fromEntries(sizes.rows.map((r) => [r.name, r.mib])),
    };
  } finally {
    await client.end();
  }
}

/** Random trades of a given shape, for chain roots and detail lookups. */
export async function sampleTrades(
  url: string,
  kind: 'mill_purchase' | 'person_purchase' | 'any',
  n: number,
): Promise<{ id: string; platform: string; trade_id: string }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const where =
      kind === 'person_purchase'
        ? `t.seller_kind = 'natural_person'`
        : kind === 'mill_purchase'
          ? `EXISTS (SELECT 1 FROM parties p WHERE p.party_key = t.buyer_key AND 'utilizer' = ANY (p.roles))`
          : 'true';
    // TABLESAMPLE keeps this fast on a million rows; ORDER BY random() picks among the sample.
    const r = await client.query<{ id: string; platform: string; trade_id: string }>(
      `SELECT t.id::text AS id, t.platform, t.trade_id FROM trades t TABLESAMPLE SYSTEM (20) REPEATABLE (42)
       WHERE ${where} ORDER BY random() LIMIT $1`,
      [n],
    );
    return r.rows;
  } finally {
    await client.end();
  }
}
