import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportCommand, reportsCommand } from '../../src/cli/report';
import { produceDemoReports } from '../../src/reports/demo';
import { SCHEDULED_DIVISIONS } from '../../src/reports/labels';
import { findReportFile } from '../../src/repositories/reports.repository';
import { cliJson } from '../support/cli';
import { type AnyJson, createTestContext, type TestContext } from '../support/context';
import { loadWorkedData } from './worked-data';

/** `retrace report`, `retrace reports …` and the demo's hook, in-process (no worker needed). */
let ctx: TestContext;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'retrace-reports-'));
  ctx = await createTestContext({ env: { RETRACE_DATA_DIR: dataDir } });
  await loadWorkedData(ctx);
}, 60_000);
afterAll(async () => {
  await ctx.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const run = cliJson;

describe('retrace report, as a process', () => {
  it('prints one JSON object on stdout even with logging on: the log lines go to stderr', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/main.ts',
        'report',
        '--kind',
        'monthly_anomalies',
        '--division',
        '440704',
        '--period',
        '2026-08',
      ],
      {
        env: {
          ...process.env,
          NODE_ENV: 'test',
          DATABASE_URL: ctx.databaseUrl,
          REDIS_URL: ctx.rt.config.redisUrl,
          REDIS_PREFIX: ctx.redisPrefix,
          RETRACE_MASTER_KEY: ctx.rt.config.masterKey!.toString('base64'),
          RETRACE_DATA_DIR: dataDir,
          LOG_LEVEL: 'info',
        },
      },
    );
    expect(JSON.parse(stdout)).toMatchObject({ division: '440704', period: '2026-08', status: 'done' });
    expect(stderr).toContain('report produced');
  }, 60_000);
});

describe('retrace report', () => {
  it('produces the report now and prints its id and file paths; the files are the stored bytes', async () => {
    const flags = { kind: 'monthly_anomalies', division: '440703', period: '2026-10' };
    const out = await run(() => reportCommand(ctx.rt, flags));
    expect(out).toMatchObject({
      division: '440703',
      period: '2026-10',
      status: 'done',
      created: true,
      requested_by: 'cli',
    });
    expect(Object.keys(out.files).sort()).toEqual(['csv', 'pdf', 'xlsx']);
    for (const format of ['csv', 'xlsx', 'pdf'] as const) {
      expect(out.files[format]).toBe(path.join(dataDir, 'reports', `${out.id}.${format}`));
      const stored = await findReportFile(ctx.rt.db, BigInt(out.id), format);
      expect(createHash('sha256').update(readFileSync(out.files[format])).digest('hex')).toBe(stored!.sha256);
    }
    // Unchanged data: the same report, not a second one.
    const again = await run(() => reportCommand(ctx.rt, flags));
    expect(again).toMatchObject({ id: out.id, created: false });
  }, 60_000);

  it('refuses bad flags with the usage', async () => {
    const ok = { kind: 'monthly_anomalies', division: '440703', period: '2026-10' };
    await expect(reportCommand(ctx.rt, { ...ok, kind: 'weekly' })).rejects.toThrow(/--kind/);
    await expect(reportCommand(ctx.rt, { ...ok, division: '4407' })).rejects.toThrow(/--division/);
    await expect(reportCommand(ctx.rt, { ...ok, period: '2026-13' })).rejects.toThrow(/--period/);
    await expect(reportsCommand(ctx.rt, ['nope'], {})).rejects.toThrow(/reports list/);
  });

  it('reports schedule produces the monthly set; reports list shows it', async () => {
    const out = await run(() => reportsCommand(ctx.rt, ['schedule'], { period: '2026-10' }));
    expect(out.reports.map((r: AnyJson) => r.division)).toEqual([...SCHEDULED_DIVISIONS]);
    // 440703's report of this data exists already (the `report` test above).
    expect(out.reports.filter((r: AnyJson) => r.created).map((r: AnyJson) => r.division)).toEqual(
      SCHEDULED_DIVISIONS.filter((d) => d !== '440703'),
    );
    const list = await run(() => reportsCommand(ctx.rt, ['list'], { period: '2026-10' }));
    expect(list.reports).toHaveLength(SCHEDULED_DIVISIONS.length);
  }, 60_000);
});

describe('produceDemoReports', () => {
  it('returns the file paths of the period’s reports of every division', async () => {
    const demo = await produceDemoReports(ctx.rt, '2026-09');
    expect(demo.period).toBe('2026-09');
    expect(demo.reports.map((r) => r.division)).toEqual([...SCHEDULED_DIVISIONS]);
    for (const r of demo.reports) {
      expect(r.status).toBe('done');
      expect(readFileSync(r.files.pdf).subarray(0, 5).toString('latin1')).toBe('%PDF-');
    }
  }, 60_000);
});
