import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per process role. Label values are bounded sets (platform codes, event types,
 * outcomes, route templates): never ids, which would explode cardinality.
 */
export interface Metrics {
  registry: Registry;
  ingestEvents: Counter<'platform' | 'type' | 'outcome'>;
  ingestAuthFailures: Counter<'platform' | 'reason'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  queueDepth: Gauge<'queue' | 'state'>;
  queueLag: Gauge<'queue'>;
  jobsProcessed: Counter<'queue' | 'outcome'>;
  jobDuration: Histogram<'queue'>;
  eventsProcessed: Counter<'outcome'>;
  processingLatency: Histogram<'stage'>;
  sweepRequeued: Counter;
}

export function createMetrics(role: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: 'retrace_process_' });
  return {
    registry,
    ingestEvents: new Counter({
      name: 'retrace_ingest_events_total',
      help: 'Ingested events by platform, event type and outcome (accepted, duplicate, rejected, conflict)',
      labelNames: ['platform', 'type', 'outcome'],
      registers: [registry],
    }),
    ingestAuthFailures: new Counter({
      name: 'retrace_ingest_auth_failures_total',
      help: 'Ingest requests refused before storage: unknown/disabled platform, bad signature, stale timestamp',
      labelNames: ['platform', 'reason'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'retrace_http_request_duration_seconds',
      help: 'HTTP request latency by route template',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'retrace_queue_jobs',
      help: 'Jobs per queue and state, read from Redis at scrape time',
      labelNames: ['queue', 'state'],
      registers: [registry],
    }),
    queueLag: new Gauge({
      name: 'retrace_queue_lag_seconds',
      help: 'Age of the oldest waiting job per queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    jobsProcessed: new Counter({
      name: 'retrace_jobs_total',
      help: 'Jobs finished by queue and outcome',
      labelNames: ['queue', 'outcome'],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'retrace_job_duration_seconds',
      help: 'Job handler duration',
      labelNames: ['queue'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    eventsProcessed: new Counter({
      name: 'retrace_events_processed_total',
      help: 'Stored events handed over to processing, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    processingLatency: new Histogram({
      name: 'retrace_processing_latency_seconds',
      help: 'Time from an event being received to a processing stage finishing with it',
      labelNames: ['stage'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    sweepRequeued: new Counter({
      name: 'retrace_sweep_requeued_events_total',
      help: 'Pending events the sweep handed to the queue again (the queue had lost or not yet got them)',
      registers: [registry],
    }),
  };
}
