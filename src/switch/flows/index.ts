/**
 * The switch's message flows (docs/switch.md): the PSP server's handler. Each request class has its own
 * module, readable top-down: authorize.ts (0100, 0200), completion.ts (0220), reversal.ts (0400, 0420),
 * network.ts (0800). This one routes by MTI class, folds duplicates that arrive while their original is still
 * being worked into one answer, and records late acquirer answers.
 */
import type { IsoMessage } from '../../iso8583/index.js';
import { approvalKind, maskPan } from '../../iso8583/index.js';
import type { PspRequestContext } from '../../net/index.js';
import { mtiClass } from '../keys.js';
import { INVALID_TRANSACTION } from '../response-codes.js';
import { pspResponse } from '../translate.js';
import { authorize } from './authorize.js';
import { refund } from './refund.js';
import { incremental } from './incremental.js';
import { cashbackAmount, parseProcessingCode } from '../processing-code.js';
import { capture } from './completion.js';
import { errorSummary } from '../../errors.js';
import { FlowContext, field, requestKeys, type FlowDeps } from './context.js';
import { network } from './network.js';
import { reverse } from './reversal.js';

export type { FlowDeps, FlowObserver, FlowOutcome, FaultPoint } from './context.js';

export class Flows {
  private readonly c: FlowContext;
  /** Requests being worked, so that shutdown can wait for their outcomes to be written. */
  private readonly active = new Set<Promise<unknown>>();
  /** Answers still being worked out, by PSP + duplicate key: a duplicate waits for the original's answer. */
  private readonly inFlight = new Map<string, { answer: Promise<IsoMessage>; what: string }>();

  constructor(d: FlowDeps) {
    this.c = new FlowContext(d);
  }

  /** New authorizations are refused (91) from now on; those under way carry on. */
  stop(): void {
    this.c.stopping = true;
  }

  /** Resolves once every request under way has finished, its outcome written (or given up on). */
  async drained(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active]);
  }

  /**
   * The PSP server's handler. A failure below (database down, a write refused) answers `unavailable` (91):
   * nothing was promised, and a request that was already sent has an intent without an answer, which the
   * sweeper's recovery reverses once the database is back.
   */
  handle(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage | null> {
    const p = this.answer(msg, ctx);
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
    return p;
  }

  private async answer(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
    try {
      return await this.route(msg, ctx);
    } catch (e) {
      this.c.d.log.error({ err: errorSummary(e), mti: msg.mti }, 'request failed: answering unavailable');
      return pspResponse(msg, this.c.codes.unavailable);
    }
  }

  private route(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> | IsoMessage {
    const cls = mtiClass(msg.mti);
    switch (cls) {
      case '0100':
      case '0200':
        return this.authorizationClass(msg, ctx, cls === '0100' ? 'auth' : 'financial');
      case '0220':
        return this.dedupe(msg, ctx, () => capture(this.c, msg, ctx));
      case '0400':
      case '0420':
        return this.dedupe(msg, ctx, () => reverse(this.c, msg, ctx));
      case '0800':
        return network(msg);
      default:
        return pspResponse(msg, INVALID_TRANSACTION);
    }
  }

  /**
   * A 0100 or 0200 by its processing code (docs/switch.md, "Transaction types"): a type the switch does not work
   * is refused (12) and a malformed DE3 or cashback DE54 is a format error (30), with nothing recorded or sent.
   */
  private authorizationClass(msg: IsoMessage, ctx: PspRequestContext, kind: 'auth' | 'financial'): Promise<IsoMessage> | IsoMessage {
    const pc = parseProcessingCode(field(msg, 3));
    if (!pc.ok) return this.refuse(msg, ctx, pc.error === 'format' ? this.c.codes.formatError : INVALID_TRANSACTION);
    switch (pc.type) {
      case 'refund':
        return this.dedupe(msg, ctx, () => refund(this.c, msg, ctx, kind));
      case 'balance':
        return this.dedupe(msg, ctx, () => authorize(this.c, msg, ctx, kind, { type: 'balance' }));
      case 'cashback': {
        const amount = field(msg, 4);
        const cash = amount && /^[0-9]{1,12}$/.test(amount) ? cashbackAmount(field(msg, 54), field(msg, 49) ?? '', BigInt(amount)) : 'DE4 missing';
        if (typeof cash === 'string') return this.refuse(msg, ctx, this.c.codes.formatError);
        return this.dedupe(msg, ctx, () => authorize(this.c, msg, ctx, kind, { type: 'cashback', cash }));
      }
      case 'purchase':
        // a 0100 naming an open authorization by DE90 is an incremental authorization (docs/switch.md)
        if (kind === 'auth' && msg.has(90)) return this.dedupe(msg, ctx, () => incremental(this.c, msg, ctx));
        return this.dedupe(msg, ctx, () => authorize(this.c, msg, ctx, kind));
    }
  }

  /** Answered before anything is recorded or sent: the observer still counts it (metrics, the transaction log line). */
  private refuse(msg: IsoMessage, ctx: PspRequestContext, code: string): IsoMessage {
    const pan = field(msg, 2);
    this.c.d.observer?.outcome({
      psp: ctx.psp,
      mti: msg.mti,
      responseCode: code,
      acquirer: null,
      terminal: null,
      rule: null,
      rulesVersion: null,
      risk: null,
      switchMs: 0,
      acquirerMs: null,
      panMasked: pan ? maskPan(pan) : null,
      txnId: null,
    });
    return pspResponse(msg, code);
  }

  /**
   * Same duplicate key while the original is in flight here: wait for its answer and replay it; with another
   * amount or card it is another payment under the same key: 94 at once.
   */
  private async dedupe(msg: IsoMessage, ctx: PspRequestContext, run: () => Promise<IsoMessage>): Promise<IsoMessage> {
    const key = `${ctx.psp}|${requestKeys(msg, this.c.d.config.duplicateWindowMs).key}`;
    const what = `${field(msg, 4) ?? ''}|${field(msg, 2) ?? ''}`;
    const pending = this.inFlight.get(key);
    if (pending) {
      if (pending.what !== what) return pspResponse(msg, this.c.codes.duplicate);
      const original = await pending.answer;
      const code = field(original, 39) ?? this.c.codes.duplicate;
      const amount = approvalKind(code) === 'partial' && field(original, 4) ? BigInt(field(original, 4)!) : null;
      return pspResponse(msg, code, { rrn: field(original, 37) ?? null, authCode: field(original, 38) ?? null, amount });
    }
    const p = run();
    this.inFlight.set(key, { answer: p, what });
    try {
      return await p;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** The link's unmatched handler: a late answer is logged and recorded, never forwarded nor posted. */
  onUnmatched(msg: IsoMessage, info: { reason: string; link: string }): void {
    const code = field(msg, 39);
    const key = `${info.link}|${field(msg, 41) ?? ''}|${field(msg, 11) ?? ''}`;
    const hit = this.c.timedOut.get(key);
    const pan = field(msg, 2);
    this.c.d.log.warn(
      { acquirer: info.link, reason: info.reason, mti: msg.mti, responseCode: code, pan: pan ? maskPan(pan) : undefined, txnId: hit?.txnId },
      'late or unmatched acquirer answer: not forwarded, not posted',
    );
    this.c.d.observer?.lateResponse?.({ acquirer: info.link, mti: msg.mti, responseCode: code });
    if (hit) {
      this.c.d.store
        .note(hit.txnId, hit.day, 'late_response', { code: code ?? null })
        .catch((e: unknown) => this.c.d.log.error({ err: errorSummary(e) }, 'could not record late answer'));
    }
  }
}
