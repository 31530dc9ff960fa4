/**
 * `retrace simulate`: generates the data set (generator.ts) and delivers it as a trading platform
 * would — the first third as NDJSON backfill batches, the rest as signed single events with
 * bounded concurrency, a few sent out of order and a few re-sent (same ids: duplicates) — and
 * returns a summary that names every planted case. A pure HTTP client: no database, no config.
 */
import { type ClientOptions, PlatformClient } from './client';
import {
  type DatasetStats,
  DEFAULT_START,
  generateDataset,
  hash32,
  type PlantedCase,
  Rng,
  type SimEvent,
  type SkippedCase,
} from './generator';

export interface SimulationOptions {
  /** Base URL of the Retrace API, e.g. http://127.0.0.1:8080 */
  url: string;
  platform: string;
  /** The platform's signing secret, `whsec_…`. */
  secret: string;
  seed: number;
  months: number;
  scale: number;
  /** First month, YYYY-MM; default 2026-08. */
  start?: string;
  /** Single events in flight at once (default 16). */
  concurrency?: number;
  /** Show a progress bar on stderr even when it is not a terminal. */
  progress?: boolean;
  /** Where the progress bar goes (default process.stderr). */
  stream?: ProgressStream;
  /** Transport overrides (tests). */
  client?: ClientOptions;
}

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Rejection {
  id: string;
  type: string;
  status: number;
  errors: unknown;
}

export interface Summary {
  platform: string;
  seed: number;
  months: number;
  scale: number;
  start: string;
  /** Distinct events in the data set. */
  events: number;
  /** Deliveries counted by the client (re-sends included); the next four add up to it. */
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** 429/503 answers and network errors that were retried. */
  retries: number;
  delivery: {
    batches: number;
    batch_events: number;
    single_events: number;
    /** Events delivered a second time on purpose (they come back as duplicates). */
    resent: number;
    /** Swaps in the single-event stream (besides the reordering that concurrency causes). */
    out_of_order: number;
    concurrency: number;
  };
  by_type: Record<string, number>;
  parties: DatasetStats['parties'];
  window: DatasetStats['window'];
  data_clock: string;
  planted: PlantedCase[];
  planted_by_rule: Record<string, number>;
  skipped: SkippedCase[];
  /** The first rejections (at most 20), to say what went wrong; none on a healthy server. */
  rejections: Rejection[];
  seconds: number;
}

/** Lines per NDJSON batch (the contract allows 10,000; backfills here use smaller ones). */
export const BATCH_LINES = 1_000;
const MAX_REJECTIONS = 20;

export interface DeliveryPlan {
  batches: SimEvent[][];
  singles: SimEvent[];
  /** Re-sent one by one after everything else. */
  resend: SimEvent[];
  /** Re-sent as one more batch (a retried backfill). */
  resendBatch: SimEvent[];
  outOfOrder: number;
}

/**
 * Which events go how: deterministic for a seed. Events keep their ids, so every re-send is a
 * duplicate, never a conflict.
 */
export function planDelivery(events: readonly SimEvent[], seed: number): DeliveryPlan {
  const rng = new Rng(hash32(`delivery:${seed}`));
  const cut = Math.ceil(events.length / 3);
  const batches: SimEvent[][] = [];
  for (let i = 0; i < cut; i += BATCH_LINES) batches.push(events.slice(i, Math.min(cut, i + BATCH_LINES)));
  const singles = events.slice(cut);
  let outOfOrder = 0;
  for (let i = 0; i + 1 < singles.length; i++) {
    if (!rng.chance(0.01)) continue;
    const j = Math.min(singles.length - 1, i + rng.int(1, 20));
    [singles[i], singles[j]] = [singles[j]!, singles[i]!];
    outOfOrder += 1;
  }
  const picks = new Set<number>();
  const want = Math.min(events.length, Math.max(3, Math.round(events.length * 0.005)));
  while (picks.size < want) picks.add(rng.int(0, events.length - 1));
  const resend = [...picks].sort((a, b) => a - b).map((i) => events[i]!);
  const resendBatch = (batches[0] ?? []).slice(0, 25);
  return { batches, singles, resend, resendBatch, outOfOrder };
}

/** A one-line text bar, redrawn at most ten times a second. */
class ProgressBar {
  private done = 0;
  private last = 0;
  private readonly started = Date.now();

  constructor(
    private readonly total: number,
    private readonly stream: ProgressStream | null,
    private readonly rejected: () => number,
  ) {}

  tick(n: number): void {
    this.done += n;
    const now = Date.now();
    if (this.stream && (now - this.last >= 100 || this.done >= this.total)) {
      this.last = now;
      this.draw();
    }
  }

  finish(): void {
    if (!this.stream) return;
    this.draw();
    this.stream.write('\n');
  }

  private draw(): void {
    const width = 30;
    const ratio = this.total === 0 ? 1 : Math.min(1, this.done / this.total);
    const full = Math.round(ratio * width);
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    const rejected = this.rejected();
    this.stream!.write(
      `\rsimulate [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ` +
        `${this.done}/${this.total} events, ${secs} s${rejected > 0 ? `, ${rejected} rejected` : ''}  `,
    );
  }
}

/** Fails fast on answers that no retry can fix: a wrong secret or an unknown platform. */
function fatal(status: number, platform: string): Error | null {
  if (status === 401) {
    return new Error(`the server refused the signature (401): check --secret for platform "${platform}"`);
  }
  if (status === 403) return new Error(`platform "${platform}" is unknown or disabled on the server (403)`);
  if (status === 404) return new Error('no ingestion endpoint at this URL (404): check --url');
  return null;
}

export async function runSimulation(opts: SimulationOptions): Promise<Summary> {
  const started = Date.now();
  const start = opts.start ?? DEFAULT_START;
  const concurrency = opts.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError('concurrency must be at least 1');
  const dataset = generateDataset({
    seed: opts.seed,
    months: opts.months,
    scale: opts.scale,
    start,
    platform: opts.platform,
  });
  const plan = planDelivery(dataset.events, opts.seed);
  const client = new PlatformClient(opts.url.replace(/\/+$/, ''), opts.platform, opts.secret, opts.client);
  const stream = opts.stream ?? process.stderr;
  const total = dataset.events.length + plan.resend.length + plan.resendBatch.length;
  const bar = new ProgressBar(
    total,
    opts.progress === true || stream.isTTY === true ? stream : null,
    () => client.stats.rejected,
  );
  const rejections: Rejection[] = [];
  const reject = (r: Rejection) => {
    if (rejections.length < MAX_REJECTIONS) rejections.push(r);
  };

  const sendBatch = async (batch: SimEvent[]) => {
    let out: Awaited<ReturnType<PlatformClient['sendBatch']>>;
    try {
      out = await client.sendBatch(batch);
    } catch (err) {
      const status = /failed with (\d{3})/.exec(err instanceof Error ? err.message : '')?.[1];
      throw (status ? fatal(Number(status), opts.platform) : null) ?? err;
    }
    for (const r of out.results) {
      if (r.status !== 'rejected') continue;
      const ev = batch[r.line - 1];
      reject({
        id: ev?.id ?? r.id ?? `line ${r.line}`,
        type: ev?.type ?? '?',
        status: 200,
        errors: r.errors,
      });
    }
    bar.tick(batch.length);
  };

  const sendAll = async (events: readonly SimEvent[], width: number) => {
    let next = 0;
    let failure: Error | null = null;
    const worker = async () => {
      while (failure === null && next < events.length) {
        const ev = events[next++]!;
        const { id, ...envelope } = ev;
        const res = await client.sendEvent(envelope, id);
        if (res.status !== 200 && res.status !== 202) {
          failure ??= fatal(res.status, opts.platform);
          reject({ id, type: ev.type, status: res.status, errors: res.body });
        }
        bar.tick(1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(width, Math.max(1, events.length)) }, worker));
    if (failure) throw failure;
  };

  for (const batch of plan.batches) await sendBatch(batch);
  await sendAll(plan.singles, concurrency);
  // Retries of deliveries the server already has: a re-sent backfill batch, then single events.
  if (plan.resendBatch.length > 0) await sendBatch(plan.resendBatch);
  await sendAll(plan.resend, concurrency);
  bar.finish();

  const plantedByRule: Record<string, number> = {};
  for (const c of dataset.planted) plantedByRule[c.rule] = (plantedByRule[c.rule] ?? 0) + 1;
  const s = client.stats;
  return {
    platform: opts.platform,
    seed: opts.seed,
    months: opts.months,
    scale: opts.scale,
    start,
    events: dataset.events.length,
    sent: s.sent,
    accepted: s.accepted,
    duplicates: s.duplicates,
    rejected: s.rejected,
    retries: s.retries,
    delivery: {
      batches: plan.batches.length + (plan.resendBatch.length > 0 ? 1 : 0),
      batch_events: plan.batches.reduce((n, b) => n + b.length, 0) + plan.resendBatch.length,
      single_events: plan.singles.length + plan.resend.length,
      resent: plan.resend.length + plan.resendBatch.length,
      out_of_order: plan.outOfOrder,
      concurrency,
    },
    by_type: dataset.stats.by_type,
    parties: dataset.stats.parties,
    window: dataset.stats.window,
    data_clock: dataset.stats.data_clock,
    planted: dataset.planted,
    planted_by_rule: plantedByRule,
    skipped: dataset.skipped,
    rejections,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}
