import autocannon, { type AutocannonRequest } from 'autocannon';
import { latencySummary, round } from './support';

export interface LoadResult {
  seconds: number;
  requests: number;
  rps: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  latency: ReturnType<typeof latencySummary>;
}

/**
 * Closed-loop (or, with `overallRate`, paced) HTTP load with autocannon against 127.0.0.1.
 * `next()` builds each request (signing happens there, so every request carries a fresh
 * timestamp and id). Latencies are every response's time, as measured by autocannon's client.
 */
export async function runLoad(opts: {
  url: string;
  connections: number;
  durationSeconds: number;
  /** A fixed number of requests instead of a duration (slow endpoints: none is cut off). */
  amount?: number;
  overallRate?: number;
  next: () => Pick<AutocannonRequest, 'method' | 'path' | 'headers' | 'body'>;
  onTick?: (done: number) => void;
}): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(opts.url))
    throw new Error(`load only goes to 127.0.0.1: ${opts.url}`);
  const times: number[] = [];
  const statuses: Record<string, number> = {};
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.durationSeconds }),
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    timeout: 30,
    requests: [{ setupRequest: (req) => ({ ...req, ...opts.next() }) }],
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    times.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const tick = opts.onTick ? setInterval(() => opts.onTick!(times.length), 5_000) : null;
  const started = performance.now();
  const result = await instance;
  if (tick) clearInterval(tick);
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds: round(seconds, 2),
    requests: times.length,
    rps: round(times.length / seconds, 1),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    latency: latencySummary(times),
  };
}
