/**
 * `retrace serve worker` for the pipeline benchmark's "without rules" pass: the same runtime and
 * the same createWorkers() as src/main.ts, except that with BENCH_SKIP_RULES=1 the consumers of
 * the rules queue are closed right after start. Rule evaluations are then still produced (they
 * pile up in the run's own Redis prefix, deleted at the end) but never run: the workers do
 * normalisation, reconciliation and allocation only.
 *
 * There is no switch for this in the product (WORKER_CONCURRENCY and QUEUE_PARTITIONS apply to
 * every queue alike), hence this wrapper.
 */
import { loadConfig } from '../src/config';
import { createRuntime } from '../src/runtime';
import { createWorkers, workerPoolSize } from '../workers/main';

const config = loadConfig();
const rt = createRuntime({ ...config, pgPoolSize: workerPoolSize(config) }, 'worker');
const running = createWorkers({
  config: rt.config,
  db: rt.db,
  keyring: rt.keyring,
  queues: rt.queues,
  metrics: rt.metrics,
  log: rt.log,
});
const skipRules = process.env.BENCH_SKIP_RULES === '1';
const rules = running.workers.filter((w) => w.name.startsWith('{rules-'));
if (skipRules) await Promise.all(rules.map((w) => w.close()));
await Promise.all(
  running.workers.filter((w) => !skipRules || !rules.includes(w)).map((w) => w.waitUntilReady()),
);
rt.log.info({ skip_rules: skipRules }, 'workers started');
await new Promise<void>((resolve) => {
  process.once('SIGTERM', resolve);
  process.once('SIGINT', resolve);
});
await running.close();
await rt.close();
