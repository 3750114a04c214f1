/**
 * Store-and-forward of reversals (docs/switch.md, "Timeouts, reversals and store-and-forward"): each queued
 * entry is sent as 0400/0420, repeated as 0401/0421 with exponential backoff until the acquirer answers it with
 * a code that closes it (00, or 25 "original not found", unless the acquirer's `saf_done_codes` say otherwise;
 * a 91, 96 or 06 leaves it queued). An entry that outlives `saf.expireAfterMs` moves to the dead-letter table,
 * never dropped silently; an operator's retry repeats it for `saf.retryWindowMs` more. Completion advices (0220)
 * the acquirer did not acknowledge online go through the same queue, repeated as 0221 until answered 00. Entries
 * are claimed with a lease (src/switch/store/saf.ts), so several instances share the queue without sending an
 * entry twice at once.
 */
import type { Logger } from 'pino';
import { IsoMessage } from '../iso8583/index.js';
import { transmissionDateTime } from '../net/index.js';
import { errorSummary, isSwitchError } from '../errors.js';
import { SAF_DONE_CODES } from '../iso8583/index.js';
import { mapResponseCode } from './translate.js';
import type { SwitchConfig } from './config.js';
import { isFastFailure, type AcquirerSet } from './acquirers.js';
import type { SafQueue, SafRow } from './store/index.js';

/** A completion advice is acknowledged by 00 alone: its money is committed, a 25 or a decline needs an operator. */
const ADVICE_DONE_CODES: readonly string[] = ['00'];

export interface SafObserver {
  sent?(o: { acquirer: string; mti: string; ok: boolean }): void;
  deadLetter?(o: { acquirer: string; reason: string }): void;
}

export class SafWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /**
   * True while an operator has forced the acquirer down (docs/routing.md, "Manual controls"): its queued messages
   * wait, looked at again each second, without an attempt that may leave.
   */
  held: (acquirer: string) => boolean = () => false;

  constructor(
    private readonly queue: SafQueue,
    private readonly acquirers: AcquirerSet,
    private readonly cfg: SwitchConfig['saf'],
    private readonly log: Logger,
    private readonly observer: SafObserver = {},
  ) {}

  start(): this {
    this.timer = setInterval(() => this.kick(), this.cfg.pollMs);
    this.timer.unref();
    this.kick();
    return this;
  }

  /** Run a pass now (coalesced with one already running). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .then(() => undefined)
      .catch((e: unknown) => this.log.error({ err: errorSummary(e) }, 'SAF pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Claims due entries and sends them; resolves when this pass is done. */
  async pass(): Promise<number> {
    const rows = await this.queue.claim(Math.ceil((this.cfg.timeoutMs * 2) / 1000));
    await Promise.all(rows.map((r) => this.deliver(r)));
    return rows.length;
  }

  private async deliver(r: SafRow): Promise<void> {
    if (r.expires_at.getTime() < Date.now()) {
      await this.deadLetter(r, `not closed after ${r.attempts - 1} attempts: expired`);
      return;
    }
    if (this.held(r.acquirer)) {
      await this.queue.backoff(r.id, 1, 'acquirer forced down by an operator', false);
      return;
    }
    // under its own MTI until an attempt may have reached the acquirer, then as its repeat (0401, 0421, 0221)
    const mti = r.sent ? `${r.mti.slice(0, 3)}1` : r.mti;
    const msg = new IsoMessage(mti);
    for (const [k, v] of Object.entries(r.fields)) msg.set(Number(k), v);
    msg.set(7, transmissionDateTime());
    try {
      const answer = await this.acquirers.request(r.acquirer, msg, [r.acquirer], this.cfg.timeoutMs);
      const def = this.acquirers.get(r.acquirer).def;
      const code = mapResponseCode(def.response_codes, answer.getString(39));
      if (!(r.mti === '0220' ? ADVICE_DONE_CODES : (def.saf_done_codes ?? SAF_DONE_CODES)).includes(code)) {
        // answered, but not done (the acquirer could not work it now): repeat it later
        await this.retryLater(r, mti, `answered ${code}`, true);
        return;
      }
      await this.queue.done(r, { mti, code });
      this.observer.sent?.({ acquirer: r.acquirer, mti, ok: true });
    } catch (e) {
      await this.retryLater(r, mti, isSwitchError(e) ? e.code : 'error', !isFastFailure(e));
    }
  }

  private async retryLater(r: SafRow, mti: string, why: string, left: boolean): Promise<void> {
    const backoff = Math.min(this.cfg.retryMaxMs, this.cfg.retryInitialMs * 2 ** Math.min(r.attempts - 1, 20));
    await this.queue.backoff(r.id, backoff / 1000, why, left);
    this.observer.sent?.({ acquirer: r.acquirer, mti, ok: false });
  }

  private async deadLetter(r: SafRow, reason: string): Promise<void> {
    await this.queue.deadLetter(r, reason);
    this.log.error({ txnId: r.txn_id, acquirer: r.acquirer, reason }, 'reversal moved to dead letters: operator action needed');
    this.observer.deadLetter?.({ acquirer: r.acquirer, reason });
  }

  /** Puts a dead letter back in the queue (operator retry). */
  async retry(safId: string): Promise<boolean> {
    const requeued = await this.queue.retry(safId, this.cfg.retryWindowMs);
    if (requeued) this.kick();
    return requeued;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
