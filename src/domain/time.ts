/** Asia/Shanghai is UTC+8 all year (no DST since 1991). */
export const SHANGHAI_OFFSET_MS = 8 * 3600_000;

/** An instant as RFC 3339 in Asia/Shanghai (UTC+8 all year): `2026-10-02T08:15:00+08:00` (ms only when not 0). */
export function shanghaiTime(d: Date): string {
  const iso = new Date(d.getTime() + SHANGHAI_OFFSET_MS).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const ms = iso.slice(19, 23);
  return `${iso.slice(0, 19)}${ms === '.000' ? '' : ms}+08:00`;
}

/**
 * The instants a record may carry: those of the Asia/Shanghai months 1900-01 … 2999-12, the
 * periods the API answers (src/domain/reference-sheet.ts, PERIOD_PATTERN). RFC 3339 allows years
 * 0000–9999, but PostgreSQL has no year 0, and a record dated centuries away is a platform's bug,
 * not a trade: it is refused at the door rather than left to fail in processing.
 */
export const MIN_RECORD_TIME_MS = Date.UTC(1900, 0, 1) - SHANGHAI_OFFSET_MS;
/** Exclusive. */
export const MAX_RECORD_TIME_MS = Date.UTC(3000, 0, 1) - SHANGHAI_OFFSET_MS;

export function isRecordTime(ms: number): boolean {
  return ms >= MIN_RECORD_TIME_MS && ms < MAX_RECORD_TIME_MS;
}

/** A calendar date `YYYY-MM-DD` (already known to be real) within the years 1900–2999. */
export function isRecordDate(date: string): boolean {
  return date >= '1900-01-01' && date <= '2999-12-31';
}

/** The Asia/Shanghai calendar date ('YYYY-MM-DD') of an instant. */
export function shanghaiDate(atMs: number): string {
  return new Date(atMs + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);
}
