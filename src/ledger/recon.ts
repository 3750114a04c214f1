/**
 * The books per settlement business day (docs/ledger.md, "Reconciliation"): what each acquirer, terminal,
 * merchant and currency authorized, captured, released, refunded and reversed on a day, with the fees, and the
 * net the acquirer owes the merchant for it. Each event counts on the business day it happened, under that
 * acquirer's cut-over (acquirers.yaml `settlement`, src/ledger/business-day.ts):
 *
 *   authorized         a payment's hold (its creation)
 *   captured           a payment committed (a 0200 is authorized and captured at once), or a part of its hold
 *                      captured on its own (a partial capture, kind 'capture')
 *   released           a hold rolled back (reversed before capture, or expired): no money moved
 *   refunded           a refund plan (committed at its approval), its fee signed
 *   reversed           a compensation of a captured payment (`<id>:reversal`): the capture moved back
 *   refund_reversed    a compensation of a refund: the refund moved back
 *
 *   net_amount = captured − refunded − reversed + refund_reversed; net_fees likewise with the fees.
 */
import type pg from 'pg';
import type { CutoverSpec } from './business-day.js';

export interface ReconRow {
  /** Settlement business day (YYYY-MM-DD) under the acquirer's cut-over. */
  day: string;
  acquirer: string;
  terminal: string;
  merchant: string;
  currency: number;
  authorizedCount: number;
  authorizedAmount: bigint;
  capturedCount: number;
  capturedAmount: bigint;
  capturedFees: bigint;
  releasedCount: number;
  releasedAmount: bigint;
  refundedCount: number;
  refundedAmount: bigint;
  refundFees: bigint;
  reversedCount: number;
  reversedAmount: bigint;
  reversedFees: bigint;
  refundReversedCount: number;
  refundReversedAmount: bigint;
  refundReversedFees: bigint;
  netAmount: bigint;
  netFees: bigint;
}

export interface ReconOptions {
  /** First and last business day (YYYY-MM-DD, inclusive); absent: unbounded. */
  from?: string;
  to?: string;
  /** Cut-over per acquirer; an acquirer not named has the calendar day in UTC. */
  cutovers?: Readonly<Record<string, CutoverSpec>>;
}

const DAY = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

/** Minutes to add to a local time so that its date is its business day (a cut-over at HH:MM > 0 starts the next day). */
export function cutoverShift(spec: CutoverSpec): number {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(spec.cutover ?? '00:00');
  const cut = m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  return cut > 0 ? 1440 - cut : 0;
}

/**
 * Every event of a money plan as (plan id, kind of event, time, amount, fee, owners): the one query both the
 * totals and the settlement matching read. Events are found by the plan's creation or close time, two days
 * around the range so that no zone or cut-over moves one out of sight; the business day is then exact.
 */
export function eventsSql(): string {
  return `
    with spec(acquirer, tz, shift) as (select * from unnest($1::text[], $2::text[], $3::int[])),
    ev as (
      select p.id, 'authorized' as ev, p.created_at as at, p.amount, p.fee, p.acquirer, p.terminal, p.merchant, p.currency
        from ledger_plan p where p.kind = 'payment'
      union all
      select p.id, 'captured', p.closed_at, coalesce(p.final_amount, p.amount), coalesce(p.final_fee, p.fee), p.acquirer, p.terminal, p.merchant, p.currency
        from ledger_plan p where p.kind in ('payment', 'capture') and p.state = 'COMMIT'
      union all
      select p.id, 'released', p.closed_at, p.amount, p.fee, p.acquirer, p.terminal, p.merchant, p.currency
        from ledger_plan p where p.kind = 'payment' and p.state = 'ROLLBACK'
      union all
      select p.id, 'refunded', p.closed_at, coalesce(p.final_amount, p.amount), coalesce(p.final_fee, p.fee), p.acquirer, p.terminal, p.merchant, p.currency
        from ledger_plan p where p.kind = 'refund' and p.state = 'COMMIT'
      union all
      select c.id, case when exists (select 1 from ledger_plan o where o.id = left(c.id, -9) and o.kind = 'refund') then 'refund_reversed' else 'reversed' end,
             c.created_at, c.amount, c.fee, c.acquirer, c.terminal, c.merchant, c.currency
        from ledger_plan c where c.kind = 'compensation'
    ),
    dated as (
      select e.*, to_char(((e.at at time zone coalesce(s.tz, 'UTC')) + make_interval(mins => coalesce(s.shift, 0)))::date, 'YYYY-MM-DD') as day
        from ev e left join spec s on s.acquirer = e.acquirer
       where e.at is not null and ($4::date is null or e.at >= $4::date - 2) and ($5::date is null or e.at < $5::date + 3)
    )
    select * from dated where ($4::date is null or day >= $4::text) and ($5::date is null or day <= $5::text)`;
}

export function eventsParams(o: ReconOptions): unknown[] {
  for (const k of ['from', 'to'] as const) {
    const v = o[k];
    if (v !== undefined && (!DAY.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)))) throw new RangeError(`${k}: not a day (YYYY-MM-DD)`);
  }
  const entries = Object.entries(o.cutovers ?? {});
  return [entries.map(([a]) => a), entries.map(([, s]) => s.timezone ?? 'UTC'), entries.map(([, s]) => cutoverShift(s)), o.from ?? null, o.to ?? null];
}

/** Totals per business day, acquirer, terminal, merchant and currency (see the header). */
export async function reconcile(pool: pg.Pool, o: ReconOptions = {}): Promise<ReconRow[]> {
  const { rows } = await pool.query(
    `select day, acquirer, terminal, merchant, currency,
            count(*) filter (where ev = 'authorized')::int as a_n, coalesce(sum(amount) filter (where ev = 'authorized'), 0)::text as a_amt,
            count(*) filter (where ev = 'captured')::int as c_n, coalesce(sum(amount) filter (where ev = 'captured'), 0)::text as c_amt,
            coalesce(sum(fee) filter (where ev = 'captured'), 0)::text as c_fee,
            count(*) filter (where ev = 'released')::int as l_n, coalesce(sum(amount) filter (where ev = 'released'), 0)::text as l_amt,
            count(*) filter (where ev = 'refunded')::int as r_n, coalesce(sum(amount) filter (where ev = 'refunded'), 0)::text as r_amt,
            coalesce(sum(fee) filter (where ev = 'refunded'), 0)::text as r_fee,
            count(*) filter (where ev = 'reversed')::int as v_n, coalesce(sum(amount) filter (where ev = 'reversed'), 0)::text as v_amt,
            coalesce(sum(fee) filter (where ev = 'reversed'), 0)::text as v_fee,
            count(*) filter (where ev = 'refund_reversed')::int as rv_n, coalesce(sum(amount) filter (where ev = 'refund_reversed'), 0)::text as rv_amt,
            coalesce(sum(fee) filter (where ev = 'refund_reversed'), 0)::text as rv_fee
       from (${eventsSql()}) x
      group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`,
    eventsParams(o),
  );
  return rows.map((r) => {
    const b = (k: string) => BigInt(r[k] as string);
    const row: ReconRow = {
      day: r.day,
      acquirer: r.acquirer,
      terminal: r.terminal,
      merchant: r.merchant,
      currency: Number(r.currency),
      authorizedCount: r.a_n,
      authorizedAmount: b('a_amt'),
      capturedCount: r.c_n,
      capturedAmount: b('c_amt'),
      capturedFees: b('c_fee'),
      releasedCount: r.l_n,
      releasedAmount: b('l_amt'),
      refundedCount: r.r_n,
      refundedAmount: b('r_amt'),
      refundFees: b('r_fee'),
      reversedCount: r.v_n,
      reversedAmount: b('v_amt'),
      reversedFees: b('v_fee'),
      refundReversedCount: r.rv_n,
      refundReversedAmount: b('rv_amt'),
      refundReversedFees: b('rv_fee'),
      netAmount: 0n,
      netFees: 0n,
    };
    row.netAmount = row.capturedAmount - row.refundedAmount - row.reversedAmount + row.refundReversedAmount;
    row.netFees = row.capturedFees + row.refundFees - row.reversedFees - row.refundReversedFees;
    return row;
  });
}

const CSV_COLUMNS: Array<[string, keyof ReconRow]> = [
  ['day', 'day'],
  ['acquirer', 'acquirer'],
  ['terminal', 'terminal'],
  ['merchant', 'merchant'],
  ['currency', 'currency'],
  ['authorized_count', 'authorizedCount'],
  ['authorized_amount', 'authorizedAmount'],
  ['captured_count', 'capturedCount'],
  ['captured_amount', 'capturedAmount'],
  ['captured_fees', 'capturedFees'],
  ['released_count', 'releasedCount'],
  ['released_amount', 'releasedAmount'],
  ['refunded_count', 'refundedCount'],
  ['refunded_amount', 'refundedAmount'],
  ['refund_fees', 'refundFees'],
  ['reversed_count', 'reversedCount'],
  ['reversed_amount', 'reversedAmount'],
  ['reversed_fees', 'reversedFees'],
  ['refund_reversed_count', 'refundReversedCount'],
  ['refund_reversed_amount', 'refundReversedAmount'],
  ['refund_reversed_fees', 'refundReversedFees'],
  ['net_amount', 'netAmount'],
  ['net_fees', 'netFees'],
];

function csvCell(v: unknown): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV (RFC 4180, header line, amounts in minor units). */
export function reconToCsv(rows: readonly ReconRow[]): string {
  const lines = [CSV_COLUMNS.map(([h]) => h).join(',')];
  for (const r of rows) lines.push(CSV_COLUMNS.map(([, k]) => csvCell(r[k])).join(','));
  return lines.join('\n') + '\n';
}

/** Cut-overs of the acquirers that name one (acquirers.yaml `settlement`). */
export function cutoversOf(acquirers: readonly { id: string; settlement?: CutoverSpec }[]): Record<string, CutoverSpec> {
  const out: Record<string, CutoverSpec> = {};
  for (const a of acquirers) if (a.settlement) out[a.id] = a.settlement;
  return out;
}
