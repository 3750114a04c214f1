/**
 * Incremental authorization: a 0100 (processing code 00) naming an open authorization by DE90 asks for more on
 * it, DE4 the amount added (docs/switch.md, "Incremental authorizations"):
 *
 *   find the original (DE90 + DE41 + DE42) ─ not an open authorization, another currency or card → answer (one write)
 *     └─ claim: the increment's intent and a step on the original ('increment claimed', its state and amount
 *        kept), one transaction; a capture, reversal or refund that stepped first wins and this one looks again
 *        → 0100 to the original's acquirer and terminal, DE90 naming the original as the acquirer knows it
 *        → approved in full: the increment's answer, the original 'approved' at the amount raised and its hold
 *          raised (ledger raise), one transaction; the original captured or reversed meanwhile: the increment
 *          fails and its reversal is queued
 *        → declined: the answer; the original stands as it was
 *   unanswered, lost in flight, or approved in part: reversed (queued in the same write) → 91
 */
import { IsoMessage, approvalKind } from '../../iso8583/index.js';
import { transmissionDateTime, type PspRequestContext } from '../../net/index.js';
import { errorSummary, isSwitchError } from '../../errors.js';
import { isFastFailure } from '../acquirers.js';
import { newTxnId } from '../ids.js';
import { dayOf, mtiClass, pspKey } from '../keys.js';
import type { Intent, Outcome, TxnRow } from '../store/index.js';
import { mapResponseCode, originalData, parseOriginalData, pspResponse, toAcquirer, type AcquirerIds } from '../translate.js';
import { INVALID_AMOUNT, INVALID_TRANSACTION, NO_SUCH_RECORD } from '../response-codes.js';
import { answerOfWinner, intentSubject, knownCurrency, settle } from './authorize.js';
import { findOriginal, maxWait, waitedForClaim } from './completion.js';
import { childIntent, field, hasAll, type FlowContext } from './context.js';
import { LostRace, keepStep } from './refund.js';

const FIELDS = [3, 4, 7, 11, 41, 42, 49, 90] as const;

export async function incremental(c: FlowContext, msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
  const codes = c.codes;
  if (!hasAll(msg, FIELDS) || !/^[0-9]{1,12}$/.test(field(msg, 4)!)) return pspResponse(msg, codes.formatError);
  const currency = field(msg, 49)!;
  const orig = parseOriginalData(field(msg, 90));
  if (!orig || !knownCurrency(currency) || mtiClass(orig.mti) !== '0100') return pspResponse(msg, codes.formatError);
  const pan = field(msg, 2);
  if (pan !== undefined && !/^[0-9]{12,19}$/.test(pan)) return pspResponse(msg, codes.formatError);
  const card = pan === undefined ? null : c.d.panKeys.card(pan);
  const amount = BigInt(field(msg, 4)!);
  const terminal = field(msg, 41)!;
  const merchantId = field(msg, 42)!;

  return c.mutex.run(pspKey(ctx.psp, orig.stan, terminal, merchantId), async () => {
    const now = Date.now();
    const txnId = newTxnId(now);
    const day = dayOf(now);
    const deadline = now + maxWait(c);
    if (c.stopping) return pspResponse(msg, codes.unavailable);
    for (;;) {
      const original = await findOriginal(c, ctx.psp, orig, terminal, merchantId);
      const row: Intent = { ...childIntent(txnId, day, 'incremental', msg, ctx.psp, original, amount, c.d.config.duplicateWindowMs), currency };
      const decline = async (code: string, reason: string): Promise<IsoMessage> => {
        const res = await c.d.store.intent({ ...row, answer: { state: 'declined', code, reason } });
        if (!res.inserted) return c.duplicate(msg, ctx.psp, [row.dupKey!, row.prevKey ?? null], [day], { amount, card });
        return pspResponse(msg, code);
      };
      if (!original) return decline(NO_SUCH_RECORD, 'original not found');
      if (await waitedForClaim(original, deadline)) continue;
      if (amount <= 0n) return decline(INVALID_AMOUNT, 'an increment of nothing');
      if (original.kind !== 'auth' || original.state !== 'approved') return decline(INVALID_TRANSACTION, `original is ${original.kind} ${original.state}`);
      if (original.currency !== currency) return decline(INVALID_TRANSACTION, 'currency is not the original\u2019s');
      if (card && original.pan_hash !== null && card.matches(original.pan_hash, original.pan_key) === false)
        return decline(INVALID_TRANSACTION, 'card is not the original\u2019s');

      const acq = c.d.acquirers.get(original.acquirer!);
      const ids: AcquirerIds = { stan: acq.link.nextStan(), rrn: c.rrn.next(), dt: transmissionDateTime(), ...c.terminalIds(original) };
      const intent: Intent = { ...row, acqStan: ids.stan, acqRrn: ids.rrn, acqDt: ids.dt, acqTid: ids.terminalId, acqMid: ids.merchantId };
      const claimed = await c.d.store
        .transact(async (tx) => {
          if (!(await tx.intent(intent)).inserted) return 'duplicate' as const;
          if (!(await tx.transition(keepStep(original, original.seq + 1, txnId, 'increment claimed')))) throw new LostRace();
          return 'claimed' as const;
        })
        .catch((e: unknown) => {
          if (e instanceof LostRace) return 'lost' as const;
          throw e;
        });
      if (claimed === 'lost') continue;
      if (claimed === 'duplicate') return c.duplicate(msg, ctx.psp, [row.dupKey!, row.prevKey ?? null], [day], { amount, card });
      return exchange(c, msg, { txnId, day, ids, original, amount });
    }
  });
}

async function exchange(
  c: FlowContext,
  msg: IsoMessage,
  x: { txnId: string; day: string; ids: AcquirerIds; original: TxnRow; amount: bigint },
): Promise<IsoMessage> {
  const codes = c.codes;
  const { txnId, day, ids, original } = x;
  const acquirer = original.acquirer!;
  const acqMsg = toAcquirer(msg, ids).set(90, originalData(original.mti, original.acq_stan ?? '', original.acq_dt ?? ''));
  acqMsg.delete(52);
  const subject = intentSubject(msg.mti, acqMsg, ids);
  let answer: IsoMessage;
  try {
    answer = await c.d.acquirers.request(acquirer, acqMsg, [acquirer, original.terminal!]);
  } catch (e) {
    if (isFastFailure(e)) {
      await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'no acquirer reachable' } });
      return pspResponse(msg, codes.unavailable);
    }
    c.timedOut.set(`${acquirer}|${ids.terminalId}|${ids.stan}`, { txnId, day });
    await settle(c, { txnId, day, seq: 1, state: 'timed_out', code: codes.unavailable, reason: isSwitchError(e) ? e.code : 'error' }, subject, acquirer, false);
    c.d.acquirers.recordOutcome(original.terminal!, false);
    return pspResponse(msg, codes.unavailable, { rrn: ids.rrn });
  }
  const code = mapResponseCode(c.d.acquirers.get(acquirer).def.response_codes, field(answer, 39));
  const authCode = field(answer, 38) ?? null;
  const approval = approvalKind(code);
  c.d.acquirers.recordOutcome(original.terminal!, approval !== undefined);
  if (!approval) {
    await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'declined', code } });
    return pspResponse(msg, code, { rrn: ids.rrn });
  }
  const failed = (reason: string) =>
    settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason }, subject, acquirer, false).then(() =>
      pspResponse(msg, codes.unavailable, { rrn: ids.rrn }),
    );
  // an increment is of the amount asked: a partial approval or a verification is none; reversed
  if (approval !== 'full') return failed(`increment answered ${code}`);
  const outcome: Outcome = { txnId, day, seq: 1, state: 'approved', code, authCode, amount: x.amount };
  try {
    for (let i = 0; i < 20; i++) {
      const now = await c.d.store.get(original.id, original.day);
      if (!now || now.state !== 'approved') return await failed(`original ${now?.state ?? 'gone'} meanwhile`);
      const raised = BigInt(now.approved_amount ?? now.amount ?? '0') + x.amount;
      const r = await c.d.store
        .transact(async (tx) => {
          const step = { txnId: now.id, day: now.day, seq: now.seq + 1, state: 'approved' as const, ref: txnId, amount: raised, reason: 'incremented' };
          if (!(await tx.transition(step))) throw new LostRace();
          if (!(await tx.transition(outcome))) return 'lost' as const;
          const [res] = await c.timedLedger(
            'hold',
            () => c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.raise(now.id, dayOf(Date.now()), raised)]),
            ([y]) => !(y instanceof Error),
          );
          if (res instanceof Error) throw res;
          return 'written' as const;
        })
        .catch((e: unknown) => {
          if (e instanceof LostRace) return 'again' as const;
          throw e;
        });
      if (r === 'again') continue;
      if (r === 'lost') return await answerOfWinner(c, msg, txnId, day);
      return pspResponse(msg, code, { rrn: ids.rrn, authCode });
    }
    return await failed('the original kept changing');
  } catch (e) {
    c.d.log.error({ err: errorSummary(e), txnId }, 'increment approved but not recorded with its raise: reversing');
    return failed(isSwitchError(e, 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS') ? 'raise refused by the ledger' : 'increment not recorded');
  }
}
