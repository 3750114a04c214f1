/**
 * 0100 authorization and 0200 financial request (docs/switch.md, "Flows" and "The durable record"):
 *
 *   validate → merchant → risk and route ─┬─ decline: ONE write (the intent with its answer)
 *                                                    └─ per route: intent (durable) → send ─┬─ answer → outcome + hold, ONE write → PSP
 *                                                                                          ├─ timeout/lost → outcome + queued reversal, ONE write → 91
 *                                                                                          └─ never left (fast failure) → next route
 *
 * The PSP hears an approval only after the approval and its hold are durable together; a hold that cannot be
 * taken leaves no approval behind, only a failed outcome with its reversal queued.
 */
import { IsoMessage, approvalKind, type ApprovalKind } from '../../iso8583/index.js';
import { transmissionDateTime, type PspRequestContext } from '../../net/index.js';
import { errorSummary, isSwitchError } from '../../errors.js';
import type { PreparedHold } from '../../ledger/index.js';
import { minorUnit } from '../../ledger/currency.js';
import type { AuthContext, Decision, RouteChoice } from '../../routing/types.js';
import { encodeExplanation } from '../../routing/explanation-codec.js';
import { isFastFailure } from '../acquirers.js';
import { authenticationOf } from '../../routing/authentication.js';
import { eciOf } from '../authentication-field.js';
import { TurnoverHold, isBreach } from './turnover-hold.js';
import { EXCEEDS_AMOUNT_LIMIT, EXCEEDS_FREQUENCY_LIMIT } from '../response-codes.js';
import type { TurnoverBreach } from '../../risk/turnover.js';
import { newTxnId } from '../ids.js';
import { dayOf, mtiClass, nearDays, pspKey } from '../keys.js';
import { UNROUTED, type Intent, type Outcome } from '../store/index.js';
import { mapResponseCode, pspResponse, toAcquirer, type AcquirerIds } from '../translate.js';
import { parseAdditionalAmounts } from '../processing-code.js';
import { field, hasAll, requestKeys, type FlowContext } from './context.js';

const AUTH_FIELDS = [2, 3, 4, 7, 11, 41, 42, 49] as const;
/** A balance inquiry asks for no amount: DE4 may be left out (it is zero then). */
const BALANCE_FIELDS = [2, 3, 7, 11, 41, 42, 49] as const;

/**
 * What the processing code asked for (src/switch/processing-code.ts): a purchase, a purchase with cashback (the
 * cash part of DE4 in DE54: the whole amount is held, and only a full approval is taken) or a balance inquiry
 * (nothing held; the acquirer's DE54 goes back to the PSP).
 */
export type AuthorizationType = { type: 'purchase' } | { type: 'cashback'; cash: bigint } | { type: 'balance' };

export async function authorize(
  c: FlowContext,
  msg: IsoMessage,
  ctx: PspRequestContext,
  kind: 'auth' | 'financial',
  txn: AuthorizationType = { type: 'purchase' },
): Promise<IsoMessage> {
  const t0 = performance.now();
  const codes = c.codes;
  const balance = txn.type === 'balance';
  if (balance && !msg.has(4)) msg = msg.clone().set(4, '000000000000');
  if (!hasAll(msg, balance ? BALANCE_FIELDS : AUTH_FIELDS) || !/^[0-9]{12,19}$/.test(field(msg, 2)!) || !/^[0-9]{1,12}$/.test(field(msg, 4)!))
    return pspResponse(msg, codes.formatError);
  const currency = field(msg, 49)!;
  if (!knownCurrency(currency)) return pspResponse(msg, codes.formatError);
  const pan = field(msg, 2)!;
  const stan = field(msg, 11)!;
  const terminal = field(msg, 41)!;
  const merchantId = field(msg, 42)!;
  const dt = field(msg, 7)!;
  const amount = BigInt(field(msg, 4)!);
  // hashed with the current key; a duplicate is compared under its original's key (docs/security.md, "PAN hash keys")
  const card = c.d.panKeys.card(pan);
  const { hash: panHash, keyId: panKeyId, masked: panMasked } = card;
  const { key, prevKey } = requestKeys(msg, c.d.config.duplicateWindowMs);
  const same = { amount, card };
  const asOriginal = { cls: mtiClass(msg.mti), stan, dt, terminal, merchant: merchantId };

  return c.mutex.run(pspKey(ctx.psp, stan, terminal, merchantId), async () => {
    // turnover reserved on the merchant and the route's terminal: given back at the end unless an approval kept it
    const turnover: { merchant: TurnoverHold | null; terminal: TurnoverHold | null } = { merchant: null, terminal: null };
    try {
      return await authorizeHeld(turnover);
    } finally {
      await Promise.all([turnover.merchant?.release(), turnover.terminal?.release()]);
    }
  });

  async function authorizeHeld(turnover: { merchant: TurnoverHold | null; terminal: TurnoverHold | null }): Promise<IsoMessage> {
    const now = Date.now();
    const txnId = newTxnId(now);
    const day = dayOf(now);
    const base: Intent = {
      txnId,
      attempt: 1,
      day,
      kind: balance ? 'balance' : kind,
      psp: ctx.psp,
      mti: msg.mti,
      pspStan: stan,
      pspTerminal: terminal,
      pspMerchant: merchantId,
      pspDt: dt,
      dupKey: key,
      prevKey,
      originalId: null,
      originalDay: null,
      amount,
      currency,
      panHash,
      panKeyId,
      panMasked,
      ...UNROUTED,
    };
    const finish = (res: IsoMessage, route: RouteChoice | null, decision: Decision | null, acquirerMs: number | null): IsoMessage => {
      c.d.observer?.outcome({
        psp: ctx.psp,
        mti: msg.mti,
        responseCode: field(res, 39) ?? '',
        acquirer: route?.acquirer ?? null,
        terminal: route?.terminal ?? null,
        rule: decision?.explanation.ruleId ?? null,
        rulesVersion: decision?.explanation.rulesVersion ?? null,
        risk: decision?.explanation.risk.level ?? null,
        switchMs: performance.now() - t0 - (acquirerMs ?? 0),
        acquirerMs,
        panMasked,
        txnId,
      });
      return res;
    };
    /** A decision made here, without an acquirer: one write. */
    const decline = async (code: string, reason: string, decision: Decision | null): Promise<IsoMessage> => {
      const row: Intent = {
        ...base,
        rulesVersion: decision?.explanation.rulesVersion ?? null,
        explanation: decision ? encodeExplanation(decision.explanation) : null,
        answer: { state: 'declined', code, reason },
      };
      const res = await c.d.store.intent(row);
      if (!res.inserted) return c.duplicate(msg, ctx.psp, [key, prevKey], nearDays(day), same, asOriginal);
      return finish(pspResponse(msg, code), null, decision, null);
    };

    if (c.stopping) return pspResponse(msg, codes.unavailable);
    const refused = c.refusedAccess(merchantId, ctx.psp);
    if (refused) return decline(codes.unknownMerchant, refused, null);

    const actx: AuthContext = {
      bin: pan.slice(0, 8),
      cardToken: cardToken(panHash),
      // a blocklist entry made from a row hashed with an older key still blocks (velocity and sticky pins follow the current key)
      ...(c.d.panKeys.ids.length > 1 ? { olderCardTokens: card.others().map(cardToken) } : {}),
      amountMinor: amount,
      currency,
      merchantId,
      psp: ctx.psp,
      at: new Date(now),
      kind: txn.type,
    };
    const mcc = field(msg, 18);
    if (mcc) actx.mcc = mcc;
    actx.authentication = authenticationOf(field(msg, 22), field(msg, 25), eciOf(msg, c.d.config.authentication));
    let decision: Decision;
    try {
      decision = await c.d.engine.decide(actx);
    } catch (e) {
      c.d.log.error({ err: errorSummary(e), txnId }, 'routing failed');
      return decline(codes.systemError, 'routing failed', null);
    }
    if (decision.kind === 'decline') return decline(decision.code, decision.reason, decision);
    // turnover limits (docs/routing.md, "Turnover limits"): the merchant's before any route, each route's terminal's
    // before it is tried; a balance inquiry moves nothing and counts nothing
    if (!balance) {
      const m = await TurnoverHold.take(
        c.d.turnover,
        { kind: 'merchant', id: merchantId, limits: c.d.merchants().get(merchantId)?.turnover },
        currency,
        amount,
        now,
        c.d.log,
      );
      if (isBreach(m)) return decline(m.what === 'amount' ? EXCEEDS_AMOUNT_LIMIT : EXCEEDS_FREQUENCY_LIMIT, `merchant ${breachText(m)}`, decision);
      turnover.merchant = m;
    }

    let attempt = 0;
    let overLimit = 0;
    for (const route of decision.routes) {
      // an acquirer the rules name but that is not running (retired by an activation a moment ago): next candidate
      const acq = c.d.acquirers.find(route.acquirer);
      if (!acq) continue;
      if (!balance) {
        // a route tried before failed fast (nothing sent): its reservation goes back before this one is taken
        await turnover.terminal?.release();
        turnover.terminal = null;
        const limits = c.d.terminals?.(route.terminal)?.turnover;
        const h = await TurnoverHold.take(c.d.turnover, { kind: 'terminal', id: route.terminal, limits }, currency, amount, now, c.d.log);
        if (isBreach(h)) {
          overLimit++;
          decision.explanation.rejected.push({ terminal: route.terminal, reason: 'turnover_limit', detail: breachText(h) });
          continue;
        }
        turnover.terminal = h;
      }
      const ids: AcquirerIds = {
        stan: acq.link.nextStan(),
        rrn: c.rrn.next(),
        dt: transmissionDateTime(),
        terminalId: route.terminalId,
        merchantId: route.merchantId,
      };
      // DE52 under this acquirer's PIN key, before anything is recorded or sent (docs/security.md, "PIN translation")
      const pin = await translatePin(c, msg, ctx.psp, route.acquirer, pan, txnId);
      if (pin === 'refused') {
        if (attempt === 0) return decline(codes.pinError, PIN_REFUSED, decision);
        // an earlier route failed fast after its intent: this transaction's outcome, still no acquirer call
        const w = await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'declined', code: codes.pinError, reason: PIN_REFUSED } });
        if (!w.written) return finish(await answerOfWinner(c, msg, txnId, day), null, decision, null);
        return finish(pspResponse(msg, codes.pinError), null, decision, null);
      }
      attempt++;
      // The intent: durable before the request leaves.
      const intent: Intent = {
        ...base,
        attempt,
        dupKey: attempt === 1 ? key : null,
        prevKey: attempt === 1 ? prevKey : null,
        acquirer: route.acquirer,
        terminal: route.terminal,
        acqStan: ids.stan,
        acqRrn: ids.rrn,
        acqDt: ids.dt,
        acqTid: ids.terminalId,
        acqMid: ids.merchantId,
        rulesVersion: decision.explanation.rulesVersion,
        explanation: attempt === 1 ? encodeExplanation(decision.explanation) : null,
      };
      const res = await c.d.store.intent(intent);
      // a duplicate, or the original of a reversal that came first (its decline is filed under this key)
      if (!res.inserted) {
        return c.duplicate(msg, ctx.psp, [key, prevKey], nearDays(day), same, asOriginal);
      }
      if (c.d.faultHook) await c.fault('after-intent', txnId);
      const acqMsg = toAcquirer(msg, ids);
      // never the PSP's block: the translated one, or none when the request had none
      if (pin) acqMsg.set(52, pin);
      else acqMsg.delete(52);
      const tSend = performance.now();
      let answer: IsoMessage;
      try {
        answer = await c.d.acquirers.request(route.acquirer, acqMsg, [route.acquirer, route.terminal]);
      } catch (e) {
        if (isFastFailure(e)) continue; // never reached the acquirer: next candidate
        const acquirerMs = performance.now() - tSend;
        // Timed out or lost in flight: the acquirer may have approved. The reversal is durable before the 91.
        c.timedOut.set(`${route.acquirer}|${ids.terminalId}|${ids.stan}`, { txnId, day });
        const outcome: Outcome = { txnId, day, seq: 1, state: 'timed_out', code: codes.unavailable, reason: isSwitchError(e) ? e.code : 'error' };
        // a balance inquiry moved nothing: there is nothing to reverse
        if (balance) await c.d.store.answer({ outcome });
        else await settle(c, outcome, intentSubject(msg.mti, acqMsg, ids), route.acquirer, false);
        c.d.acquirers.recordOutcome(route.terminal, false);
        return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      if (c.d.faultHook) await c.fault('after-send', txnId);
      const acquirerMs = performance.now() - tSend;
      const code = mapResponseCode(acq.def.response_codes, field(answer, 39));
      const authCode = field(answer, 38) ?? null;
      const approval = approvalKind(code);
      c.d.acquirers.recordOutcome(route.terminal, approval !== undefined);
      if (c.d.faultHook) await c.fault('after-answer', txnId);
      if (!approval) {
        const w = await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'declined', code } });
        if (!w.written) return finish(await answerOfWinner(c, msg, txnId, day), route, decision, acquirerMs);
        return finish(pspResponse(msg, code, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      const subject = intentSubject(msg.mti, acqMsg, ids);
      if (balance) {
        // nothing is held: the approval is recorded (amount 0) and the balances the acquirer gave are passed on
        const w = await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'approved', code, authCode, amount: 0n } });
        if (!w.written) return finish(await answerOfWinner(c, msg, txnId, day), route, decision, acquirerMs);
        const res = pspResponse(msg, code, { rrn: ids.rrn, authCode });
        const de54 = field(answer, 54);
        if (de54 !== undefined && parseAdditionalAmounts(de54)) res.set(54, de54);
        return finish(res, route, decision, acquirerMs);
      }
      if (txn.type === 'cashback' && approval !== 'full') {
        // cash cannot be handed out in part, nor for a verification: whatever the acquirer approved is reversed
        await settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: `cashback answered ${code}` }, subject, route.acquirer, false);
        return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      const approved = approvedAmount(approval, amount, field(answer, 4));
      if (approved === null) {
        // a partial approval without a usable amount: nothing to hold that the acquirer agreed to. Reverse it.
        c.d.log.error({ txnId, responseCode: code }, 'partial approval without a valid approved amount (DE4): reversing');
        await settle(
          c,
          { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'partial approval without an amount' },
          subject,
          route.acquirer,
          false,
        );
        return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      const outcome: Outcome = { txnId, day, seq: 1, state: 'approved', code, authCode, amount: approved };
      let hold: PreparedHold | undefined;
      if (approved > 0n) {
        try {
          // no card data in the plan: the intent, filed under the same id, has the keyed hash and the mask
          hold = await c.d.ledger.prepareHold(
            txnId,
            { acquirer: route.acquirer, terminal: route.terminal, merchant: merchantId, currency: Number(currency), amount: approved },
            undefined,
            { day, commit: kind === 'financial' },
          );
        } catch (e) {
          // The ledger refuses this hold: the PSP must not hear an approval. Failed, reversal queued.
          c.d.log.error({ err: errorSummary(e), txnId }, 'approved but the hold is refused: reversing');
          await settle(c, { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'hold refused' }, subject, route.acquirer, false);
          return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
        }
      }
      try {
        const write = async () => (hold?.locked ? answerLocked(c, outcome, hold) : (await c.d.store.answer(hold ? { outcome, hold } : { outcome })).written);
        const written = hold ? await c.timedLedger('hold', write, (w) => w) : await write();
        if (!written) return finish(await answerOfWinner(c, msg, txnId, day), route, decision, acquirerMs);
      } catch (e) {
        // Not durably approved and held: the PSP must not see an approval. Reverse it.
        c.d.log.error({ err: errorSummary(e), txnId }, 'approval could not be recorded with its hold: reversing');
        const unknown = isSwitchError(e, 'SW_ERR_GROUP_COMMIT_UNKNOWN');
        await settle(
          c,
          { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: unknown ? 'outcome unknown' : 'hold failed' },
          subject,
          route.acquirer,
          unknown,
        );
        return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      if (c.d.faultHook) await c.fault('after-outcome', txnId);
      await Promise.all([turnover.merchant?.keep(approved), turnover.terminal?.keep(approved)]);
      return finish(pspResponse(msg, code, { rrn: ids.rrn, authCode, amount: approval === 'partial' ? approved : null }), route, decision, acquirerMs);
    }
    // Every candidate failed fast (links down, breakers open) or was over its turnover limit: nothing left the switch.
    if (attempt === 0)
      return decline(codes.unavailable, overLimit > 0 ? 'every route over its turnover limit or unreachable' : 'no acquirer reachable', decision);
    const w = await c.d.store.answer({ outcome: { txnId, day, seq: 1, state: 'failed', code: codes.unavailable, reason: 'no acquirer reachable' } });
    if (!w.written) return finish(await answerOfWinner(c, msg, txnId, day), null, decision, null);
    return finish(pspResponse(msg, codes.unavailable), null, decision, null);
  }
}

/** The reason recorded for a PIN block the switch could not translate (its code goes to the log, never the block). */
const PIN_REFUSED = 'PIN block not translated';

/**
 * DE52 of the PSP's request re-encrypted from `zpk:<psp>` to `zpk:<acquirer>` for the card of DE2 (docs/security.md,
 * "PIN translation"); null when the request has no PIN block; 'refused' when it cannot be translated (no key
 * store, a key missing or of the wrong kind, a block that does not decrypt under the PSP's key, a block that is
 * not 8 bytes), logged with the error's code and the key names only.
 */
async function translatePin(c: FlowContext, msg: IsoMessage, psp: string, acquirer: string, pan: string, txnId: string): Promise<Buffer | null | 'refused'> {
  const v = msg.get(52);
  if (v === undefined) return null;
  const keys = c.d.keys;
  if (!keys) {
    c.d.log.warn({ txnId, psp, acquirer, code: 'SW_ERR_SEC_NO_KEY_STORE' }, 'PIN block received and the switch has no key store (security.keyFile): declined');
    return 'refused';
  }
  const block = Buffer.isBuffer(v) ? v : typeof v === 'string' && /^[0-9A-Fa-f]{16}$/.test(v) ? Buffer.from(v, 'hex') : null;
  if (!block || block.length !== 8) {
    c.d.log.warn({ txnId, psp, acquirer, code: 'SW_ERR_SEC_BAD_INPUT' }, 'PIN block (DE52) is not 8 bytes: declined');
    return 'refused';
  }
  try {
    return await keys.translatePin(block, `zpk:${psp}`, `zpk:${acquirer}`, pan);
  } catch (e) {
    // the error names keys and rules, never the block, the PIN or the PAN (src/security/pin-block.ts)
    c.d.log.warn({ txnId, psp, acquirer, err: errorSummary(e) }, 'PIN block not translated: declined without an acquirer call');
    return 'refused';
  }
}

/**
 * What an approval holds (docs/switch.md, "Response codes"): the amount asked (00, 08, 11), nothing (85), or for
 * a partial approval (10) the amount in the answer's DE4, which must be above zero and not above the amount
 * asked; null when it is not.
 */
function approvedAmount(kind: ApprovalKind, asked: bigint, answerDe4: string | undefined): bigint | null {
  if (kind === 'full') return asked;
  if (kind === 'verified') return 0n;
  if (!answerDe4 || !/^[0-9]{1,12}$/.test(answerDe4)) return null;
  const v = BigInt(answerDe4);
  return v > 0n && v <= asked ? v : null;
}

/** The card token routing and risk see: the first 32 hex digits of the keyed hash (src/switch/store/queries.ts derives it the same way). */
export function cardToken(panHash: string): string {
  return panHash.slice(0, 32);
}

export function knownCurrency(code: string): boolean {
  try {
    minorUnit(Number(code));
    return /^[0-9]{3}$/.test(code);
  } catch {
    return false;
  }
}

/** A hold that debits a no-negative account: the locked path, the answer and the hold in one transaction. */
export async function answerLocked(c: FlowContext, outcome: Outcome, hold: PreparedHold): Promise<boolean> {
  return c.d.store.transact(async (tx) => {
    if (!(await tx.transition(outcome))) return false;
    const [r] = await c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.hold(hold)]);
    if (r instanceof Error) throw r;
    return true;
  });
}

/**
 * The answer that failed or could not be given: the outcome with the reversal it owes, durable in one write
 * (the outcome stream). If even that cannot be written now, it is retried in the background until the
 * database answers (`maybeApproved`: the approval may have committed after all, and is then reversed with its
 * hold released); a crash meanwhile leaves the intent without an outcome, which the sweeper's recovery reverses.
 */
export async function settle(
  c: FlowContext,
  outcome: Outcome,
  subject: ReturnType<typeof intentSubject>,
  acquirer: string,
  maybeApproved: boolean,
): Promise<void> {
  const saf = c.reversalEntry(outcome.txnId, outcome.day, acquirer, '0420', subject);
  if (!maybeApproved) {
    try {
      const w = await c.d.store.answer({ outcome, saf });
      if (w.written) c.d.kickSaf();
      return;
    } catch (e) {
      c.d.log.error({ err: errorSummary(e), txnId: outcome.txnId }, 'could not record the reversal owed: retrying in the background');
    }
  }
  void settleLater(c, outcome, saf);
}

async function settleLater(c: FlowContext, outcome: Outcome, saf: ReturnType<FlowContext['reversalEntry']>): Promise<void> {
  for (let i = 0; i < 1_000 && !c.stopping; i++) {
    try {
      await c.d.store.transact(async (tx) => {
        if (await tx.transition(outcome)) {
          await tx.queueSaf(saf);
          return;
        }
        // Step 1 is taken: by this flow's own approval (it did commit) or by the sweeper's recovery.
        const row = await c.d.store.get(outcome.txnId, outcome.day);
        if (row?.state !== 'approved') return;
        if (!(await tx.transition({ txnId: outcome.txnId, day: outcome.day, seq: row.seq + 1, state: 'reversed', reason: 'approval not delivered' }))) {
          throw new Error('another change of this transaction came first: look again');
        }
        const [r] = await c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.release(outcome.txnId, dayOf(Date.now()))]);
        if (r instanceof Error) throw r;
        await tx.queueSaf(saf);
      });
      c.d.kickSaf();
      return;
    } catch (e) {
      c.d.log.warn({ err: errorSummary(e), txnId: outcome.txnId, attempt: i + 1 }, 'reversal owed not recorded yet');
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(i, 6))));
    }
  }
}

/** Someone else answered this transaction first (recovery, after a long stall): tell the PSP what they decided. */
export async function answerOfWinner(c: FlowContext, msg: IsoMessage, txnId: string, day: string): Promise<IsoMessage> {
  const row = await c.d.store.get(txnId, day);
  return row && row.response_code !== null ? c.replay(msg, row) : pspResponse(msg, c.codes.unavailable);
}

/** What a reversal of a request just sent to the acquirer names: that request, as the acquirer got it. */
export function intentSubject(originalMti: string, acqMsg: IsoMessage, ids: AcquirerIds) {
  return {
    mti: originalMti,
    stan: ids.stan,
    dt: ids.dt,
    rrn: ids.rrn,
    terminalId: ids.terminalId,
    merchantId: ids.merchantId,
    processingCode: field(acqMsg, 3) ?? '000000',
    amount: field(acqMsg, 4) ?? '0',
    currency: field(acqMsg, 49) ?? '',
  };
}

/** "day amount 9000 of 10000 used" for a breach, in explanations and decline reasons. */
function breachText(b: TurnoverBreach): string {
  return `${b.period} ${b.what} limit ${b.limit} (${b.used} used)`;
}
