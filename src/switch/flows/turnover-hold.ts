/**
 * One authorization's reservation on the turnover limits of its merchant or its terminal (docs/routing.md, "Turnover
 * limits"): taken before anything is sent, kept for what the acquirer approved, given back for the rest (a decline,
 * a failure, a timeout reversed, a reversal by the PSP later). A store that fails (Redis down) lets the payment
 * through, logged: the limits are a business control, not money; an approval is never refused for a counter.
 */
import type { Logger } from 'pino';
import { errorSummary } from '../../errors.js';
import type { TurnoverBreach, TurnoverStore, TurnoverSubject } from '../../risk/turnover.js';

export class TurnoverHold {
  private settled = false;

  private constructor(
    private readonly store: TurnoverStore,
    private readonly subject: TurnoverSubject,
    private readonly currency: string,
    private readonly amount: number,
    private readonly at: number,
    private readonly log: Logger,
  ) {}

  /** The reservation, the breach that refused it, or null when the subject has no limit in this currency (or the store failed). */
  static async take(
    store: TurnoverStore | undefined,
    subject: TurnoverSubject,
    currency: string,
    amount: bigint,
    at: number,
    log: Logger,
  ): Promise<TurnoverHold | TurnoverBreach | null> {
    if (!store || !subject.limits?.[currency]) return null;
    try {
      const breach = await store.reserve([subject], currency, Number(amount), at);
      return breach ?? new TurnoverHold(store, subject, currency, Number(amount), at, log);
    } catch (e) {
      log.warn({ err: errorSummary(e), [subject.kind]: subject.id }, 'turnover limits not counted: the payment goes on');
      return null;
    }
  }

  /** The acquirer approved `approved` of it: the rest is given back (all of it, and the count, when nothing was approved). */
  async keep(approved: bigint): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    const kept = Number(approved);
    if (kept < this.amount) await this.giveBack(this.amount - kept, kept === 0 ? 1 : 0);
  }

  /** Gives it all back, unless kept. */
  async release(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.giveBack(this.amount, 1);
  }

  private async giveBack(amount: number, count: number): Promise<void> {
    await this.store
      .release([this.subject], this.currency, amount, count, this.at)
      .catch((e: unknown) => this.log.warn({ err: errorSummary(e), [this.subject.kind]: this.subject.id }, 'turnover not given back'));
  }
}

export function isBreach(x: TurnoverHold | TurnoverBreach | null): x is TurnoverBreach {
  return x !== null && !(x instanceof TurnoverHold);
}
