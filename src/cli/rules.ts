import { addMonths, RULE_CODES, type RuleCode } from '../domain/rules/types';
import { addRuleSetting } from '../repositories/anomalies.repository';
import { evaluatePeriod } from '../rules/engine';
import { RULES } from '../rules/registry';
import type { Runtime } from '../runtime';
import { CliError, printJson, say, UsageError } from './output';

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
    const validFrom = settingStart(flags.from);
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

const SET_USAGE = 'rules set RULE --from YYYY-MM --params JSON [--disable] [--note TEXT]';

/**
 * The first day of the month a setting applies from: `YYYY-MM`, or that month's first day.
 * Rules are evaluated month by month (an Asia/Shanghai month is one evaluation, and several rules
 * sum over whole months), so a setting cannot start in the middle of one: a date past the 1st is
 * refused rather than silently moved.
 */
function settingStart(from: string | undefined): string {
  const m = from === undefined ? null : /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(from);
  if (!m || !PERIOD.test(`${m[1]}-${m[2]}`)) throw new UsageError(SET_USAGE);
  if (m[3] !== undefined && m[3] !== '01') {
    throw new UsageError(
      `--from ${from}: rules are evaluated by month, so a setting applies from a month's first day (--from ${m[1]}-${m[2]}, or ${addMonths(`${m[1]}-${m[2]}`, 1)} for the next month)`,
    );
  }
  return `${m[1]}-${m[2]}-01`;
}
