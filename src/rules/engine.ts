import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import { refreshStaleStatistics } from '../db/maintenance';
import { type Finding, periodWindow, RULE_CODES, type RuleCode } from '../domain/rules/types';
import { shanghaiDate } from '../domain/time';
import { canonicalJson } from '../ingest/canonical';
import {
  closeFindings,
  type FindingRow,
  findingsOfPeriod,
  insertFindings,
  partyDivisions,
  recordAnomalyEvents,
  settingsInForce,
  tradeIds,
  updateFinding,
} from '../repositories/anomalies.repository';
import { loadPeriodFacts, personFindingTrades } from '../repositories/rule-facts.repository';
import type { Keyring } from '../security/keys';
import { RULES } from './registry';

export interface EvaluationResult {
  period: string;
  detected: number;
  updated: number;
  reopened: number;
  closed: number;
  unchanged: number;
  byRule: Record<string, number>;
  changes: {
    id: string;
    rule: string;
    party: string;
    change: 'detected' | 'updated' | 'reopened' | 'closed';
  }[];
}

/**
 * Evaluates the rules for one period (an Asia/Shanghai month) and reconciles the findings with
 * the stored ones, in one transaction under a per-period lock:
 * - a new finding is stored open; an existing one is updated in place only when what it says
 *   changed (its fingerprint), so re-running on the same facts writes nothing;
 * - a stored finding the facts no longer support is closed with the reason, never deleted;
 * - a closed finding that fires again, or a dismissed one that fires on different facts, reopens.
 * The result depends only on the data and the data clock, so a replay gives the same findings.
 */
export async function evaluatePeriod(
  db: Db,
  keyring: Keyring,
  period: string,
  opts: { rules?: readonly RuleCode[]; actor?: string } = {},
): Promise<EvaluationResult> {
  const actor = opts.actor ?? 'rule-engine';
  const wanted = opts.rules ?? RULE_CODES;
  await refreshStaleStatistics(db);
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`rules:${period}`}, 0))`.execute(trx);
    const monthStart = shanghaiDate(periodWindow(period).startMs);
    const settings = await settingsInForce(trx, monthStart);
    const facts = await loadPeriodFacts(trx, keyring, period);

    const produced: { finding: Finding; version: number; params: unknown }[] = [];
    const evaluated: RuleCode[] = [];
    for (const rule of wanted) {
      const entry = RULES[rule];
      const setting = settings.get(rule);
      evaluated.push(rule);
      if (setting && !setting.enabled) continue;
      const params = entry.schema.parse(setting?.params ?? entry.defaults);
      for (const finding of entry.evaluate(facts, params as never)) {
        produced.push({ finding, version: setting?.version ?? 0, params });
      }
    }

    // The trades person findings cite are read for those persons only (see Finding.tradesFrom).
    for (const p of produced) {
      const from = p.finding.tradesFrom;
      if (from) p.finding.trades = [...p.finding.trades, ...(await personFindingTrades(trx, from))];
    }
    const ids = await tradeIds(
      trx,
      produced.flatMap((p) => p.finding.trades),
    );
    const divisions = await partyDivisions(
      trx,
      produced.map((p) => p.finding.partyKey),
    );
    const rows = new Map<string, FindingRow>();
    for (const { finding: f, version, params } of produced) {
      // Each supporting trade once, in the rule's order.
      const seen = new Set<string>();
      const trades = f.trades
        .filter((t) => {
          const k = `${t.platform}:${t.trade_id}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        })
        .map((t) => ({
          id: ids.get(`${t.platform}:${t.trade_id}`)?.toString() ?? null,
          platform: t.platform,
          trade_id: t.trade_id,
        }));
      const evidence = { ...f.evidence, thresholds: params };
      const content = {
        severity: f.severity,
        trades,
        documents: f.documents,
        summary_zh: f.summaryZh,
        summary_en: f.summaryEn,
        evidence,
        rule_version: version,
      };
      // The period is part of the identity: the same subject may be reported again another month.
      const dedupe = `${f.period}|${f.dedupeKey}`;
      rows.set(`${f.partyKey}\u001f${f.rule}\u001f${dedupe}`, {
        rule: f.rule,
        dedupe_key: dedupe,
        rule_version: version,
        severity: f.severity,
        party_key: f.partyKey,
        division: divisions.get(f.partyKey) ?? '000000',
        period: f.period,
        trades: JSON.stringify(trades),
        documents: JSON.stringify(f.documents),
        summary_zh: f.summaryZh,
        summary_en: f.summaryEn,
        evidence: JSON.stringify(evidence),
        fingerprint: createHash('sha256').update(canonicalJson(content)).digest('hex'),
      });
    }

    const existing = await findingsOfPeriod(trx, period, evaluated);
    const stored = new Map(existing.map((e) => [`${e.party_key}\u001f${e.rule}\u001f${e.dedupe_key}`, e]));
    const result: EvaluationResult = {
      period,
      detected: 0,
      updated: 0,
      reopened: 0,
      closed: 0,
      unchanged: 0,
      byRule: {},
      changes: [],
    };
    const events: { anomalyId: bigint; kind: string; actor: string; note?: string; details?: unknown }[] = [];
    const inserts: FindingRow[] = [];
    for (const [key, row] of [...rows].sort(([a], [b]) => (a < b ? -1 : 1))) {
      result.byRule[row.rule] = (result.byRule[row.rule] ?? 0) + 1;
      const prior = stored.get(key);
      if (!prior) {
        inserts.push(row);
        continue;
      }
      const changed = prior.fingerprint !== row.fingerprint;
      // A closed finding that fires again reopens — unless it was reviewed and fires on exactly the
      // facts the reviewer saw: then the decision stands. A dismissed finding reopens on new facts.
      let status: string | null = null;
      let note = '';
      if (prior.status === 'closed') {
        status = !changed && prior.last_decision ? prior.last_decision : 'open';
        note =
          status === 'open'
            ? 'fired again'
            : `fired again on the same facts; the review decision (${status}) stands`;
      } else if (prior.status === 'dismissed' && changed) {
        status = 'open';
        note = 'fired again on new facts after dismissal';
      }
      if (!changed && status === null) {
        result.unchanged++;
        continue;
      }
      await updateFinding(trx, prior.id, row, status);
      if (status !== null) {
        result.reopened++;
        events.push({ anomalyId: prior.id, kind: 'reopened', actor, note });
        result.changes.push({
          id: prior.id.toString(),
          rule: row.rule,
          party: row.party_key,
          change: 'reopened',
        });
      } else {
        result.updated++;
        events.push({ anomalyId: prior.id, kind: 'updated', actor });
        result.changes.push({
          id: prior.id.toString(),
          rule: row.rule,
          party: row.party_key,
          change: 'updated',
        });
      }
    }
    const inserted = await insertFindings(trx, inserts);
    inserted.forEach((r, i) => {
      events.push({ anomalyId: r.id, kind: 'detected', actor });
      result.changes.push({
        id: r.id.toString(),
        rule: inserts[i]!.rule,
        party: inserts[i]!.party_key,
        change: 'detected',
      });
    });
    result.detected = inserted.length;

    const gone = existing.filter(
      (e) => !rows.has(`${e.party_key}\u001f${e.rule}\u001f${e.dedupe_key}`) && e.status !== 'closed',
    );
    const reason = `no longer supported by the facts when ${period} was evaluated again`;
    await closeFindings(
      trx,
      gone.map((g) => g.id),
      reason,
    );
    for (const g of gone) {
      events.push({ anomalyId: g.id, kind: 'closed', actor, note: reason });
      result.changes.push({ id: g.id.toString(), rule: g.rule, party: g.party_key, change: 'closed' });
    }
    result.closed = gone.length;
    await recordAnomalyEvents(trx, events);
    return result;
  });
}
