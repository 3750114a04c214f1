/**
 * An acquirer's settlement business day (docs/ledger.md, "Settlement day"): the day ends at the cut-over,
 * a local time in the acquirer's time zone (acquirers.yaml `settlement.cutover`, `settlement.timezone`). A
 * capture at or after the cut-over belongs to the next business day. Default: 00:00 UTC, the calendar day.
 */
import { SwitchError } from '../errors.js';

export interface CutoverSpec {
  /** HH:MM, local time in `timezone` (default 00:00). */
  cutover?: string;
  /** IANA time zone (default UTC). */
  timezone?: string;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function format(timezone: string): Intl.DateTimeFormat {
  let f = formats.get(timezone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone: timezone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'settlement.timezone', reason: `unknown time zone ${timezone}` });
    }
    formats.set(timezone, f);
  }
  return f;
}

/** The local calendar date (YYYY-MM-DD) and minutes since local midnight of `at` in `timezone`. */
function local(at: Date, timezone: string): { date: string; minutes: number } {
  const parts: Record<string, string> = {};
  for (const p of format(timezone).formatToParts(at)) parts[p.type] = p.value;
  return { date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

function cutoverMinutes(spec: CutoverSpec): number {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(spec.cutover ?? '00:00');
  if (!m) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'settlement.cutover', reason: `not HH:MM: ${spec.cutover}` });
  return Number(m[1]) * 60 + Number(m[2]);
}

/** The business day (YYYY-MM-DD) that `at` belongs to under `spec`. */
export function businessDay(at: Date, spec: CutoverSpec = {}): string {
  const cut = cutoverMinutes(spec);
  const { date, minutes } = local(at, spec.timezone ?? 'UTC');
  return cut > 0 && minutes >= cut ? addDays(date, 1) : date;
}

/** `day` (YYYY-MM-DD) moved by `n` calendar days. */
export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * The instant business day `day` ends (its cut-over), as a Date. Found by search over the UTC offsets a zone
 * can have, so it is right on days a zone changes its clocks.
 */
export function businessDayEnd(day: string, spec: CutoverSpec = {}): Date {
  const cut = cutoverMinutes(spec);
  const tz = spec.timezone ?? 'UTC';
  // the end of `day` is the local time `cut` on `day` (cut > 0), or local midnight starting day + 1 (cut = 0)
  const endDate = cut > 0 ? day : addDays(day, 1);
  const naive = Date.parse(`${endDate}T${String(Math.floor(cut / 60)).padStart(2, '0')}:${String(cut % 60).padStart(2, '0')}:00Z`);
  for (let off = -14 * 60; off <= 14 * 60; off += 15) {
    const at = new Date(naive - off * 60_000);
    const l = local(at, tz);
    if (l.date === endDate && l.minutes === cut) return at;
  }
  throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'settlement.cutover', reason: `${tz} has no ${spec.cutover ?? '00:00'} on ${endDate}` });
}
