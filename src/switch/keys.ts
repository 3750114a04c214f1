/**
 * The keys the switch files transactions under, each built in this one place (docs/switch.md, "Duplicates and
 * repeats"), and the transaction day that partitions every row of a transaction (docs/retention.md).
 */

/** The MTI class duplicates and repeats share: 0101 → 0100, 0421 → 0420, 0221 → 0220. */
export function mtiClass(mti: string): string {
  return mti.slice(0, 3) + (mti[3] === '1' ? '0' : mti[3]!);
}

/**
 * Duplicate key of a PSP request (docs/switch.md, "Duplicates and repeats"): MTI class, DE11, DE41, DE42, led by
 * the local date and time the request carries (DE13 + DE12), or where it carries none by the number of the
 * duplicate window it arrived in. Not DE7: a repeat (0101, 0221, 0401) is sent with a fresh one. The lead keeps
 * keys roughly time-ordered, so the unique index only ever inserts near its right edge.
 */
export function dupKey(cls: string, stan: string, terminal: string, merchant: string, local: string | null, bucket: number): string {
  return `${local ?? `w${bucket}`}|${cls}|${stan}|${terminal}|${merchant}`;
}

/** DE13 (MMDD) + DE12 (hhmmss) when a request has both, well formed; else null. */
export function localDateTime(de12: string | undefined, de13: string | undefined): string | null {
  return de12 && de13 && /^[0-9]{6}$/.test(de12) && /^[0-9]{4}$/.test(de13) ? `${de13}${de12}` : null;
}

/**
 * The keys a request is checked under: its own, and for a key led by a window number the previous window's
 * (a duplicate just across the boundary, looked for within `windowMs` exactly).
 */
export function requestKeys(
  cls: string,
  stan: string,
  terminal: string,
  merchant: string,
  local: string | null,
  now: number,
  windowMs: number,
): { key: string; prevKey: string | null } {
  const bucket = Math.floor(now / windowMs);
  return { key: dupKey(cls, stan, terminal, merchant, local, bucket), prevKey: local ? null : dupKey(cls, stan, terminal, merchant, null, bucket - 1) };
}

/** Key of an original a reversal names (DE11, DE41, DE42), as recorded for orphan reversals. */
export function orphanKey(stan: string, terminal: string, merchant: string): string {
  return `${stan}|${terminal}|${merchant}`;
}

/** In-process serialization key of an authorization and everything that refers to it. */
export function pspKey(psp: string, stan: string, terminal: string, merchant: string): string {
  return `${psp}|${orphanKey(stan, terminal, merchant)}`;
}

let dayStart = 0;
let dayEnd = -1;
let dayText = '';

/** UTC day (YYYY-MM-DD) of a time. Today's is remembered: every request asks for it. */
export function dayOf(ms: number): string {
  if (ms >= dayStart && ms < dayEnd) return dayText;
  const d = new Date(ms).toISOString().slice(0, 10);
  if (Math.abs(ms - Date.now()) < 60_000) {
    dayStart = Date.parse(`${d}T00:00:00Z`);
    dayEnd = dayStart + 86_400_000;
    dayText = d;
  }
  return d;
}

/** `day` shifted by `n` days. */
export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** The days a duplicate of a request filed on `day` may be filed under (clocks differ around midnight). */
export function nearDays(day: string): string[] {
  return [addDays(day, -1), day, addDays(day, 1)];
}

/**
 * The days an original named by its DE7 (MMDDhhmmss, GMT) was most likely filed under: the latest date with
 * that month and day not after tomorrow, and its neighbours (clocks differ around midnight).
 */
export function daysOfDe7(de7: string, now: number = Date.now()): string[] {
  const today = dayOf(now);
  const m = /^(\d{2})(\d{2})/.exec(de7);
  if (!m) return [addDays(today, -1), today];
  const year = Number(today.slice(0, 4));
  let day = `${year}-${m[1]}-${m[2]}`;
  if (Number.isNaN(Date.parse(`${day}T00:00:00Z`)) || dayOf(Date.parse(`${day}T00:00:00Z`)) !== day) return [addDays(today, -1), today];
  if (day > addDays(today, 1)) day = `${year - 1}-${m[1]}-${m[2]}`;
  return [addDays(day, -1), day, addDays(day, 1)];
}
