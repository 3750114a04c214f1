/**
 * Refunds: a 0100 or 0200 with processing code 20 (docs/switch.md, "Refunds"):
 *
 *   validate ─┬─ names its original (DE90): find it (DE90 + DE41 + DE42) ─ not refundable, another currency or
 *             │   card, or above what was captured and not yet refunded → answer (one write)
 *             │     └─ claim: the refund's intent and the original's next step ('refund claimed', its state and
 *             │        amounts kept), one transaction; a refund, capture or reversal that stepped first wins and
 *             │        this one looks again → send to the original's acquirer and terminal
 *             │        → approved: the refund's outcome, its ledger plan (committed, refund direction) and the
 *             │          original's next step ('refund recorded'), one transaction; the original reversed
 *             │          meanwhile: the refund fails, its reversal queued
 *             └─ standalone (no DE90): routed by the rules (`kind: refund`) → intent → send → outcome + plan, one write
 *   unanswered or lost in flight: timed out, the reversal of the refund queued, one write → 91
 *
 * The total refunded never exceeds what was captured: refunds still in flight count against it, and two refunds
 * of one original admitted at once on two instances collide on the original's step.
 */
import { IsoMessage, approvalKind } from '../../iso8583/index.js';
import { transmissionDateTime, type PspRequestContext } from '../../net/index.js';
import { errorSummary, isSwitchError } from '../../errors.js';
import type { PreparedHold } from '../../ledger/index.js';
import type { AuthContext, Decision } from '../../routing/types.js';
import { encodeExplanation } from '../../routing/explanation-codec.js';
import { isFastFailure } from '../acquirers.js';
import { newTxnId } from '../ids.js';
import { dayOf, mtiClass, nearDays, pspKey } from '../keys.js';
import { UNROUTED, type Intent, type Outcome, type TxnRow } from '../store/index.js';
import { mapResponseCode, originalData, parseOriginalData, pspResponse, toAcquirer, type AcquirerIds } from '../translate.js';
import { INVALID_AMOUNT, INVALID_TRANSACTION, NO_SUCH_RECORD } from '../response-codes.js';
import { answerLocked, answerOfWinner, cardToken, intentSubject, knownCurrency, settle } from './authorize.js';
import { findOriginal, maxWait, waitedForClaim } from './completion.js';
import { field, hasAll, requestKeys, type FlowContext } from './context.js';

const REFUND_FIELDS = [3, 4, 7, 11, 41, 42, 49] as const;
/** States of an original that captured money: an authorization expired after partial captures keeps them. */
const REFUNDABLE = new Set(['approved', 'captured', 'expired']);

/** A refund is booked once, at its approval, whether the PSP sent it as a 0100 or a 0200 (`_kind`). */
export async function refund(c: FlowContext, msg: IsoMessage, ctx: PspRequestContext, _kind: 'auth' | 'financial'): Promise<IsoMessage> {
  const codes = c.codes;
  if (!hasAll(msg, REFUND_FIELDS) || !/^[0-9]{1,12}$/.test(field(msg, 4)!)) return pspResponse(msg, codes.formatError);
  const currency = field(msg, 49)!;
  if (!knownCurrency(currency)) return pspResponse(msg, codes.formatError);
  const de90 = field(msg, 90);
  const orig = de90 === undefined ? null : parseOriginalData(de90);
  if (de90 !== undefined && !orig) return pspResponse(msg, codes.formatError);
  const pan = field(msg, 2);
  // a standalone refund needs the card; one naming its original may leave it out (the original has it)
  if (pan !== undefined ? !/^[0-9]{12,19}$/.test(pan) : !orig) return pspResponse(msg, codes.formatError);
  const amount = BigInt(field(msg, 4)!);
  const stan = field(msg, 11)!;
  const terminal = field(msg, 41)!;
  const merchantId = field(msg, 42)!;
  const card = pan === undefined ? null : c.d.panKeys.card(pan);
  const { key, prevKey } = requestKeys(msg, c.d.config.duplicateWindowMs);
  const same = { amount, card };
  const asOriginal = { cls: mtiClass(msg.mti), stan, dt: field(msg, 7)!, terminal, merchant: merchantId };
  // a refund of an original takes turns with everything else that names that original
  const lockKey = orig ? pspKey(ctx.psp, orig.stan, terminal, merchantId) : pspKey(ctx.psp, stan, terminal, merchantId);

  return c.mutex.run(lockKey, async () => {
    const now = Date.now();
    const txnId = newTxnId(now);
    const day = dayOf(now);
    const base: Intent = {
      txnId,
      attempt: 1,
      day,
      kind: 'refund',
      psp: ctx.psp,
      mti: msg.mti,
      pspStan: stan,
      pspTerminal: terminal,
      pspMerchant: merchantId,
      pspDt: field(msg, 7)!,
      dupKey: key,
      prevKey,
      originalId: null,
      originalDay: null,
      amount,
      currency,
      panHash: card?.hash ?? null,
      panKeyId: card?.keyId ?? null,
      panMasked: card?.masked ?? null,
      ...UNROUTED,
    };
    const duplicate = () => c.duplicate(msg, ctx.psp, [key, prevKey], nearDays(day), same, asOriginal);
    /** Decided here, without an acquirer: one write. */
    const decline = async (row: Intent, code: string, reason: string, decision: Decision | null = null): Promise<IsoMessage> => {
      const res = await c.d.store.intent({
        ...row,
        rulesVersion: decision?.explanation.rulesVersion ?? null,
        explanation: decision ? encodeExplanation(decision.explanation) : null,
        answer: { state: 'declined', code, reason },
      });
      if (!res.inserted) return duplicate();
      return pspResponse(msg, code);
    };

    if (c.stopping) return pspResponse(msg, codes.unavailable);
    if (amount <= 0n) return decline(base, INVALID_AMOUNT, 'a refund of nothing');
    const refused = c.refusedAccess(merchantId, ctx.psp);
    if (refused) return decline(base, codes.unknownMerchant, refused);

    if (orig) {
      const deadline = now + maxWait(c);
      for (;;) {
        const original = await findOriginal(c, ctx.psp, orig, terminal, merchantId);
        const row: Intent = original ? linkedBase(base, original) : base;
        if (!original) return decline(row, NO_SUCH_RECORD, 'original not found');
        if (await waitedForClaim(original, deadline)) continue;
        if ((original.kind !== 'auth' && original.kind !== 'financial') || !REFUNDABLE.has(original.state))
          return decline(row, INVALID_TRANSACTION, `original is ${original.kind === 'refund' ? 'a refund' : original.state}`);
        if (original.currency !== currency) return decline(row, INVALID_TRANSACTION, 'currency is not the original\u2019s');
        if (card && original.pan_hash !== null && card.matches(original.pan_hash, original.pan_key) === false)
          return decline(row, INVALID_TRANSACTION, 'card is not the original\u2019s');
        const totals = await c.d.store.childTotals(original.id);
        const captured = original.kind === 'financial' ? BigInt(original.approved_amount ?? original.amount ?? '0') : totals.captured;
        if (amount > captured - totals.refunded) return decline(row, INVALID_AMOUNT, 'refund above what was captured and not yet refunded');

        const acq = c.d.acquirers.get(original.acquirer!);
        const ids: AcquirerIds = { stan: acq.link.nextStan(), rrn: c.rrn.next(), dt: transmissionDateTime(), ...c.terminalIds(original) };
        const intent: Intent = { ...row, acqStan: ids.stan, acqRrn: ids.rrn, acqDt: ids.dt, acqTid: ids.terminalId, acqMid: ids.merchantId };
        const claimed = await c.d.store
          .transact(async (tx) => {
            const ins = await tx.intent(intent);
            if (!ins.inserted) return 'duplicate' as const;
            if (!(await tx.transition(keepStep(original, original.seq + 1, txnId, 'refund claimed')))) throw new LostRace();
            return 'claimed' as const;
          })
          .catch((e: unknown) => {
            if (e instanceof LostRace) return 'lost' as const;
            throw e;
          });
        if (claimed === 'lost') continue; // another change of the original came first: look again
        if (claimed === 'duplicate') return duplicate();
        const acqMsg = toAcquirer(msg, ids).set(90, originalData(original.mti, original.acq_stan ?? '', original.acq_dt ?? ''));
        return exchange(c, msg, {
          txnId,
          day,
          acquirer: original.acquirer!,
          terminal: original.terminal!,
          merchantId,
          currency,
          amount,
          ids,
          acqMsg,
          original,
        });
      }
    }

    // Standalone: routed by the rules, as a refund (rules can match `kind: refund`).
    const actx: AuthContext & { kind: 'refund' } = {
      bin: pan!.slice(0, 8),
      cardToken: cardToken(card!.hash),
      amountMinor: amount,
      currency,
      merchantId,
      psp: ctx.psp,
      at: new Date(now),
      kind: 'refund',
    };
    const mcc = field(msg, 18);
    if (mcc) actx.mcc = mcc;
    let decision: Decision;
    try {
      decision = await c.d.engine.decide(actx);
    } catch (e) {
      c.d.log.error({ err: errorSummary(e), txnId }, 'routing failed');
      return decline(base, codes.systemError, 'routing failed');
    }
    if (decision.kind === 'decline') return decline(base, decision.code, decision.reason, decision);
    const route = decision.routes[0];
    if (!route) return decline(base, codes.unavailable, 'no route', decision);
    const acq = c.d.acquirers.get(route.acquirer);
    const ids: AcquirerIds = {
      stan: acq.link.nextStan(),
      rrn: c.rrn.next(),
      dt: transmissionDateTime(),
      terminalId: route.terminalId,
      merchantId: route.merchantId,
    };
    const intent: Intent = {
      ...base,
      acquirer: route.acquirer,
      terminal: route.terminal,
      acqStan: ids.stan,
      acqRrn: ids.rrn,
      acqDt: ids.dt,
      acqTid: ids.terminalId,
      acqMid: ids.merchantId,
      rulesVersion: decision.explanation.rulesVersion,
      explanation: encodeExplanation(decision.explanation),
    };
    const res = await c.d.store.intent(intent);
    if (!res.inserted) return duplicate();
    return exchange(c, msg, {
      txnId,
      day,
      acquirer: route.acquirer,
      terminal: route.terminal,
      merchantId,
      currency,
      amount,
      ids,
      acqMsg: toAcquirer(msg, ids),
    });
  });
}

export class LostRace extends Error {}

/** The refund's row when it names `original`: linked to it, and its card the original's when the PSP sent none. */
function linkedBase(base: Intent, original: TxnRow): Intent {
  return {
    ...base,
    originalId: original.id,
    originalDay: original.day,
    acquirer: original.acquirer,
    terminal: original.terminal,
    ...(base.panHash === null ? { panHash: original.pan_hash, panKeyId: original.pan_key, panMasked: original.pan_masked } : {}),
  };
}

/**
 * A step on the original that changes nothing of it (its state and the amount that stands or was captured stay):
 * it only takes the step number, so that what else names the original (another refund, a capture, a reversal,
 * the expiry) collides with it rather than passing it unseen.
 */
export function keepStep(original: TxnRow, seq: number, ref: string, reason: 'refund claimed' | 'refund recorded' | 'increment claimed'): Outcome {
  const amount = original.state === 'captured' ? original.captured_amount : original.state === 'approved' ? original.approved_amount : null;
  return {
    txnId: original.id,
    day: original.day,
    seq,
    state: original.state as Outcome['state'],
    ref,
    reason,
    ...(amount !== null ? { amount: BigInt(amount) } : {}),
  };
}

interface Exchange {
  txnId: string;
  day: string;
  acquirer: string;
  terminal: string;
  merchantId: string;
  currency: string;
  amount: bigint;
  ids: AcquirerIds;
  acqMsg: IsoMessage;
  /** The original a linked refund names. */
  original?: TxnRow;
}

/** Sends the refund (its intent durable) and records what came of it; the PSP's answer. */
async function exchange(c: FlowContext, msg: IsoMessage, x: Exchange): Promise<IsoMessage> {
  const codes = c.codes;
  const { txnId, day, ids } = x;
  const subject = intentSubject(msg.mti, x.acqMsg, ids);
  // the crash points of the authorization flow, here too (docs/faults.md F19)
  if (c.d.faultHook) await c.fault('after-intent', txnId);
  let answer: IsoMessage;
  try {
    answer = await c.d.acquirers.request(x.acquirer, x.acqMsg, [x.acquirer, x.terminal]);
  } catch (e) {
    if (isFastFailure(e)) {
      // never left: nothing to reverse (a refund goes to its original's acquirer, or the one the rules chose)
      await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'no acquirer reachable' } });
      return pspResponse(msg, codes.unavailable);
    }
    c.timedOut.set(`${x.acquirer}|${ids.terminalId}|${ids.stan}`, { txnId, day });
    const outcome: Outcome = { txnId, day, seq: 1, state: 'timed_out', code: codes.unavailable, reason: isSwitchError(e) ? e.code : 'error' };
    await settle(c, outcome, subject, x.acquirer, false);
    c.d.acquirers.recordOutcome(x.terminal, false);
    return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
  }
  if (c.d.faultHook) await c.fault('after-send', txnId);
  const acq = c.d.acquirers.get(x.acquirer);
  const code = mapResponseCode(acq.def.response_codes, field(answer, 39));
  const authCode = field(answer, 38) ?? null;
  const approval = approvalKind(code);
  c.d.acquirers.recordOutcome(x.terminal, approval !== undefined);
  if (!approval) {
    await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'declined', code } });
    return pspResponse(msg, code, { rrn: ids.rrn });
  }
  if (approval !== 'full') {
    // a refund is of the amount asked: a partial approval or a verification is not one. Reverse it.
    await settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: `refund answered ${code}` }, subject, x.acquirer, false);
    return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
  }
  if (c.d.faultHook) await c.fault('after-answer', txnId);
  const outcome: Outcome = { txnId, day, seq: 1, state: 'approved', code, authCode, amount: x.amount };
  let plan: PreparedHold;
  try {
    plan = await c.d.ledger.prepareHold(
      txnId,
      { acquirer: x.acquirer, terminal: x.terminal, merchant: x.merchantId, currency: Number(x.currency), amount: x.amount, direction: 'refund' },
      undefined,
      { day, commit: true },
    );
  } catch (e) {
    c.d.log.error({ err: errorSummary(e), txnId }, 'refund approved but the ledger refuses it: reversing');
    await settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'refund refused by the ledger' }, subject, x.acquirer, false);
    return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
  }
  try {
    const written = await c.timedLedger(
      'hold',
      () => (x.original ? recordLinked(c, outcome, plan, x.original) : recordStandalone(c, outcome, plan)),
      (w) => w !== 'lost',
    );
    if (written === 'reversed') {
      await settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'original reversed meanwhile' }, subject, x.acquirer, false);
      return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
    }
    if (written === 'lost') return answerOfWinner(c, msg, txnId, day);
  } catch (e) {
    c.d.log.error({ err: errorSummary(e), txnId }, 'refund could not be recorded with its plan: reversing');
    const unknown = isSwitchError(e, 'SW_ERR_GROUP_COMMIT_UNKNOWN');
    await settle(
      c,
      { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: unknown ? 'outcome unknown' : 'refund not recorded' },
      subject,
      x.acquirer,
      unknown,
    );
    return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
  }
  if (c.d.faultHook) await c.fault('after-outcome', txnId);
  return pspResponse(msg, code, { rrn: ids.rrn, authCode });
}

/** A standalone refund's answer with its plan: one write, as an authorization's approval with its hold. */
async function recordStandalone(c: FlowContext, outcome: Outcome, plan: PreparedHold): Promise<'written' | 'lost'> {
  const written = plan.locked ? await answerLocked(c, outcome, plan) : (await c.d.store.answer({ outcome, hold: plan })).written;
  return written ? 'written' : 'lost';
}

/**
 * A linked refund's answer, its plan and the original's next step, in one transaction: the step proves the
 * original was not reversed (nor expired with nothing captured) since the refund was admitted.
 */
async function recordLinked(c: FlowContext, outcome: Outcome, plan: PreparedHold, admitted: TxnRow): Promise<'written' | 'lost' | 'reversed'> {
  for (let i = 0; i < 20; i++) {
    const original = await c.d.store.get(admitted.id, admitted.day);
    if (!original || !REFUNDABLE.has(original.state)) return 'reversed';
    const r = await c.d.store
      .transact(async (tx) => {
        if (!(await tx.transition(keepStep(original, original.seq + 1, outcome.txnId, 'refund recorded')))) throw new LostRace();
        if (!(await tx.transition(outcome))) return 'lost' as const;
        const [res] = await c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.hold(plan)]);
        if (res instanceof Error) throw res;
        return 'written' as const;
      })
      .catch((e: unknown) => {
        if (e instanceof LostRace) return 'again' as const;
        throw e;
      });
    if (r !== 'again') return r;
  }
  throw new Error('the original kept changing while the refund was recorded');
}
