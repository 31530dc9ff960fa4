import { z } from '@hono/zod-openapi';
import { RULE_CODES, SEVERITIES } from '../../../domain/rules/types';
import type { AnomalyRow } from '../../../repositories/anomalies-query.repository';
import { partyRef, partyRefSchema, shanghaiTime, timeString } from '../query-wire';

export const ANOMALY_STATUSES = ['open', 'confirmed', 'dismissed', 'closed'] as const;

export const anomalySchema = z
  .object({
    id: z.string().openapi({ example: '4211' }),
    rule: z
      .enum(RULE_CODES)
      .openapi({ description: 'Rule code (DOMAIN.md section 7)', example: 'PASS_THROUGH' }),
    rule_version: z
      .number()
      .int()
      .openapi({ description: 'Version of the rule settings the finding was computed with' }),
    severity: z.enum(SEVERITIES),
    party: partyRefSchema.openapi({
      description: 'The subject of the finding; the finding belongs to this party’s district',
    }),
    trades: z
      .array(z.object({ id: z.string().nullable(), platform: z.string(), trade_id: z.string() }))
      .openapi({ description: 'Every trade that supports the finding' }),
    documents: z
      .array(z.object({ kind: z.enum(['payment', 'weighing', 'invoice']), number: z.string() }))
      .openapi({ description: 'Documents that are the subject (reused ticket numbers, payments, invoices)' }),
    period: z
      .string()
      .openapi({ description: 'Asia/Shanghai month the finding belongs to', example: '2026-10' }),
    summary: z.object({ zh: z.string(), en: z.string() }),
    evidence: z.record(z.string(), z.unknown()).openapi({
      description: 'The numbers that triggered the finding, and `thresholds`: the parameters in force',
    }),
    status: z.enum(ANOMALY_STATUSES).openapi({
      description:
        '`open` → `confirmed` | `dismissed` by review; `closed` when the facts no longer support it (never deleted)',
    }),
    closed_reason: z.string().nullable(),
    review: z
      .object({ reviewer: z.string(), note: z.string(), at: timeString('When the decision was recorded') })
      .nullable()
      .openapi({
        description:
          'The review decision standing on the finding; null while it is open (a reopened finding waits for a new review; its past decisions are in `history`)',
      }),
    first_detected_at: timeString('First detection'),
    last_detected_at: timeString('Latest change of what the finding says'),
  })
  .openapi('Anomaly');

export type AnomalyWire = z.infer<typeof anomalySchema>;

export function anomalyWire(a: AnomalyRow): AnomalyWire {
  return {
    id: a.id.toString(),
    rule: a.rule as AnomalyWire['rule'],
    rule_version: a.rule_version,
    severity: a.severity as AnomalyWire['severity'],
    party: partyRef(a.party_key, a.party_kind, a.party_name, a.division),
    trades: a.trades.map((t) => ({ id: t.id, platform: t.platform, trade_id: t.trade_id })),
    documents: a.documents as AnomalyWire['documents'],
    period: a.period,
    summary: { zh: a.summary_zh, en: a.summary_en },
    evidence: a.evidence,
    status: a.status as AnomalyWire['status'],
    closed_reason: a.closed_reason,
    // The decision standing on the finding: none while it is open — also when a dismissed finding
    // reopened on new facts and waits for review again (its past decisions stay in the history).
    review:
      a.status !== 'open' && a.reviewed_by && a.reviewed_at
        ? { reviewer: a.reviewed_by, note: a.review_note ?? '', at: shanghaiTime(a.reviewed_at) }
        : null,
    first_detected_at: shanghaiTime(a.first_detected_at),
    last_detected_at: shanghaiTime(a.last_detected_at),
  };
}

/** Internal trade ids a finding discloses, for the audit entry. */
export function anomalyTradeIds(a: AnomalyRow): string[] {
  return a.trades.flatMap((t) => (t.id ? [t.id] : []));
}
