import { Worker } from 'bullmq';
import type { Config } from '../src/config';
import type { Db } from '../src/db/database';
import { DEFAULT_TOLERANCES } from '../src/domain/tolerances';
import type { Logger } from '../src/log';
import type { Metrics } from '../src/ops/metrics';
import type { ProcessingContext } from '../src/processing/context';
import { startSweeper } from '../src/processing/sweep';
import { QUEUE_BASES, queueName } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';
import { createRedis } from '../src/queue/redis';
import type { Keyring } from '../src/security/keys';
import { createEventsProcessor } from './events.processor';
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
  >;
  db: Db;
  keyring: Keyring;
  queues: EventQueues;
  metrics: Metrics;
  log: Logger;
}

export interface RunningWorkers {
  workers: Worker[];
  close: () => Promise<void>;
}

/** Starts a consumer on every partition of every queue, and the sweep. */
export function createWorkers(deps: WorkerDeps): RunningWorkers {
  const { config, log, metrics } = deps;
  const connection = createRedis(config.redisUrl, 'worker');
  const ctx: ProcessingContext = { db: deps.db, keyring: deps.keyring, tolerances: DEFAULT_TOLERANCES, log };
  const processors = {
    events: createEventsProcessor({ ctx, queues: deps.queues, metrics }),
    streams: createStreamsProcessor({ ctx, queues: deps.queues }),
    rules: createRulesProcessor({ db: deps.db, keyring: deps.keyring, queues: deps.queues, log }),
  };
  const workers = QUEUE_BASES.flatMap((base) =>
    Array.from({ length: config.queuePartitions }, (_, p) => startWorker(base, p)),
  );
  function startWorker(base: (typeof QUEUE_BASES)[number], p: number): Worker {
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
      { connection, prefix: config.redisPrefix, concurrency: config.workerConcurrency, autorun: true },
    );
    worker.on('completed', () => metrics.jobsProcessed.inc({ queue: name, outcome: 'completed' }));
    worker.on('failed', (job, err) => {
      metrics.jobsProcessed.inc({ queue: name, outcome: 'failed' });
      log.warn({ job_id: job?.id, queue: name, attempts: job?.attemptsMade, err: err.message }, 'job failed');
    });
    worker.on('error', (err) => log.warn({ queue: name, err: err.message }, 'worker connection error'));
    return worker;
  }
  deps.queues
    .ensureSchedulers()
    .catch((err) => log.warn({ err: (err as Error).message }, 'could not declare job schedulers yet'));
  const sweeper = startSweeper(deps, {
    intervalSeconds: config.sweepIntervalSeconds,
    minAgeSeconds: config.sweepMinAgeSeconds,
  });
  return {
    workers,
    close: async () => {
      await sweeper.stop();
      // Waits for active jobs to finish: a SIGTERM never cuts a job in half.
      await Promise.all(workers.map((w) => w.close()));
      connection.disconnect();
    },
  };
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
  rt.log.info(
    { partitions: rt.config.queuePartitions, concurrency: rt.config.workerConcurrency },
    'workers started',
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  rt.log.info('shutting down workers: finishing active jobs');
  await running.close();
  await rt.close();
}
