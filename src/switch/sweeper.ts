/**
 * Housekeeping that must hold across crashes and instances (docs/switch.md, "Recovery after a crash" and
 * "Authorization expiry"):
 * - recovery: a routed authorization with an intent and no answer after every acquirer timeout + a margin was
 *   sent by a process that died (the PSP never got an answer): it is answered 'timed out' and its reversal
 *   queued, in one write. No money can be held for it: a hold only ever commits with an approval.
 * - expiry: approved authorizations older than the hold age are rolled back (default 7 days);
 * - stale claims: a capture whose result was never recorded (its process died with it at the acquirer) is
 *   completed: committed, 'captured', answered 00, and its advice queued as a repeat (0221), in one
 *   transaction. The acquirer may have it already; a second 0220 for the same authorization is never sent.
 * Each scan walks forward from its own watermark (src/switch/store/sweep.ts), held by one instance at a time.
 */
import type { Logger } from 'pino';
import type { Ledger } from '../ledger/index.js';
import { adviceFields } from './translate.js';
import { APPROVED, ISSUER_INOPERATIVE } from './response-codes.js';
import { errorSummary } from '../errors.js';
import { addDays, dayOf } from './keys.js';
import type { AcquirerSet } from './acquirers.js';
import { PARTIAL_CLAIM, txnIdTime, type SwitchStore } from './store/index.js';

const BATCH = 200;

export interface SweeperOptions {
  holdAgeMs: number;
  intervalMs: number;
  /** An intent without an answer this old is lost (the largest acquirer timeout + a margin); a function is read at each sweep. */
  staleSentMs: number | (() => number);
  safExpireMs: number;
  /** The code an intent recovered after a crash is recorded with (config `responseCodes.unavailable`; default 91). */
  unavailableCode?: string;
  onExpired?: (n: number) => void;
  kickSaf: () => void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly store: SwitchStore,
    private readonly ledger: Ledger,
    private readonly acquirers: AcquirerSet,
    private readonly o: SweeperOptions,
    private readonly log: Logger,
  ) {}

  private staleSentMs(): number {
    const s = this.o.staleSentMs;
    return typeof s === 'function' ? s() : s;
  }

  start(): this {
    this.timer = setInterval(() => void this.run(), this.o.intervalMs);
    this.timer.unref();
    return this;
  }

  async run(): Promise<{ expired: number; recovered: number; captures: number }> {
    if (this.busy) return { expired: 0, recovered: 0, captures: 0 };
    this.busy = true;
    try {
      const recovered = await this.recover();
      const captures = await this.completeStaleClaims();
      const expired = await this.expire();
      return { expired, recovered, captures };
    } catch (e) {
      this.log.error({ err: errorSummary(e) }, 'sweep failed');
      return { expired: 0, recovered: 0, captures: 0 };
    } finally {
      this.busy = false;
    }
  }

  /** Lost intents: answered 'timed out' (91) with their reversal queued, one write each, in one transaction. */
  async recover(): Promise<number> {
    let total = 0;
    for (;;) {
      const cutoff = Date.now() - this.staleSentMs();
      const n = await this.store.sweep.withWatermark('recovery', 0, async (tx, from) => {
        const rows = await this.store.sweep.lostIntents(tx, from, cutoff, BATCH);
        for (const r of rows) {
          if (
            !(await tx.transition({
              txnId: r.id,
              day: r.day,
              seq: 1,
              state: 'timed_out',
              code: this.o.unavailableCode ?? ISSUER_INOPERATIVE,
              reason: 'recovered after a crash',
            }))
          )
            continue;
          const fields = this.adviceOf(r, String(r.amount ?? '0'));
          await tx.queueSaf({ txn_id: r.id, txn_day: r.day, acquirer: r.acquirer, mti: '0420', fields, expires_at: new Date(Date.now() + this.o.safExpireMs) });
        }
        // a full batch: carry on from the last one looked at (ids of one millisecond may straddle: look again at it)
        const next = rows.length === BATCH ? rows[rows.length - 1]!.created_ms - 1 : cutoff;
        return { next, result: rows.length };
      });
      total += n ?? 0;
      if (n !== BATCH) break;
    }
    if (total) {
      this.log.warn({ recovered: total }, 'transactions left in flight by a crash: reversals queued');
      this.o.kickSaf();
    }
    return total;
  }

  /** Rolls back holds older than the hold age, each with its 'expired' step, in one transaction. */
  async expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const cutoff = Date.now() - this.o.holdAgeMs;
      const n = await this.store.sweep.withWatermark('expiry', 0, async (tx, from) => {
        const rows = await this.store.sweep.openAuths(tx, from, cutoff, BATCH);
        let done = 0;
        for (const r of rows) {
          if (!(await tx.transition({ txnId: r.id, day: r.day, seq: r.seq + 1, state: 'expired', reason: 'hold age reached' }))) continue;
          const [res] = await this.ledger.runInTx(tx.client, [this.ledger.ops.rollback(r.id)]);
          // An approval with nothing held (zero amount) has no plan: nothing to release.
          if (res instanceof Error && (res as { code?: string }).code !== 'SW_ERR_LEDGER_PLAN_NOT_FOUND') throw res;
          done++;
        }
        const next = rows.length === BATCH ? rows[rows.length - 1]!.created_ms - 1 : cutoff;
        return { next, result: { seen: rows.length, done } };
      });
      total += n?.done ?? 0;
      if (n?.seen !== BATCH) break;
    }
    if (total) {
      this.log.info({ expired: total }, 'expired authorization holds rolled back');
      this.o.onExpired?.(total);
    }
    return total;
  }

  /**
   * Captures whose result was never recorded, claimed longer ago than any acquirer answers: completed as the
   * store-and-forward of their advice (commit, 'captured', the capture answered, the advice queued as 0221).
   */
  async completeStaleClaims(): Promise<number> {
    const n = await this.store.transact(async (tx) => {
      const since = addDays(dayOf(Date.now() - this.o.holdAgeMs), -1);
      const rows = await this.store.sweep.staleClaims(tx, Date.now() - this.staleSentMs(), since, BATCH);
      let done = 0;
      for (const r of rows) {
        const amount = BigInt(r.amount);
        const authorized = BigInt(r.authorized);
        // a partial capture (docs/switch.md, "Captures"): its own committed plan under the capture's id, the hold
        // brought down by as much, the authorization open at what is left
        const part = r.reason === PARTIAL_CLAIM && r.ref !== null && amount < authorized ? r.ref : null;
        const step = part
          ? { state: 'approved' as const, amount: authorized - amount, reason: 'partially captured by recovery' }
          : { state: 'captured' as const, amount, reason: 'capture completed by recovery' };
        if (!(await tx.transition({ txnId: r.id, day: r.day, seq: r.seq + 1, ref: r.ref, ...step }))) continue;
        const capDay = part ? dayOf(txnIdTime(part)) : r.day;
        const ops = part
          ? [
              this.ledger.ops.release(r.id, dayOf(Date.now()), authorized - amount),
              this.ledger.ops.hold(
                await this.ledger.prepareHold(
                  part,
                  { acquirer: r.acquirer, terminal: r.terminal ?? '', merchant: r.merchant, currency: Number(r.currency), amount, direction: 'capture' },
                  undefined,
                  { day: capDay, commit: true },
                ),
              ),
            ]
          : [this.ledger.ops.commit(r.id, amount < authorized ? { amount } : undefined)];
        for (const res of await this.ledger.runInTx(tx.client, ops)) if (res instanceof Error) throw res;
        const fields = this.adviceOf(r, r.amount);
        await tx.queueAdvice(
          {
            txn_id: part ?? r.id,
            txn_day: capDay,
            acquirer: r.acquirer,
            mti: '0220',
            fields,
            expires_at: new Date(Date.now() + this.o.safExpireMs),
          },
          true,
        );
        // the capture's own row: answered, so that the PSP's repeat of it replays 00
        if (r.ref)
          await tx.transition({
            txnId: r.ref,
            day: dayOf(txnIdTime(r.ref)),
            seq: 1,
            state: 'approved',
            code: APPROVED,
            reason: 'captured by recovery; advice queued',
          });
        done++;
      }
      return done;
    });
    if (n) {
      this.log.warn({ completed: n }, 'captures left unrecorded by a crash: committed, advices queued');
      this.o.kickSaf();
    }
    return n;
  }

  /**
   * The fields of a reversal or completion advice naming `r` as its acquirer got it (its STAN, DE7, RRN and the
   * DE41/DE42 stored with its intent), for `amount`, with a new DE11 of the acquirer's link.
   */
  private adviceOf(
    r: {
      mti: string;
      acquirer: string;
      terminal: string | null;
      currency: string | null;
      acq_stan: string | null;
      acq_dt: string | null;
      acq_rrn: string | null;
      acq_tid: string | null;
      acq_mid: string | null;
    },
    amount: string,
  ): Record<string, string> {
    const acq = this.acquirers.all().find((a) => a.def.id === r.acquirer);
    const ids = r.acq_tid !== null && r.acq_mid !== null ? { terminalId: r.acq_tid, merchantId: r.acq_mid } : this.terminalIds(r.terminal ?? '');
    return adviceFields(acq ? acq.link.nextStan() : (r.acq_stan ?? ''), {
      mti: r.mti,
      stan: r.acq_stan ?? '',
      dt: r.acq_dt ?? '',
      rrn: r.acq_rrn ?? '',
      ...ids,
      processingCode: '000000',
      amount,
      currency: r.currency ?? '',
    });
  }

  /** DE41/DE42 at the acquirer for rows of the first layout, which did not store them (from the rules in force). */
  terminalIds: (terminal: string) => { terminalId: string; merchantId: string } = () => ({ terminalId: '', merchantId: '' });

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
