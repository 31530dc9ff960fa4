import { Worker } from 'bullmq';
import type { Config } from '../src/config';
import type { Db } from '../src/db/database';
import { autovacuumEnabled, startStatisticsRefresher } from '../src/db/maintenance';
import { DEFAULT_TOLERANCES } from '../src/domain/tolerances';
import type { Logger } from '../src/log';
import type { Metrics } from '../src/ops/metrics';
import { startPeriodic } from '../src/ops/periodic';
import { publishMetrics, sharedMetricsKey } from '../src/ops/shared-metrics';
import type { ProcessingContext } from '../src/processing/context';
import { startSweeper } from '../src/processing/sweep';
import { MAX_EVENTS_PER_JOB, type QueueBase, queueName } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';
import { createRedis } from '../src/queue/redis';
import { sweepReports } from '../src/reports/schedule';
import type { Keyring } from '../src/security/keys';
import { createEventsProcessor } from './events.processor';
import { createReportsProcessor } from './reports.processor';
import { createRulesProcessor } from './rules.processor';
import { createStreamsProcessor } from './streams.processor';

export interface WorkerDeps {
  config: Pick<
    Config,
    | 'redisUrl'
    | 'redisPrefix'
    | 'queuePartitions'
    | 'workerConcurrency'
    | 'sweepIntervalSeconds'
    | 'sweepMinAgeSeconds'
    | 'dataDir'
    | 'workerQueues'
  >;
  db: Db;
  keyring: Keyring;
  queues: EventQueues;
  metrics: Metrics;
  log: Logger;
}

export interface RunningWorkers {
  workers: Worker[];
  close: (force?: boolean) => Promise<void>;
}

/** Starts a consumer on every partition of each queue of WORKER_QUEUES, and the sweeps. */
export function createWorkers(deps: WorkerDeps): RunningWorkers {
  const { config, log, metrics } = deps;
  const connection = createRedis(config.redisUrl, 'worker');
  const ctx: ProcessingContext = {
    db: deps.db,
    keyring: deps.keyring,
    tolerances: DEFAULT_TOLERANCES,
    log,
    batchSize: MAX_EVENTS_PER_JOB,
  };
  const processors = {
    events: createEventsProcessor({ ctx, queues: deps.queues, metrics }),
    streams: createStreamsProcessor({ ctx, queues: deps.queues }),
    rules: createRulesProcessor({ db: deps.db, keyring: deps.keyring, queues: deps.queues, log }),
    reports: createReportsProcessor({ db: deps.db, queues: deps.queues, dataDir: config.dataDir, log }),
  };
  // Connection errors come from every worker's connections, several a second while Redis is away:
  // one log line per CONNECTION_ERROR_LOG_MS for the whole process, with how many were left out.
  let lastLogged = 0;
  let unlogged = 0;
  const connectionErrors = (queue: string, err: Error) => {
    const now = Date.now();
    if (now - lastLogged < CONNECTION_ERROR_LOG_MS) {
      unlogged++;
      return;
    }
    log.warn({ queue, err: err.message, similar_errors_since_last: unlogged }, 'worker connection error');
    lastLogged = now;
    unlogged = 0;
  };
  // WORKER_QUEUES: a process may consume only some queues (say, reconciliation apart from rules).
  const workers = config.workerQueues.flatMap((base) =>
    Array.from({ length: config.queuePartitions }, (_, p) => startWorker(base, p)),
  );
  function startWorker(base: QueueBase, p: number): Worker {
    const processor = processors[base];
    const name = queueName(base, p);
    const worker = new Worker(
      name,
      async (job) => {
        const end = metrics.jobDuration.startTimer({ queue: name });
        try {
          return await processor(job);
        } finally {
          end();
        }
      },
      {
        connection,
        prefix: config.redisPrefix,
        concurrency: partitionConcurrency(base, config),
        autorun: true,
      },
    );
    worker.on('completed', () => metrics.jobsProcessed.inc({ queue: name, outcome: 'completed' }));
    worker.on('failed', (job, err) => {
      metrics.jobsProcessed.inc({ queue: name, outcome: 'failed' });
      log.warn({ job_id: job?.id, queue: name, attempts: job?.attemptsMade, err: err.message }, 'job failed');
    });
    worker.on('error', (err) => connectionErrors(name, err));
    return worker;
  }
  deps.queues
    .ensureSchedulers()
    .catch((err) => log.warn({ err: (err as Error).message }, 'could not declare job schedulers yet'));
  const sweeper = startSweeper(deps, {
    intervalSeconds: config.sweepIntervalSeconds,
    minAgeSeconds: config.sweepMinAgeSeconds,
  });
  const reportSweeper = startReportSweeper(deps);
  const statistics = startStatisticsRefresher(deps.db, log);
  // Workers serve no HTTP: the API's /metrics shows their metrics from these snapshots.
  const shared = publishMetrics(deps.queues.redis, sharedMetricsKey(config.redisPrefix), metrics.registry);
  return {
    workers,
    close: async (force = false) => {
      await shared.stop();
      await sweeper.stop();
      await statistics.stop();
      await reportSweeper.stop();
      // Waits for active jobs to finish: a SIGTERM never cuts a job in half — unless `force`
      // (Redis is away: no job can be finished in it anyway; the sweep hands them over again).
      await Promise.all(workers.map((w) => w.close(force)));
      connection.disconnect();
    },
  };
}

/**
 * Reports' safety net, on a timer in each worker process (src/reports/schedule.ts): re-enqueues
 * reports whose job was lost, and catches up a monthly run the job scheduler missed. Idempotent,
 * so several worker processes may run it at once.
 */
function startReportSweeper(deps: WorkerDeps, intervalMs = 60_000): { stop: () => Promise<void> } {
  return startPeriodic(
    'report sweep',
    () => sweepReports({ db: deps.db, queues: deps.queues, log: deps.log }),
    intervalMs,
    deps.log,
  );
}

/**
 * Jobs a worker process runs at once, per partition of each queue. WORKER_CONCURRENCY is the
 * total for events and for allocations, spread over the partitions. Rule evaluations and reports
 * are heavy and few (rendering a report is CPU work for a second or two): one per partition.
 */
export function partitionConcurrency(
  base: QueueBase,
  config: Pick<Config, 'workerConcurrency' | 'queuePartitions'>,
): number {
  if (base === 'reports' || base === 'rules') return 1;
  return Math.max(1, Math.ceil(config.workerConcurrency / config.queuePartitions));
}

/**
 * Connections a worker process needs: one per concurrent job, plus the periodic work's — the sweep
 * (its transaction, and the match recheck's beside it), the report sweep and the statistics
 * refresher.
 */
export function workerPoolSize(
  config: Pick<Config, 'workerConcurrency' | 'queuePartitions' | 'pgPoolSize' | 'workerQueues'>,
): number {
  const jobs = config.workerQueues.reduce(
    (n, base) => n + partitionConcurrency(base, config) * config.queuePartitions,
    0,
  );
  return Math.max(config.pgPoolSize, jobs + 4);
}

/** `retrace serve worker`: runs until SIGTERM/SIGINT, then lets active jobs finish. */
export async function runWorkers(rt: import('../src/runtime').Runtime): Promise<void> {
  const running = createWorkers({
    config: rt.config,
    db: rt.db,
    keyring: rt.keyring,
    queues: rt.queues,
    metrics: rt.metrics,
    log: rt.log,
  });
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  // Connecting the workers (one blocking Redis connection each, their scripts loaded) keeps the
  // event loop busy for a moment: say "started" only once that is over, so that a signal sent on
  // that word finds the process responsive. (A signal before then stops it all the same.)
  await Promise.race([Promise.all(running.workers.map((w) => w.waitUntilReady())), stopped]);
  rt.log.info(
    {
      queues: rt.config.workerQueues,
      partitions: rt.config.queuePartitions,
      concurrency: rt.config.workerConcurrency,
    },
    'workers started',
  );
  if (!(await autovacuumEnabled(rt.db).catch(() => true))) {
    rt.log.warn(
      'PostgreSQL runs with autovacuum off: tables are never vacuumed, so index-only scans read the tables and dead rows accumulate; turn it on (autovacuum = on) or VACUUM regularly',
    );
  }
  await stopped;
  const redisUp = rt.queues.redis.status === 'ready';
  rt.log.info(
    redisUp
      ? 'shutting down workers: finishing active jobs'
      : 'shutting down workers: Redis is unreachable, unfinished jobs are left to the sweep',
  );
  // A stop is bounded, as orchestrators expect: a job cut short is retried (jobs are idempotent;
  // its transaction never committed), so nothing is lost by exiting.
  const grace = setTimeout(() => {
    rt.log.error({ seconds: SHUTDOWN_GRACE_MS / 1000 }, 'shutdown took too long: exiting');
    process.exit(1);
  }, SHUTDOWN_GRACE_MS);
  grace.unref();
  await running.close(!redisUp);
  await rt.close();
  clearTimeout(grace);
}

/** At most one log line of worker connection errors per this many milliseconds. */
const CONNECTION_ERROR_LOG_MS = 10_000;

/** How long `serve worker` waits for active jobs after SIGTERM before it exits anyway. */
const SHUTDOWN_GRACE_MS = 25_000;
