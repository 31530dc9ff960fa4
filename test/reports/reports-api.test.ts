import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../src/reports/report.service';
import { type AnyJson, createTestContext, json, type TestContext } from '../support/context';
import { addOfficer, bearer, type TestOfficer } from '../support/officers';
import { A, C, loadWorkedData, type WorkedData } from './worked-data';

/**
 * POST /v1/reports, GET /v1/reports, GET /v1/reports/{id}, GET /v1/reports/{id}/download through
 * the whole app (officer gate, audit), on the worked data set. Rendering is run in-process with
 * the same function the `reports.render` job calls.
 */
let ctx: TestContext;
let w: WorkedData;
let sup703: TestOfficer;
let sup700: TestOfficer;
let sup705: TestOfficer;
let off703: TestOfficer;
let auditor: TestOfficer;

const get = (path: string, token?: string) => ctx.app.request(path, { headers: token ? bearer(token) : {} });
const post = (body: unknown, token: string, contentType = 'application/json') =>
  ctx.app.request('/v1/reports', {
    method: 'POST',
    headers: bearer(token, { 'content-type': contentType }),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const oct = (division: string) => ({ kind: 'monthly_anomalies', division, period: '2026-10' });
const render = (id: string) => renderReport({ db: ctx.rt.db }, BigInt(id), { finalAttempt: true });

async function reportsJob(jobId: string) {
  for (const q of ctx.rt.queues.queues.filter((q) => q.name.startsWith('{reports-'))) {
    const job = await q.getJob(jobId);
    if (job) return job;
  }
  return undefined;
}

let r703: AnyJson;
let r700: AnyJson;

beforeAll(async () => {
  ctx = await createTestContext();
  w = await loadWorkedData(ctx);
  sup703 = await addOfficer(ctx, { role: 'supervisor', divisions: ['440703'] });
  sup700 = await addOfficer(ctx, { role: 'supervisor', divisions: ['440700'] });
  sup705 = await addOfficer(ctx, { role: 'supervisor', divisions: ['440705'] });
  off703 = await addOfficer(ctx, { role: 'officer', divisions: ['440703'] });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
}, 60_000);
afterAll(async () => ctx.close());

describe('POST /v1/reports', () => {
  it('queues a report (202), hands it to the render job, and produces it once per data version', async () => {
    const res = await post(oct('440703'), sup703.token);
    expect(res.status).toBe(202);
    r703 = await json(res);
    expect(res.headers.get('location')).toBe(`/v1/reports/${r703.id}`);
    expect(r703).toMatchObject({
      kind: 'monthly_anomalies',
      division: { code: '440703', name_zh: '蓬江区' },
      period: '2026-10',
      status: 'queued',
      requested_by: `officer:${sup703.login}`,
      files: [],
      data_clock: '2026-10-02T08:15:00+08:00',
    });
    expect(r703.data_version).toMatch(/^[0-9a-f]{64}$/);
    expect(r703.rule_versions.FUNDS_ROUND_TRIP).toBe(1);
    expect(await reportsJob(`rp.${r703.id}.0`)).toBeDefined();

    // Asked again before it is produced: the same report, still queued.
    const again = await post(oct('440703'), sup703.token);
    expect(again.status).toBe(202);
    expect((await json(again)).id).toBe(r703.id);

    expect(await render(r703.id)).toBe('done');
    expect(await render(r703.id)).toBe('skipped');
    const done = await post(oct('440703'), sup703.token);
    expect(done.status).toBe(200);
    const body = await json(done);
    expect(body).toMatchObject({ id: r703.id, status: 'done', requested_by: `officer:${sup703.login}` });
    expect(body.files.map((f: AnyJson) => f.format)).toEqual(['csv', 'pdf', 'xlsx']);
  }, 60_000);

  it('a new data version (a review changed a finding) is a new report', async () => {
    await ctx.rt.db
      .updateTable('anomalies')
      .set({ status: 'confirmed', reviewed_by: 'sup.li', reviewed_at: new Date('2026-11-05T00:00:00Z') })
      .where('id', '=', BigInt(w.findings.f3!))
      .execute();
    const res = await post(oct('440703'), sup703.token);
    expect(res.status).toBe(202);
    const next = await json(res);
    expect(next.id).not.toBe(r703.id);
    expect(next.data_version).not.toBe(r703.data_version);
    await render(next.id);
  }, 60_000);

  it('all of Jiangmen for a 440700 supervisor', async () => {
    const res = await post(oct('440700'), sup700.token);
    expect(res.status).toBe(202);
    r700 = await json(res);
    await render(r700.id);
  }, 60_000);

  it('is for supervisors: an officer gets 403, an unauthenticated caller 401', async () => {
    expect((await post(oct('440703'), off703.token)).status).toBe(403);
    expect((await post(oct('440703'), auditor.token)).status).toBe(403);
    const anon = await ctx.app.request('/v1/reports', {
      method: 'POST',
      body: JSON.stringify(oct('440703')),
    });
    expect(anon.status).toBe(401);
  });

  it('a division outside your divisions is 404 (no existence oracle), 440700 included for a district', async () => {
    for (const d of ['440703', '440700']) {
      const res = await post(oct(d), sup705.token);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    // Not a division of Jiangmen at all: a bad request, whoever asks (a fact, not an oracle).
    expect((await post(oct('440100'), sup705.token)).status).toBe(400);
    expect((await post(oct('440700'), sup703.token)).status).toBe(404);
  });

  it('hostile bodies are 400 problems with pointers, never 5xx', async () => {
    const cases: [unknown, string?][] = [
      [{}, '/kind'],
      [{ ...oct('440703'), kind: 'everything' }, '/kind'],
      [{ ...oct('440703'), division: '44070' }, '/division'],
      [{ ...oct('440703'), division: '440000' }, '/division'],
      [{ ...oct('440703'), division: 440703 }, '/division'],
      [{ ...oct('440703'), division: "440703' OR 1=1 --" }, '/division'],
      [{ ...oct('440703'), period: '2026-13' }, '/period'],
      [{ ...oct('440703'), period: '2026-1' }, '/period'],
      [{ ...oct('440703'), period: '9999-12' }, '/period'],
      [{ ...oct('440703'), period: '2099-12' }, '/period'], // after the current month
      [{ ...oct('440703'), division: '440799' }, '/division'], // no such district of Jiangmen
      [{ ...oct('440703'), division: '440103' }, '/division'], // Guangzhou
      [{ ...oct('440703'), period: '2026-10\n' }, '/period'],
      [{ ...oct('440703'), period: ['2026-10'] }, '/period'],
      [{ ...oct('440703'), division: 'x'.repeat(10_000) }, '/division'],
      [[]],
      ['null'],
      ['{"kind":'],
      ['"monthly_anomalies"'],
    ];
    for (const [body, pointer] of cases) {
      const res = await post(body, sup700.token);
      const text = await res.text();
      expect(res.status, `${JSON.stringify(body).slice(0, 80)} → ${text}`).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      if (pointer) expect(JSON.parse(text).errors.map((e: AnyJson) => e.pointer)).toContain(pointer);
    }
    // A body past 64 KiB is refused as it streams in.
    const huge = await post({ ...oct('440703'), padding: 'x'.repeat(100_000) }, sup700.token);
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toBe('application/problem+json');
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await post(oct('440703'), sup700.token, contentType);
      expect(res.status, contentType).toBe(415);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});

describe('GET /v1/reports/{id}', () => {
  it('says who requested it, when, the data clock, rule versions and each file’s SHA-256', async () => {
    const res = await get(`/v1/reports/${r703.id}`, off703.token);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      id: r703.id,
      status: 'done',
      requested_by: `officer:${sup703.login}`,
      data_clock: '2026-10-02T08:15:00+08:00',
      data_version: r703.data_version,
    });
    expect(body.requested_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$/);
    expect(body.finished_at).not.toBeNull();
    expect(Object.keys(body.rule_versions)).toHaveLength(19);
    for (const f of body.files) {
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(f.href).toBe(`/v1/reports/${r703.id}/download?format=${f.format}`);
    }
  });

  it('is 404 outside your divisions — another district, or all of Jiangmen for a district officer', async () => {
    expect((await get(`/v1/reports/${r703.id}`, sup705.token)).status).toBe(404);
    expect((await get(`/v1/reports/${r700.id}`, off703.token)).status).toBe(404);
    expect((await get(`/v1/reports/${r700.id}`, sup700.token)).status).toBe(200);
    expect((await get(`/v1/reports/${r703.id}`, sup700.token)).status).toBe(200);
    expect((await get('/v1/reports/999999999', sup700.token)).status).toBe(404);
    expect((await get(`/v1/reports/${r703.id}`, auditor.token)).status).toBe(403);
  });

  it('ids that can name no report are 404, as for trades and findings, never 5xx', async () => {
    for (const id of [
      'abc',
      '0',
      '-1',
      '1.5',
      '99999999999999999999',
      '9223372036854775808',
      '%27%20OR%201%3D1',
    ]) {
      const res = await get(`/v1/reports/${id}`, sup700.token);
      expect(res.status, id).toBe(404);
      expect((await get(`/v1/reports/${id}/download?format=csv`, sup700.token)).status, id).toBe(404);
    }
  });
});

describe('GET /v1/reports/{id}/download', () => {
  it('serves each format with its content type, disposition and the bytes the metadata hashes', async () => {
    const meta = await json(await get(`/v1/reports/${r703.id}`, off703.token));
    const types = {
      csv: 'text/csv; charset=utf-8',
      xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      pdf: 'application/pdf',
    } as const;
    for (const format of ['csv', 'xlsx', 'pdf'] as const) {
      const res = await get(`/v1/reports/${r703.id}/download?format=${format}`, off703.token);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(types[format]);
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="monthly_anomalies-440703-2026-10-${r703.id}.${format}"`,
      );
      const bytes = Buffer.from(await res.arrayBuffer());
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(meta.files.find((f: AnyJson) => f.format === format).sha256).toBe(sha);
      expect(res.headers.get('etag')).toBe(`"${sha}"`);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
    }
  });

  it('is audited with the parties and trades the report names', async () => {
    const entries = await ctx.rt.db
      .selectFrom('audit_log')
      .selectAll()
      .where('actor', '=', off703.login)
      .where('endpoint', '=', '/v1/reports/:id/download')
      .orderBy('id')
      .execute();
    expect(entries.length).toBeGreaterThanOrEqual(3);
    const e = entries[0]!;
    expect(e.status).toBe(200);
    expect(e.query).toEqual({ format: 'csv' });
    expect(e.parties).toEqual(expect.arrayContaining([A.uscc, w.pKey]));
    expect(e.parties).not.toContain(C.uscc);
    expect(e.trades).toEqual(expect.arrayContaining([w.tradeIds.T1, w.tradeIds.T2, w.tradeIds.T4]));
    const posts = await ctx.rt.db
      .selectFrom('audit_log')
      .select(['status', 'endpoint'])
      .where('actor', '=', sup705.login)
      .where('method', '=', 'POST')
      .execute();
    expect(posts.map((p) => p.status)).toContain(404);
  });

  it('is 404 outside your divisions, 409 while the report is not produced, 400 for a bad format', async () => {
    expect((await get(`/v1/reports/${r703.id}/download?format=pdf`, sup705.token)).status).toBe(404);
    expect((await get(`/v1/reports/${r700.id}/download?format=pdf`, off703.token)).status).toBe(404);
    const queued = await json(await post(oct('440705'), sup705.token));
    expect(queued.status).toBe('queued');
    const res = await get(`/v1/reports/${queued.id}/download?format=pdf`, sup705.token);
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('5');
    for (const q of ['format=doc', '', 'format=', 'format=pdf&format=csv', 'format=PDF']) {
      const r = await get(`/v1/reports/${r703.id}/download?${q}`, off703.token);
      expect(r.status, q).toBe(400);
    }
  });
});

describe('GET /v1/reports', () => {
  it('lists the reports your divisions cover, newest first, with cursor pagination', async () => {
    const mine = await json(await get('/v1/reports', off703.token));
    // 440703's two versions; not 440700 (covers other districts) nor 440705.
    expect(mine.items.map((r: AnyJson) => r.division.code)).toEqual(['440703', '440703']);
    expect(mine.next_cursor).toBeNull();
    const all = await json(await get('/v1/reports?kind=monthly_anomalies', sup700.token));
    expect(all.items.map((r: AnyJson) => r.division.code).sort()).toEqual([
      '440700',
      '440703',
      '440703',
      '440705',
    ]);
    const first = await json(await get('/v1/reports?limit=2', sup700.token));
    expect(first.items).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await json(await get(`/v1/reports?limit=2&cursor=${first.next_cursor}`, sup700.token));
    expect([...first.items, ...second.items].map((r: AnyJson) => r.id)).toEqual(
      all.items.map((r: AnyJson) => r.id),
    );
    expect(second.next_cursor).toBeNull();
    const filtered = await json(
      await get('/v1/reports?division=440705&status=queued&period=2026-10', sup700.token),
    );
    expect(filtered.items.map((r: AnyJson) => r.division.code)).toEqual(['440705']);
    expect((await json(await get('/v1/reports?division=440705', off703.token))).items).toEqual([]);
  });

  it('hostile query parameters are 400, never 5xx', async () => {
    for (const q of [
      'limit=0',
      'limit=501',
      'limit=abc',
      'cursor=not-a-cursor',
      `cursor=${Buffer.from('01.1').toString('base64url')}`,
      // A well-formed cursor of another list (the trades' has the same inner form): refused.
      `cursor=${Buffer.from('1792066723417000.17').toString('base64url')}`,
      'status=lost',
      'division=abc',
      'period=2026-10-01',
      'kind=all',
    ]) {
      const res = await get(`/v1/reports?${q}`, sup700.token);
      expect(res.status, q).toBe(400);
    }
  });
});

describe('OpenAPI', () => {
  it('documents the four operations', async () => {
    const doc = await json(await ctx.app.request('/openapi.json'));
    expect(doc.paths['/v1/reports'].post.operationId).toBe('createReport');
    expect(doc.paths['/v1/reports'].get.operationId).toBe('listReports');
    expect(doc.paths['/v1/reports/{id}'].get.operationId).toBe('getReport');
    const dl = doc.paths['/v1/reports/{id}/download'].get;
    expect(dl.operationId).toBe('downloadReport');
    expect(Object.keys(dl.responses['200'].content)).toContain('application/pdf');
  });
});
