import type { Db } from '../db/database';
import { GroupCommitter } from '../ingest/group-commit';
import {
  type AuditEntryInput,
  type AuditListFilter,
  appendAuditEntries,
  type ChainVerification,
  listAuditEntries,
  verifyAuditChain,
} from '../repositories/audit.repository';
import type { Keyring } from '../security/keys';

/**
 * The audit service: every request by an authenticated officer becomes one entry in the
 * hash-chained, append-only `audit_log` (CONTRACT.md section 3, DOMAIN.md section 8).
 *
 * The HTTP layer (`auditMiddleware` in src/http/auth.ts) calls `record()` after the route handler
 * has produced its response and before that response leaves the process; if the write fails the
 * client gets 503 instead of the data, so nothing is ever disclosed unaudited.
 *
 * What a response disclosed — which parties, which trades, whether personal data was unmasked —
 * only the route handler knows; it declares it with `addAuditSubjects(c, …)` (src/http/auth.ts).
 */

/** What one response disclosed. Party keys are USCCs or person keys, never raw id numbers. */
export interface AuditSubjects {
  parties: string[];
  trades: string[];
  piiUnmasked: boolean;
}

export function emptySubjects(): AuditSubjects {
  return { parties: [], trades: [], piiUnmasked: false };
}

/**
 * Adds `more` to `into` (deduplicated, first-seen order kept); PII once unmasked stays flagged.
 * A Set given to an empty list is taken as it is: it is deduplicated already (a reference sheet
 * hands over its 10,000 parties that way, once per request).
 */
export function mergeSubjects(
  into: AuditSubjects,
  more: { parties?: Iterable<string>; trades?: Iterable<string | bigint>; piiUnmasked?: boolean },
): AuditSubjects {
  return {
    parties: mergeList(into.parties, more.parties),
    trades: mergeList(into.trades, more.trades),
    piiUnmasked: into.piiUnmasked || more.piiUnmasked === true,
  };
}

function mergeList(into: string[], more: Iterable<string | bigint> | undefined): string[] {
  if (more === undefined) return into;
  if (into.length === 0 && more instanceof Set) {
    const list = [...more];
    if (list.every((x) => typeof x === 'string')) return list;
  }
  const all = new Set(into);
  for (const x of more) all.add(String(x));
  return all.size === into.length ? into : [...all];
}

export interface AuditorDeps {
  db: Db;
  keyring: Keyring;
  /**
   * Appends that arrive within `maxDelayMs` of each other share one transaction (one advisory
   * lock, one INSERT). The default waits at most 1 ms: cheap at low load, few lock hand-overs at
   * high load.
   */
  batch?: { maxDelayMs: number; maxItems: number };
}

export class Auditor {
  private readonly committer: GroupCommitter<AuditEntryInput, { id: bigint; hash: Buffer }>;

  constructor(private readonly deps: AuditorDeps) {
    this.committer = new GroupCommitter(
      (items) => appendAuditEntries(deps.db, this.chainKey(), items),
      deps.batch ?? { maxDelayMs: 1, maxItems: 200, maxInFlight: 1 },
    );
  }

  private chainKey(): Buffer {
    return this.deps.keyring.key('audit-chain');
  }

  /** Appends one entry; resolves once it is committed. Rejects when the database refuses. */
  record(entry: AuditEntryInput): Promise<{ id: bigint; hash: Buffer }> {
    return this.committer.submit(entry);
  }

  list(filter: AuditListFilter) {
    return listAuditEntries(this.deps.db, filter);
  }

  verify(): Promise<ChainVerification> {
    return verifyAuditChain(this.deps.db, this.chainKey());
  }

  /** Writes what is waiting (at shutdown). */
  async drain(): Promise<void> {
    await this.committer.drain();
  }
}
