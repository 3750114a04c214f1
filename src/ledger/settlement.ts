/**
 * Settlement reconciliation (docs/ledger.md, "Settlement files"): the switch's books for one acquirer and one
 * business day, item by item, against the file the acquirer settled. Both sides are lists of (RRN, type,
 * amount, currency, fee); a sale reversed on its own business day settles as nothing, on both sides. Items pair
 * by RRN and type, exact amounts first; what is left pairs in order as an amount or currency mismatch, and what
 * is left after that is missing on one side. A row the acquirer settled on this day that the books have on an
 * earlier day is a late capture. Fees are compared where the file gives one (its fee is the size, the type the
 * direction).
 */
import type pg from 'pg';
import type { CutoverSpec } from './business-day.js';
import { addDays } from './business-day.js';
import { eventsParams, eventsSql } from './recon.js';
import type { SettlementLine } from './settlement-file.js';
import type { SettlementRowType } from '../routing/types.js';

/** One item of the switch's books: a plan's event as the acquirer should settle it. */
export interface BookItem {
  planId: string;
  /** The transaction whose acquirer reference names it (the plan id, or a compensation's original). */
  txnId: string;
  rrn: string | null;
  type: SettlementRowType;
  amount: bigint;
  currency: number;
  /** Its size: a refund's fee given back is stored negative. */
  fee: bigint;
  day: string;
  terminal: string;
}

export type BreakKind = 'missing_ours' | 'missing_theirs' | 'amount_mismatch' | 'currency_mismatch' | 'fee_difference' | 'late' | 'other_day';
export const BREAK_KINDS: readonly BreakKind[] = [
  'missing_ours',
  'missing_theirs',
  'amount_mismatch',
  'currency_mismatch',
  'fee_difference',
  'late',
  'other_day',
];

export interface SettlementBreak {
  kind: BreakKind;
  rrn: string;
  type: SettlementRowType;
  ours?: { planId: string; amount: string; currency: number; fee: string; day: string };
  theirs?: { line: number; amount: string; currency: number; fee: string | null; day: string };
}

export interface SettlementResult {
  acquirer: string;
  day: string;
  file: string;
  ours: number;
  theirs: number;
  matched: number;
  breaks: SettlementBreak[];
  counts: Record<BreakKind, number>;
}

const EVENT_TYPE: Record<string, SettlementRowType> = {
  captured: 'sale',
  refunded: 'refund',
  reversed: 'reversal',
  refund_reversed: 'refund_reversal',
};

const abs = (v: bigint): bigint => (v < 0n ? -v : v);

/**
 * The books of `acquirer` from `from` to `to` (business days under its cut-over) as settlement items, RRNs
 * filled by `references` (transaction id → the RRN the switch sent; src/switch/store acquirerReferences).
 */
export async function bookItems(
  pool: pg.Pool,
  o: { acquirer: string; from: string; to: string; cutover?: CutoverSpec },
  references: (txnIds: string[]) => Promise<Map<string, string>>,
): Promise<BookItem[]> {
  const { rows } = await pool.query<{ id: string; ev: string; amount: string; fee: string; currency: number; day: string; terminal: string }>(
    `select id, ev, amount::text, fee::text, currency, day, terminal from (${eventsSql()}) x
      where acquirer = $6 and ev in ('captured', 'refunded', 'reversed', 'refund_reversed') order by day, id, ev`,
    [...eventsParams({ from: o.from, to: o.to, cutovers: o.cutover ? { [o.acquirer]: o.cutover } : {} }), o.acquirer],
  );
  const txnOf = (planId: string, ev: string) => (ev === 'reversed' || ev === 'refund_reversed' ? planId.replace(/:reversal$/, '') : planId);
  const refs = await references([...new Set(rows.map((r) => txnOf(r.id, r.ev)))]);
  return rows.map((r) => {
    const txnId = txnOf(r.id, r.ev);
    return {
      planId: r.id,
      txnId,
      rrn: refs.get(txnId) ?? null,
      type: EVENT_TYPE[r.ev]!,
      amount: BigInt(r.amount),
      currency: Number(r.currency),
      fee: abs(BigInt(r.fee)),
      day: r.day,
      terminal: r.terminal,
    };
  });
}

interface Item {
  rrn: string;
  type: SettlementRowType;
  amount: bigint;
  currency: number;
}

/** Drops each reversal with the sale it reverses (same RRN and amount) on the same side: it settles as nothing. */
function netted<T extends Item>(items: readonly T[]): T[] {
  const out = [...items];
  for (const [rev, sale] of [
    ['reversal', 'sale'],
    ['refund_reversal', 'refund'],
  ] as const) {
    for (let i = 0; i < out.length; i++) {
      const r = out[i]!;
      if (r.type !== rev) continue;
      const j = out.findIndex((s) => s.type === sale && s.rrn === r.rrn && s.amount === r.amount && s.currency === r.currency);
      if (j < 0) continue;
      out.splice(Math.max(i, j), 1);
      out.splice(Math.min(i, j), 1);
      i = Math.min(i, j) - 1;
    }
  }
  return out;
}

const keyOf = (x: { rrn: string | null; type: string }) => `${x.rrn ?? ''}|${x.type}`;

/**
 * Matches the books of `day` (`ours`; `earlier`: the books of the days before, for late captures) against the
 * acquirer's lines. Pure: the same inputs give the same result, breaks in a stable order.
 */
export function matchSettlement(
  o: { acquirer: string; day: string; file: string },
  ours: readonly BookItem[],
  theirs: readonly SettlementLine[],
  earlier: readonly BookItem[] = [],
): SettlementResult {
  const breaks: SettlementBreak[] = [];
  const oursOf = (b: BookItem) => ({ planId: b.planId, amount: b.amount.toString(), currency: b.currency, fee: b.fee.toString(), day: b.day });
  const theirsOf = (l: SettlementLine) => ({
    line: l.line,
    amount: l.amount.toString(),
    currency: l.currency,
    fee: l.fee === null ? null : l.fee.toString(),
    day: l.day,
  });
  const mine = netted(ours.map((b) => ({ ...b, rrn: b.rrn ?? `?${b.planId}` })));
  const inDay: SettlementLine[] = [];
  for (const l of theirs) {
    if (l.day === o.day) inDay.push(l);
    else breaks.push({ kind: 'other_day', rrn: l.rrn, type: l.type, theirs: theirsOf(l) });
  }
  const theirsNet = netted(inDay);
  const groups = new Map<string, { ours: BookItem[]; theirs: SettlementLine[] }>();
  const group = (k: string) => {
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ours: [], theirs: [] }));
    return g;
  };
  for (const b of mine) group(keyOf(b)).ours.push(b);
  for (const l of theirsNet) group(keyOf(l)).theirs.push(l);
  const late = new Map<string, BookItem[]>();
  for (const b of earlier) if (b.rrn) late.set(keyOf(b), [...(late.get(keyOf(b)) ?? []), b]);
  let matched = 0;
  for (const k of [...groups.keys()].sort()) {
    const g = groups.get(k)!;
    const restOurs: BookItem[] = [];
    const restTheirs = [...g.theirs];
    for (const b of g.ours) {
      const i = restTheirs.findIndex((l) => l.amount === b.amount && l.currency === b.currency);
      if (i < 0) {
        restOurs.push(b);
        continue;
      }
      const l = restTheirs.splice(i, 1)[0]!;
      matched++;
      if (l.fee !== null && l.fee !== b.fee) breaks.push({ kind: 'fee_difference', rrn: l.rrn, type: l.type, ours: oursOf(b), theirs: theirsOf(l) });
    }
    while (restOurs.length && restTheirs.length) {
      const b = restOurs.shift()!;
      const l = restTheirs.shift()!;
      breaks.push({
        kind: l.currency !== b.currency ? 'currency_mismatch' : 'amount_mismatch',
        rrn: l.rrn,
        type: l.type,
        ours: oursOf(b),
        theirs: theirsOf(l),
      });
    }
    for (const b of restOurs) breaks.push({ kind: 'missing_theirs', rrn: b.rrn ?? '', type: b.type, ours: oursOf(b) });
    for (const l of restTheirs) {
      const prior = late.get(keyOf(l));
      const i = prior ? prior.findIndex((b) => b.amount === l.amount && b.currency === l.currency) : -1;
      if (prior && i >= 0) breaks.push({ kind: 'late', rrn: l.rrn, type: l.type, ours: oursOf(prior.splice(i, 1)[0]!), theirs: theirsOf(l) });
      else breaks.push({ kind: 'missing_ours', rrn: l.rrn, type: l.type, theirs: theirsOf(l) });
    }
  }
  const counts = Object.fromEntries(BREAK_KINDS.map((k) => [k, 0])) as Record<BreakKind, number>;
  for (const b of breaks) counts[b.kind]++;
  return { acquirer: o.acquirer, day: o.day, file: o.file, ours: mine.length, theirs: theirsNet.length, matched, breaks, counts };
}

/** Reconciles one acquirer's day: its books (and the days before, for late captures) against the file's lines. */
export async function reconcileSettlement(
  pool: pg.Pool,
  o: { acquirer: string; day: string; file: string; cutover?: CutoverSpec; lateDays?: number },
  lines: readonly SettlementLine[],
  references: (txnIds: string[]) => Promise<Map<string, string>>,
): Promise<SettlementResult> {
  const spec = { acquirer: o.acquirer, ...(o.cutover ? { cutover: o.cutover } : {}) };
  const ours = await bookItems(pool, { ...spec, from: o.day, to: o.day }, references);
  const earlier = await bookItems(pool, { ...spec, from: addDays(o.day, -(o.lateDays ?? 7)), to: addDays(o.day, -1) }, references);
  return matchSettlement(o, ours, lines, earlier);
}

const DETAIL_CAP = 1000;

/** Records a run for the console (ledger_settlement_run); at most DETAIL_CAP breaks are kept with it. */
export async function recordSettlementRun(pool: pg.Pool, r: SettlementResult): Promise<void> {
  await pool.query('insert into ledger_settlement_run (acquirer, day, file, matched, breaks, counts, detail) values ($1, $2, $3, $4, $5, $6, $7)', [
    r.acquirer,
    r.day,
    r.file,
    r.matched,
    r.breaks.length,
    JSON.stringify(r.counts),
    JSON.stringify(r.breaks.slice(0, DETAIL_CAP)),
  ]);
}

export interface SettlementRunView {
  acquirer: string;
  day: string;
  file: string;
  ranAt: string;
  matched: number;
  breaks: number;
  counts: Record<BreakKind, number>;
  detail: SettlementBreak[];
}

/** The last run per acquirer, newest first. */
export async function lastSettlementRuns(pool: pg.Pool): Promise<SettlementRunView[]> {
  const { rows } = await pool.query<{
    acquirer: string;
    day: string;
    file: string;
    ran_at: Date;
    matched: number;
    breaks: number;
    counts: Record<BreakKind, number>;
    detail: SettlementBreak[];
  }>(
    `select distinct on (acquirer) acquirer, to_char(day, 'YYYY-MM-DD') as day, file, ran_at, matched, breaks, counts, detail
       from ledger_settlement_run order by acquirer, ran_at desc, id desc`,
  );
  return rows
    .map((r) => ({
      acquirer: r.acquirer,
      day: r.day,
      file: r.file,
      ranAt: r.ran_at.toISOString(),
      matched: r.matched,
      breaks: r.breaks,
      counts: r.counts,
      detail: r.detail,
    }))
    .sort((a, b) => (a.ranAt < b.ranAt ? 1 : a.ranAt > b.ranAt ? -1 : 0));
}

/** A day's totals of one acquirer in one currency, as ISO 8583:1987 reconciliation counts them (DE74-DE89). */
export interface DayTotals {
  currency: number;
  /** DE74, DE86: refunds (the cardholder credited). */
  credits: number;
  creditsAmount: bigint;
  /** DE75, DE87: refund reversals. */
  creditReversals: number;
  creditReversalsAmount: bigint;
  /** DE76, DE88: sales (captures and financial purchases). */
  debits: number;
  debitsAmount: bigint;
  /** DE77, DE89: reversals of sales. */
  debitReversals: number;
  debitReversalsAmount: bigint;
  /** DE81: authorizations held (informational). */
  authorizations: number;
}

/** The totals of `acquirer` on business `day` per currency, from the same events as the books (src/ledger/recon.ts). */
export async function dayTotals(pool: pg.Pool, o: { acquirer: string; day: string; cutover?: CutoverSpec }): Promise<DayTotals[]> {
  const { rows } = await pool.query<{ currency: number; ev: string; n: number; amount: string }>(
    `select currency, ev, count(*)::int as n, coalesce(sum(amount), 0)::text as amount from (${eventsSql()}) x
      where acquirer = $6 group by 1, 2 order by 1, 2`,
    [...eventsParams({ from: o.day, to: o.day, cutovers: o.cutover ? { [o.acquirer]: o.cutover } : {} }), o.acquirer],
  );
  const by = new Map<number, DayTotals>();
  for (const r of rows) {
    const c = Number(r.currency);
    let t = by.get(c);
    if (!t) {
      t = {
        currency: c,
        credits: 0,
        creditsAmount: 0n,
        creditReversals: 0,
        creditReversalsAmount: 0n,
        debits: 0,
        debitsAmount: 0n,
        debitReversals: 0,
        debitReversalsAmount: 0n,
        authorizations: 0,
      };
      by.set(c, t);
    }
    const a = BigInt(r.amount);
    if (r.ev === 'captured') [t.debits, t.debitsAmount] = [r.n, a];
    else if (r.ev === 'reversed') [t.debitReversals, t.debitReversalsAmount] = [r.n, a];
    else if (r.ev === 'refunded') [t.credits, t.creditsAmount] = [r.n, a];
    else if (r.ev === 'refund_reversed') [t.creditReversals, t.creditReversalsAmount] = [r.n, a];
    else if (r.ev === 'authorized') t.authorizations = r.n;
  }
  return [...by.values()];
}
