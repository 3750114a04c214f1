/**
 * Cut-over totals (docs/switch.md, "Cut-over totals"): after each acquirer's business day closes (its
 * `settlement` cut-over, plus `cutoverTotals.delayMs` for what was still in flight), the switch sends a 0500 per
 * currency with the day's counts and amounts as ISO 8583:1987 defines them (DE74-DE89, DE97 the net, DE15 the
 * day, DE50 the currency) from its own books, and compares the acquirer's 0510 totals with them field by field.
 * A row in switch_cutover_totals is claimed before the 0500 leaves, so with N instances one sends; the verdict,
 * both sides' totals and the fields that differ are recorded, and the `switch_cutover_totals_out_of_balance`
 * gauge pages (grafana/alerts.yml, CutoverTotalsOutOfBalance). Only 1987 acquirers: a 1993 0500 is another
 * message (DE15 YYMMDD, DE66 fees) and is not sent.
 */
import type pg from 'pg';
import { IsoMessage } from '../iso8583/message.js';
import { transmissionDateTime } from '../net/mti.js';
import { addDays, businessDay, businessDayEnd, type CutoverSpec } from '../ledger/business-day.js';
import { dayTotals, type DayTotals } from '../ledger/settlement.js';
import type { Logger } from 'pino';
import { errorSummary } from '../errors.js';
import type { AcquirerSet } from './acquirers.js';

export type TotalsField =
  'credits' | 'creditReversals' | 'debits' | 'debitReversals' | 'creditsAmount' | 'creditReversalsAmount' | 'debitsAmount' | 'debitReversalsAmount';

/** The compared fields and their data elements; DE81 (authorizations) is sent but informational. */
export const TOTALS_FIELDS: ReadonlyArray<[TotalsField, number]> = [
  ['credits', 74],
  ['creditReversals', 75],
  ['debits', 76],
  ['debitReversals', 77],
  ['creditsAmount', 86],
  ['creditReversalsAmount', 87],
  ['debitsAmount', 88],
  ['debitReversalsAmount', 89],
];

export type CutoverVerdict = 'in_balance' | 'out_of_balance' | 'failed';

export interface CutoverResult {
  acquirer: string;
  day: string;
  currency: number;
  verdict: CutoverVerdict | 'already_sent';
  /** Fields whose values differ (out_of_balance). */
  differences: TotalsField[];
  /** The acquirer's DE66 (1 in balance, 2 out of balance), when it sent one. */
  settlementCode: string | null;
  error?: string;
}

/** The 0500 of a day's totals in one currency. */
export function totalsRequest(t: DayTotals, day: string, stan: string): IsoMessage {
  const net = t.debitsAmount - t.debitReversalsAmount - t.creditsAmount + t.creditReversalsAmount;
  const n10 = (v: number) => String(v).padStart(10, '0');
  const n16 = (v: bigint) => v.toString().padStart(16, '0');
  return new IsoMessage('0500', {
    7: transmissionDateTime(),
    11: stan,
    15: day.slice(5, 7) + day.slice(8, 10),
    50: String(t.currency).padStart(3, '0'),
    74: n10(t.credits),
    75: n10(t.creditReversals),
    76: n10(t.debits),
    77: n10(t.debitReversals),
    81: n10(t.authorizations),
    82: '0'.repeat(12),
    83: '0'.repeat(12),
    84: '0'.repeat(12),
    85: '0'.repeat(12),
    86: n16(t.creditsAmount),
    87: n16(t.creditReversalsAmount),
    88: n16(t.debitsAmount),
    89: n16(t.debitReversalsAmount),
    // the net the acquirer owes (C) or is owed (D)
    97: `${net >= 0n ? 'C' : 'D'}${n16(net < 0n ? -net : net)}`,
  });
}

/** The totals a 0510 carries (a field it leaves out counts as 0). */
export function totalsOfAnswer(m: IsoMessage): Record<TotalsField, string> {
  const out = {} as Record<TotalsField, string>;
  for (const [k, f] of TOTALS_FIELDS) {
    const v = m.getString(f);
    out[k] = v === undefined || !/^[0-9]+$/.test(v) ? '0' : BigInt(v).toString();
  }
  return out;
}

function totalsJson(t: DayTotals): Record<TotalsField | 'authorizations', string> {
  const out = { authorizations: String(t.authorizations) } as Record<TotalsField | 'authorizations', string>;
  for (const [k] of TOTALS_FIELDS) out[k] = t[k].toString();
  return out;
}

export interface CutoverTotalsOptions {
  enabled: boolean;
  delayMs: number;
  timeoutMs: number;
  /** Each acquirer's cut-over (acquirers.yaml `settlement`); read at each run, so an activated change applies. */
  cutovers: () => Readonly<Record<string, CutoverSpec>>;
  onResult?: (r: CutoverResult) => void;
}

/**
 * When the next totals are due after `now`: the end of the business day under way (its cut-over) plus `delayMs`,
 * for that day; while a closed day's delay is still running, that day.
 */
export function nextTotalsRun(now: number, spec: CutoverSpec, delayMs: number): { day: string; at: number } {
  const closed = addDays(businessDay(new Date(now), spec), -1);
  const closedAt = businessDayEnd(closed, spec).getTime() + delayMs;
  if (closedAt > now) return { day: closed, at: closedAt };
  const today = businessDay(new Date(now), spec);
  return { day: today, at: businessDayEnd(today, spec).getTime() + delayMs };
}

export class CutoverTotals {
  private timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly acquirers: AcquirerSet,
    private readonly o: CutoverTotalsOptions,
    private readonly log: Logger,
  ) {}

  /** The acquirers a 0500 goes to: the 1987 ones. */
  eligible(): string[] {
    return this.acquirers
      .all()
      .filter((a) => a.def.link.dialect.startsWith('iso87'))
      .map((a) => a.def.id);
  }

  /** Sends (once across instances) and checks the totals of `acquirer` for business `day`, one 0500 per currency. */
  async run(acquirer: string, day: string): Promise<CutoverResult[]> {
    const cutover = this.o.cutovers()[acquirer];
    const totals = await dayTotals(this.pool, { acquirer, day, ...(cutover ? { cutover } : {}) });
    const results: CutoverResult[] = [];
    for (const t of totals) {
      const r = await this.one(acquirer, day, t);
      results.push(r);
      this.o.onResult?.(r);
    }
    return results;
  }

  private async one(acquirer: string, day: string, t: DayTotals): Promise<CutoverResult> {
    const base = { acquirer, day, currency: t.currency };
    const claim = await this.pool.query('insert into switch_cutover_totals (acquirer, day, currency, ours) values ($1, $2, $3, $4) on conflict do nothing', [
      acquirer,
      day,
      t.currency,
      JSON.stringify(totalsJson(t)),
    ]);
    if (claim.rowCount === 0) return { ...base, verdict: 'already_sent', differences: [], settlementCode: null };
    const link = this.acquirers.get(acquirer).link;
    const record = async (verdict: CutoverVerdict, theirs: Record<string, string> | null, differences: TotalsField[], code: string | null) =>
      this.pool.query(
        `update switch_cutover_totals set state = $4, theirs = $5, differences = $6, settlement_code = $7, answered_at = now()
          where acquirer = $1 and day = $2 and currency = $3`,
        [acquirer, day, t.currency, verdict, theirs ? JSON.stringify(theirs) : null, differences, code],
      );
    let answer: IsoMessage;
    try {
      answer = await link.request(totalsRequest(t, day, link.nextStan()), { timeoutMs: this.o.timeoutMs });
    } catch (e) {
      await record('failed', null, [], null);
      this.log.warn({ acquirer, day, currency: t.currency, err: errorSummary(e) }, 'cut-over totals: no 0510');
      return { ...base, verdict: 'failed', differences: [], settlementCode: null, error: (e as { code?: string }).code ?? 'error' };
    }
    const theirs = totalsOfAnswer(answer);
    const ours = totalsJson(t);
    const differences = TOTALS_FIELDS.filter(([k]) => theirs[k] !== ours[k]).map(([k]) => k);
    const code = answer.getString(66) ?? null;
    // the acquirer's own word counts too: a 0510 saying "out of balance" (DE66 2) is out of balance
    const verdict: CutoverVerdict = differences.length === 0 && code !== '2' && answer.getString(39) === '00' ? 'in_balance' : 'out_of_balance';
    await record(verdict, theirs, differences, code);
    if (verdict === 'out_of_balance')
      this.log.error({ acquirer, day, currency: t.currency, differences, settlementCode: code }, 'cut-over totals out of balance');
    else this.log.info({ acquirer, day, currency: t.currency }, 'cut-over totals in balance');
    return { ...base, verdict, differences, settlementCode: code };
  }

  /** Arms a timer per acquirer for the end of its current business day (plus delayMs); each run re-arms it. */
  start(): this {
    if (!this.o.enabled) return this;
    for (const id of this.eligible()) this.arm(id);
    return this;
  }

  private arm(acquirer: string): void {
    if (this.stopped) return;
    const next = nextTotalsRun(Date.now(), this.o.cutovers()[acquirer] ?? {}, this.o.delayMs);
    // setTimeout holds at most 2^31-1 ms: a far cut-over re-arms on the way
    const wait = Math.min(Math.max(0, next.at - Date.now()), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      if (Date.now() < next.at) return this.arm(acquirer);
      this.run(acquirer, next.day)
        .catch((e: unknown) => this.log.error({ acquirer, day: next.day, err: errorSummary(e) }, 'cut-over totals failed'))
        .finally(() => this.arm(acquirer));
    }, wait);
    timer.unref();
    this.timers.set(acquirer, timer);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
