import { addMonths, RULE_CODES, type RuleCode } from '../domain/rules/types';
import { addRuleSetting } from '../repositories/anomalies.repository';
import { evaluatePeriod } from '../rules/engine';
import { RULES } from '../rules/registry';
import type { Runtime } from '../runtime';
import { CliError, monthStartFlag, printJson, say, UsageError } from './output';

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * `rules replay --from YYYY-MM --to YYYY-MM [--rule CODE]`: recomputes the findings of every
 * period in the window (a backtest after a threshold change) and reports what changed.
 * `rules list`: the settings versions. `rules set RULE --from YYYY-MM --params JSON [--disable]`
 * (a month: rules are evaluated month by month).
 */
export async function rulesCommand(
  rt: Runtime,
  args: string[],
  flags: { from?: string; to?: string; rule?: string; params?: string; disable?: boolean; note?: string },
): Promise<void> {
  const [sub, ruleArg] = args;
  if (sub === 'replay') {
    if (
      !flags.from ||
      !PERIOD.test(flags.from) ||
      !flags.to ||
      !PERIOD.test(flags.to) ||
      flags.from > flags.to
    ) {
      throw new UsageError('rules replay --from YYYY-MM --to YYYY-MM [--rule CODE] (from ≤ to)');
    }
    const rules = flags.rule ? [parseRule(flags.rule)] : undefined;
    const periods: string[] = [];
    for (let p = flags.from; p <= flags.to; p = addMonths(p, 1)) periods.push(p);
    if (periods.length > 120) throw new UsageError('replay at most 120 periods at a time');
    const results = [];
    for (const [i, p] of periods.entries()) {
      say(`[${i + 1}/${periods.length}] evaluating ${p}`);
      results.push(await evaluatePeriod(rt.db, rt.keyring, p, { rules, actor: 'replay' }));
    }
    const total = { detected: 0, updated: 0, reopened: 0, closed: 0, unchanged: 0 };
    for (const r of results) {
      total.detected += r.detected;
      total.updated += r.updated;
      total.reopened += r.reopened;
      total.closed += r.closed;
      total.unchanged += r.unchanged;
    }
    printJson({
      from: flags.from,
      to: flags.to,
      rules: rules ?? 'all',
      ...total,
      periods: results.map((r) => ({
        period: r.period,
        detected: r.detected,
        updated: r.updated,
        reopened: r.reopened,
        closed: r.closed,
        unchanged: r.unchanged,
        findings_by_rule: r.byRule,
        changes: r.changes,
      })),
    });
    return;
  }
  if (sub === 'list') {
    const rows = await rt.db
      .selectFrom('rule_settings')
      .selectAll()
      .orderBy('rule')
      .orderBy('version')
      .execute();
    printJson({ settings: rows });
    return;
  }
  if (sub === 'set') {
    const rule = parseRule(ruleArg ?? '');
    const validFrom = monthStartFlag(flags.from, 'rules are evaluated by month');
    let params: unknown = RULES[rule].defaults;
    if (flags.params !== undefined) {
      try {
        params = { ...(RULES[rule].defaults as object), ...JSON.parse(flags.params) };
      } catch (err) {
        throw new UsageError(`--params is not JSON: ${(err as Error).message}`);
      }
    }
    const parsed = RULES[rule].schema.safeParse(params);
    if (!parsed.success) {
      throw new UsageError(
        `--params do not fit ${rule}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const same = await rt.db
      .selectFrom('rule_settings')
      .select('version')
      .where('rule', '=', rule)
      .where('valid_from', '=', validFrom)
      .executeTakeFirst();
    if (same) {
      // Findings record the version they were found under: a version is never rewritten.
      throw new CliError(
        `${rule} already has version ${same.version} from ${validFrom}; a version is never changed (findings name it): set one from another month (\`rules list\` shows them)`,
      );
    }
    const version = await addRuleSetting(rt.db, {
      rule,
      validFrom,
      enabled: !flags.disable,
      params: parsed.data,
      note: flags.note ?? null,
    });
    say(
      `${rule} version ${version} in force from ${validFrom}; run \`rules replay\` to recompute past periods`,
    );
    printJson({ rule, version, valid_from: validFrom, enabled: !flags.disable, params: parsed.data });
    return;
  }
  throw new UsageError(
    'rules replay --from YYYY-MM --to YYYY-MM [--rule CODE] | rules list | rules set RULE --from YYYY-MM --params JSON',
  );
}

function parseRule(s: string): RuleCode {
  if (!(RULE_CODES as readonly string[]).includes(s))
    throw new UsageError(`unknown rule "${s}"; rules: ${RULE_CODES.join(', ')}`);
  return s as RuleCode;
}
