import type { Job } from 'bullmq';
import type { Db } from '../src/db/database';
import type { Logger } from '../src/log';
import { JOBS } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';
import { renderReport } from '../src/reports/report.service';
import { runMonthlyReports } from '../src/reports/schedule';

/**
 * reports.render: renders and stores one report's files from its frozen content (safe twice: the
 * row lock lets one renderer through, a done report is skipped). On the job's last attempt a
 * failure marks the report failed; asking for it again re-queues it.
 * reports.monthly (job scheduler, Asia/Shanghai cron): requests the last closed period's reports.
 */
export function createReportsProcessor(deps: {
  db: Db;
  queues: EventQueues;
  dataDir: string;
  log: Logger;
  /** The clock that decides which period has closed (tests). */
  now?: () => Date;
}) {
  return async (job: Job) => {
    if (job.name === 'reports.monthly') {
      JOBS['reports.monthly'].schema.parse(job.data);
      const run = await runMonthlyReports(
        { db: deps.db, queues: deps.queues, log: deps.log },
        deps.now?.() ?? new Date(),
      );
      return {
        period: run.period,
        waiting: run.waiting,
        created: run.reports.filter((r) => r.created).length,
      };
    }
    const { report_id } = JOBS['reports.render'].schema.parse(job.data);
    const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome = await renderReport(
      { db: deps.db, dataDir: deps.dataDir, log: deps.log.child({ job_id: job.id }) },
      BigInt(report_id),
      { finalAttempt },
    );
    return { report_id, outcome };
  };
}
