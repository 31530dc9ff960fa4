/** An instant as RFC 3339 in Asia/Shanghai (UTC+8 all year): `2026-10-02T08:15:00+08:00` (ms only when not 0). */
export function shanghaiTime(d: Date): string {
  const iso = new Date(d.getTime() + 8 * 3600_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const ms = iso.slice(19, 23);
  return `${iso.slice(0, 19)}${ms === '.000' ? '' : ms}+08:00`;
}
