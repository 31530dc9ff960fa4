import { sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';
import type {
  EventDataMap,
  InvoiceData,
  InvoiceReversedData,
  PartyRegisteredData,
  PaymentData,
  PaymentReversedData,
  TradeCancelledData,
  TradeData,
  WeighingData,
} from '../domain/events';
import { parseJsonBytes } from '../ingest/json-body';
import type { StreamMark } from '../queue/producer';
import { markPeriodsDirty } from '../repositories/anomalies.repository';
import { periodsAffected } from '../rules/periods';
import type { ProcessingContext, TradeKey } from './context';
import {
  applyPaymentReversals,
  type Doc,
  type DocumentEffects,
  effectsOfReversedInvoices,
  lockDocumentOrder,
  prepareInvoices,
  preparePayments,
  prepareWeighings,
  runWrites,
} from './documents';
import { prepareFlows } from './flows';
import { groupsForTrades, rematchInvoices, rematchPayments } from './matching';
import {
  applyRegistrations,
  PartyCollector,
  personsSellingTo,
  placePersons,
  type Registration,
  refreshPartyDivisions,
} from './parties';
import {
  applyTradeVersions,
  markStreamsDirty,
  storedTradeData,
  type TradeVersionInput,
  uniqueTrades,
} from './trades';

/**
 * PostgreSQL errors that say only that another transaction got in the way — a deadlock (two
 * batches touching the same new parties or documents in different orders), a serialization
 * failure, or a unique violation raced by a concurrent insert: the batch as a whole is worth
 * running again once the other transaction has finished, rather than falling back to one
 * transaction per event.
 */
const CONCURRENCY_ERRORS = new Set(['40P01', '40001', '23505']);
export const CONCURRENCY_RETRIES = 3;

export async function withConcurrencyRetry<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt > CONCURRENCY_RETRIES || typeof code !== 'string' || !CONCURRENCY_ERRORS.has(code))
        throw err;
      // The winner is committing: a short random pause keeps the two from meeting again.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80 * attempt));
    }
  }
}

/** After this many failed attempts an event is set aside as 'dead' with its error. */
export const MAX_EVENT_ATTEMPTS = 5;

export interface ProcessResult {
  processed: number;
  skipped: number;
  failed: number;
  dead: number;
  /** Streams marked for (re-)allocation: the caller enqueues allocation jobs after commit. */
  marks: StreamMark[];
  /** Parties whose facts changed. */
  parties: string[];
  /** Periods marked for rule evaluation: the caller enqueues evaluations after commit. */
  periods: { period: string; generation: bigint }[];
  trades: TradeKey[];
  /** Receipt times of the processed events, for the processing-latency metric. */
  receivedAt: Date[];
}

interface LoadedEvent {
  event_id: string;
  event_type: string;
  event_ts: Date;
  raw_body: Buffer;
  received_at: Date;
}

/**
 * Applies stored events to the normalised records, in one transaction for the whole batch
 * (set-based: a few statements per batch, not per event). Events already processed, or locked by
 * another worker, are skipped, which makes a job safe to run twice or concurrently. If the batch
 * fails as a whole, each event is retried alone, so one bad event cannot hold up the others;
 * an event failing MAX_EVENT_ATTEMPTS times is marked dead with its error.
 */
export async function processEvents(
  ctx: ProcessingContext,
  platform: string,
  eventIds: readonly string[],
): Promise<ProcessResult> {
  try {
    return await withConcurrencyRetry(() =>
      ctx.db.transaction().execute((trx) => processInTransaction({ ...ctx, db: trx }, platform, eventIds)),
    );
  } catch (err) {
    if (eventIds.length === 1) return recordFailure(ctx.db, platform, eventIds[0]!, err);
    ctx.log.warn(
      { platform, events: eventIds.length, err: (err as Error).message },
      'batch failed; retrying its events one by one',
    );
    const total = emptyResult();
    for (const id of eventIds) {
      let r: ProcessResult;
      try {
        r = await ctx.db
          .transaction()
          .execute((trx) => processInTransaction({ ...ctx, db: trx }, platform, [id]));
      } catch (e) {
        r = await recordFailure(ctx.db, platform, id, e);
      }
      merge(total, r);
    }
    return total;
  }
}

async function processInTransaction(
  ctx: ProcessingContext,
  platform: string,
  eventIds: readonly string[],
): Promise<ProcessResult> {
  const { db, keyring } = ctx;
  // The job's own events, and other pending events of the platform (oldest first, up to the batch
  // size) taken along in the same statement: each transaction costs about the same whatever its
  // size, so many small jobs (single webhook events arrive a few at a time) are folded into few
  // large ones. Their own jobs then find them processed and skip. Raw SQL: two locking selects
  // (FOR UPDATE SKIP LOCKED) in one round trip.
  const extra = Math.max(0, (ctx.batchSize ?? 0) - eventIds.length);
  const loaded = await sql<LoadedEvent & { own: boolean }>`
    WITH own AS (
      SELECT event_id, event_type, event_ts, raw_body, received_at FROM inbound_events
      WHERE platform = ${platform} AND event_id = ANY(${eventIds}::text[]) AND state = 'pending'
      ORDER BY event_id FOR UPDATE SKIP LOCKED),
    more AS (
      SELECT event_id, event_type, event_ts, raw_body, received_at FROM inbound_events
      WHERE ${extra} > 0 AND platform = ${platform} AND state = 'pending' AND event_id <> ALL(${eventIds}::text[])
      ORDER BY received_at LIMIT ${extra} FOR UPDATE SKIP LOCKED)
    SELECT *, true AS own FROM own UNION ALL SELECT *, false AS own FROM more`.execute(db);
  const rows: LoadedEvent[] = loaded.rows;
  const result = emptyResult();
  result.skipped = eventIds.length - loaded.rows.filter((r) => r.own).length;
  if (rows.length === 0) return result;

  const parties = new PartyCollector(keyring);
  const registrations: Registration[] = [];
  const tradeVersions: TradeVersionInput[] = [];
  const payments: Doc<PaymentData>[] = [];
  const reversals: Doc<PaymentReversedData>[] = [];
  const weighings: Doc<WeighingData>[] = [];
  const blue: Doc<InvoiceData>[] = [];
  const red: Doc<InvoiceReversedData>[] = [];

  // Record times (trade, payment, weighing, invoice dates): which periods' findings may change.
  const times: number[] = [];
  for (const row of rows) {
    // Validated at ingestion: the stored body is a well-formed event of its type.
    const body = parseJsonBytes(keyring.decryptBytes('event-bodies', row.raw_body)) as {
      type: keyof EventDataMap;
      data: unknown;
    };
    const doc = <D>(data: unknown): Doc<D> => ({ platform, eventId: row.event_id, data: data as D });
    times.push(recordTime(body.type, body.data, row.event_ts));
    switch (body.type) {
      case 'party.registered':
        registrations.push({
          data: body.data as PartyRegisteredData,
          eventTs: row.event_ts,
          platform,
          eventId: row.event_id,
        });
        break;
      case 'trade.created':
      case 'trade.amended': {
        const d = body.data as TradeData;
        tradeVersions.push({
          platform,
          tradeId: d.trade_id,
          version: d.version,
          kind: body.type === 'trade.created' ? 'created' : 'amended',
          eventId: row.event_id,
          eventTs: row.event_ts,
          receivedAt: row.received_at,
          data: storedTradeData(d, parties),
        });
        break;
      }
      case 'trade.cancelled': {
        const d = body.data as TradeCancelledData;
        tradeVersions.push({
          platform,
          tradeId: d.trade_id,
          version: d.version,
          kind: 'cancelled',
          eventId: row.event_id,
          eventTs: row.event_ts,
          receivedAt: row.received_at,
          data: { trade_id: d.trade_id, version: d.version, reason: d.reason },
        });
        break;
      }
      case 'payment.made':
        payments.push(doc(body.data));
        break;
      case 'payment.reversed':
        reversals.push(doc(body.data));
        break;
      case 'weighing.recorded':
        weighings.push(doc(body.data));
        break;
      case 'invoice.issued':
        blue.push(doc(body.data));
        break;
      case 'invoice.reversed':
        red.push(doc(body.data));
        break;
      default:
        throw new Error(`event ${row.event_id} has unknown type ${String(body.type)}`);
    }
  }

  // Parties first (documents and trades reference them), registrations after, so master data
  // wins over a name first seen on a trade. The documents and the new parties go in one
  // statement: the inserts are independent (no foreign keys, each resolves its own conflicts).
  // Reversals after the batches still writing their originals (before any other lock).
  await lockDocumentOrder(db, platform, { payments, reversals, blue, red });
  const effects: DocumentEffects[] = [];
  const pay = preparePayments(keyring, parties, payments);
  const inv = prepareInvoices(parties, blue, red);
  const weigh = prepareWeighings(weighings);
  const partyInsert = parties.insert();
  await runWrites(db, [...pay.writes, ...inv.writes, ...(partyInsert ? [partyInsert] : []), ...weigh.writes]);
  effects.push(pay.effects, inv.effects, weigh.effects);
  if (inv.originals.length > 0) effects.push(await effectsOfReversedInvoices(db, inv.originals));
  const registered = await applyRegistrations(db, registrations);
  const tradeResult = await applyTradeVersions(db, tradeVersions);
  await refreshPartyDivisions(db, registered);
  // Persons from outside Jiangmen sit where their earliest sale's buyer does: re-placed when their
  // sales changed, or when a buyer of theirs moved (a registration arriving after the trades).
  // A batch of new trades only can place only the persons from elsewhere met in it (their id
  // numbers are at hand); an amendment or a cancellation may concern any seller of the trade's
  // versions, so those are looked up (placePersons keeps the ones from elsewhere).
  const sellers = tradeVersions.every((v) => v.kind === 'created')
    ? tradeResult.personSellers.filter((k) => parties.isFromElsewhere(k))
    : tradeResult.personSellers;
  await placePersons(db, [...sellers, ...(await personsSellingTo(db, registered))]);
  effects.push(await applyPaymentReversals(db, reversals));

  // Matching: undeclared documents, and groups whose trades changed.
  // Groups whose undeclared documents may match differently now: trades that changed, and trades
  // that just got a declared document (a trade with a declared payment is no longer a candidate).
  const fromTrades = await groupsForTrades(
    db,
    uniqueTrades([...tradeResult.trades, ...effects.flatMap((e) => e.trades)]),
  );
  // The groups of the documents this batch stored or reversed are marked to be matched once more
  // when every transaction of this moment has committed (a trade processed beside them may have
  // missed them, and they it: recheckMatches). A trade-side match needs no mark: two matches of
  // one group are serialised by its lock, and a document's batch always marks its group.
  const paymentGroups = effects.flatMap((e) => e.paymentGroups);
  const invoiceGroups = effects.flatMap((e) => e.invoiceGroups);
  const matched = [
    ...(await rematchPayments(db, [...paymentGroups, ...fromTrades.payments], ctx.tolerances, {
      recheck: paymentGroups,
    })),
    ...(await rematchInvoices(db, [...invoiceGroups, ...fromTrades.invoices], ctx.tolerances, {
      recheck: invoiceGroups,
    })),
  ];
  const flowTrades = uniqueTrades([...tradeResult.trades, ...effects.flatMap((e) => e.trades), ...matched]);
  const flows = await prepareFlows(db, flowTrades, ctx.tolerances);
  // The flows' upsert runs with the stream marks (trade_flows rows are guarded by the flows locks).
  const marks = await markStreamsDirty(db, tradeResult.dirty, { after: flows.write });

  // The data clock: the latest event time received from this platform.
  const latest = new Date(Math.max(...rows.map((r) => r.event_ts.getTime())));
  // With the clock before this batch (as of this statement's snapshot: if anything, earlier), so
  // that a jump marks every month a time limit ripened in since.
  const clock = await sql<{ data_clock: Date; previous: Date | null }>`
    WITH old AS (SELECT data_clock FROM platform_clocks WHERE platform = ${platform})
    INSERT INTO platform_clocks AS c (platform, data_clock) VALUES (${platform}, ${latest})
    ON CONFLICT (platform) DO UPDATE SET data_clock = GREATEST(c.data_clock, excluded.data_clock), updated_at = now()
    RETURNING data_clock, (SELECT data_clock FROM old) AS previous`.execute(db);
  const { data_clock: now, previous } = clock.rows[0]!;
  const periods = await markPeriodsDirty(
    db,
    periodsAffected(times, now.getTime(), previous?.getTime() ?? null),
    {
      // In the same statement: the events are marked processed, and this transaction commits
      // without waiting for its WAL to reach the disk (synchronous_commit off, for this transaction
      // only). Everything it writes is derived from rows already durable: if PostgreSQL crashed
      // within the ~0.6 s before the WAL writer flushed it, the transaction is lost as a whole
      // (never in part), its events are 'pending' again and the sweep hands them back. Any later
      // transaction that read its rows and committed synchronously (an allocation) flushed it too,
      // since WAL is flushed in order. Ingestion's commits, which answer 202, stay synchronous.
      after: sql`UPDATE inbound_events
      SET state = 'processed', processed_at = ${new Date()}, attempts = attempts + 1, last_error = NULL
      WHERE platform = ${platform} AND event_id = ANY(${arrayLiteral(rows.map((r) => r.event_id))}::text[])
        AND set_config('synchronous_commit', 'off', true) = 'off'`,
    },
  );

  result.processed = rows.length;
  result.marks = marks;
  result.periods = periods;
  result.trades = flowTrades;
  result.receivedAt = rows.map((r) => r.received_at);
  result.parties = [
    ...new Set([
      ...registered,
      ...tradeVersions.flatMap((v) => ('seller' in v.data ? [v.data.seller.key, v.data.buyer.key] : [])),
      ...tradeResult.dirty.map((d) => d.partyKey),
    ]),
  ];
  return result;
}

/**
 * The time a record's findings hang on. Master data can change findings of any recent month
 * (roles, establishment date), so a registration counts from a year before its event.
 */
function recordTime(type: string, data: unknown, eventTs: Date): number {
  const d = data as Record<string, string>;
  const at = (s: string | undefined) => (s ? Date.parse(s) : eventTs.getTime());
  switch (type) {
    case 'trade.created':
    case 'trade.amended':
      return at(d.occurred_at);
    case 'payment.made':
      return at(d.paid_at);
    case 'payment.reversed':
      return at(d.reversed_at) - 31 * 86_400_000;
    case 'weighing.recorded':
      return at(d.weighed_at);
    case 'invoice.issued':
    case 'invoice.reversed':
      return at(d.issued_at);
    case 'party.registered':
      return eventTs.getTime() - 366 * 86_400_000;
    default:
      // A cancellation names no time of its own: its trade's periods are marked by the stream change.
      return eventTs.getTime();
  }
}

async function recordFailure(
  db: Db,
  platform: string,
  eventId: string,
  err: unknown,
): Promise<ProcessResult> {
  const message = err instanceof Error ? err.message : String(err);
  const row = await db
    .updateTable('inbound_events')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      last_error: message.slice(0, 2000),
      state: sql<string>`CASE WHEN attempts + 1 >= ${MAX_EVENT_ATTEMPTS} THEN 'dead' ELSE 'pending' END`,
    }))
    .where('platform', '=', platform)
    .where('event_id', '=', eventId)
    .where('state', '=', 'pending')
    .returning(['state'])
    .executeTakeFirst();
  const r = emptyResult();
  if (row?.state === 'dead') r.dead = 1;
  else r.failed = 1;
  return r;
}

function emptyResult(): ProcessResult {
  return {
    processed: 0,
    skipped: 0,
    failed: 0,
    dead: 0,
    marks: [],
    parties: [],
    periods: [],
    trades: [],
    receivedAt: [],
  };
}

function merge(into: ProcessResult, r: ProcessResult): void {
  into.processed += r.processed;
  into.skipped += r.skipped;
  into.failed += r.failed;
  into.dead += r.dead;
  into.marks.push(...r.marks);
  into.periods.push(...r.periods);
  into.parties.push(...r.parties);
  into.trades.push(...r.trades);
  into.receivedAt.push(...r.receivedAt);
}
