/**
 * The simulated acquirer's daily settlement file (docs/ledger.md, "Settlement files"): what it approved and
 * captured, read back from its own journal, written in the layout acquirers.yaml gives that acquirer. It is the
 * acquirer's view, built without the switch's code for matching or reading files, so a reconciliation test
 * compares two independent accounts of the day. Scripted breaks make the file disagree on purpose.
 *
 *   sale              an approved 0200 purchase (DE3 00/09), or a 0220/0221 capture advice it accepted (once)
 *   refund            an approved 0100 or 0200 with DE3 20
 *   reversal          a 0400 or 0420/0421 of a transaction it had settled as a sale (the amount settled)
 *   refund_reversal   the same for a refund
 * A reversal of an authorization never captured settles nothing.
 */
import { businessDay, addDays, type CutoverSpec } from '../../src/ledger/business-day.js';
import type { SettlementFileLayout, SettlementRowType } from '../../src/routing/types.js';
import type { JournalEntry } from './journal.js';
import { Rng } from './random.js';

export interface SettlementItem {
  rrn: string;
  type: SettlementRowType;
  amount: bigint;
  currency: string;
  /** DE41 as the acquirer knows it. */
  terminal: string;
  at: number;
}

/** Breaks to write into a file on purpose, by the RRNs they touch. */
export interface SettlementBreaks {
  /** Rows left out. */
  missing?: string[];
  /** Rows the switch never sent (fresh RRNs, seeded), in the file's currency of its first row or 978. */
  extra?: number;
  /** Added to the amount of the row of this RRN (minor units). */
  amount?: Record<string, number>;
  /** The currency written for this RRN instead. */
  currency?: Record<string, string>;
  /** Added to the fee of this RRN. */
  fee?: Record<string, number>;
  /** Settled one business day late: left out of its day's file and written into the next day's. */
  late?: string[];
}

export interface SettlementFileOptions {
  day: string;
  cutover?: CutoverSpec;
  layout: SettlementFileLayout;
  /** The acquirer's fee for a row (default none: the fee column is left empty and not compared). */
  fee?: (item: SettlementItem) => bigint;
  breaks?: SettlementBreaks;
  seed?: number;
}

const TYPE_NAMES: Record<SettlementRowType, string> = { sale: 'SALE', refund: 'REFUND', reversal: 'REVERSAL', refund_reversal: 'REFUND_REVERSAL' };
const EXPONENT: Record<string, number> = { '392': 0, '410': 0, '048': 3, '414': 3, '512': 3, '788': 3 };

/** Everything the journal shows settled, in order. */
export function settlementItems(entries: readonly JournalEntry[]): SettlementItem[] {
  const requests = new Map<string, JournalEntry>();
  const items: SettlementItem[] = [];
  const advices = new Set<string>();
  const reversed = new Set<string>();
  for (const e of entries) {
    if (e.mti === null || !e.stan) continue;
    if (e.direction === 'in') {
      requests.set(`${e.connectionId}|${e.stan}|${e.mti}`, e);
      continue;
    }
    const reqMti = `${e.mti.slice(0, 2)}${String(Number(e.mti[2]) - 1)}${e.mti[3]}`;
    const req = requests.get(`${e.connectionId}|${e.stan}|${reqMti}`);
    if (!req || e.responseCode !== '00' || !req.rrn || !req.amount) continue;
    const item = (type: SettlementRowType, amount: bigint): SettlementItem => ({
      rrn: req.rrn!,
      type,
      amount,
      currency: req.currency ?? '978',
      terminal: req.terminal ?? '',
      at: e.at,
    });
    const pc = (req.processingCode ?? '000000').slice(0, 2);
    const base = req.mti!.slice(0, 3);
    if ((base === '010' || base === '020') && pc === '20') items.push(item('refund', BigInt(req.amount)));
    else if (base === '020' && (pc === '00' || pc === '09')) items.push(item('sale', BigInt(req.amount)));
    else if (base === '022') {
      const k = `${req.rrn}|${req.stan}|${req.amount}`;
      if (advices.has(k)) continue;
      advices.add(k);
      items.push(item('sale', BigInt(req.amount)));
    } else if (base === '040' || base === '042') {
      if (reversed.has(req.rrn)) continue;
      const of = (t: SettlementRowType) => items.filter((i) => i.rrn === req.rrn && i.type === t).reduce((n, i) => n + i.amount, 0n);
      const sold = of('sale');
      const refunded = of('refund');
      if (sold > 0n) items.push(item('reversal', sold));
      else if (refunded > 0n) items.push(item('refund_reversal', refunded));
      else continue;
      reversed.add(req.rrn);
    }
  }
  return items;
}

function formatDate(day: string, format: string): string {
  const [y, m, d] = day.split('-');
  return format.replace('YYYY', y!).replace('MM', m!).replace('DD', d!);
}

function formatAmount(v: bigint, currency: string, layout: SettlementFileLayout): string {
  if ((layout.amount_format ?? 'minor') === 'minor') return v.toString();
  const exp = EXPONENT[currency] ?? 2;
  if (exp === 0) return v.toString();
  const s = v.toString().padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}${layout.decimal_separator ?? '.'}${s.slice(-exp)}`;
}

const cell = (s: string, delim: string) => (s.includes(delim) || /["\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The settlement file of `day`: the items settled on it, breaks applied, in the acquirer's layout. */
export function settlementCsv(entries: readonly JournalEntry[], o: SettlementFileOptions): string {
  const b = o.breaks ?? {};
  const late = new Set(b.late ?? []);
  const missing = new Set(b.missing ?? []);
  const dayOf = (i: SettlementItem) => businessDay(new Date(i.at), o.cutover ?? {});
  const prev = addDays(o.day, -1);
  const rows = settlementItems(entries).filter((i) => (dayOf(i) === o.day && !late.has(i.rrn)) || (dayOf(i) === prev && late.has(i.rrn)));
  const kept = rows.filter((i) => !missing.has(i.rrn));
  const rng = new Rng(o.seed ?? 1);
  for (let n = 0; n < (b.extra ?? 0); n++) {
    const rrn = String(rng.int(900_000_000_000, 999_999_999_999));
    kept.push({ rrn, type: 'sale', amount: BigInt(rng.int(100, 10_100)), currency: kept[0]?.currency ?? '978', terminal: kept[0]?.terminal ?? '', at: 0 });
  }
  const l = o.layout;
  const d = l.delimiter ?? ',';
  const names = { ...TYPE_NAMES, ...(l.types ?? {}) };
  const cols: [string, (i: SettlementItem) => string][] = [
    [l.columns.date, () => formatDate(o.day, l.date_format ?? 'YYYY-MM-DD')],
    [l.columns.rrn, (i) => i.rrn],
    [l.columns.type, (i) => names[i.type]],
    [l.columns.amount, (i) => formatAmount(i.amount + BigInt(b.amount?.[i.rrn] ?? 0), i.currency, l)],
    [l.columns.currency, (i) => b.currency?.[i.rrn] ?? i.currency],
  ];
  if (l.columns.fee) {
    const feeCol = l.columns.fee;
    cols.push([
      feeCol,
      (i) => (o.fee || b.fee?.[i.rrn] !== undefined ? formatAmount((o.fee ? o.fee(i) : 0n) + BigInt(b.fee?.[i.rrn] ?? 0), i.currency, l) : ''),
    ]);
  }
  if (l.columns.terminal) cols.push([l.columns.terminal, (i) => i.terminal]);
  const lines = [cols.map(([h]) => cell(h, d)).join(d)];
  for (const i of kept) lines.push(cols.map(([, f]) => cell(f(i), d)).join(d));
  return lines.join('\r\n') + '\r\n';
}
