/**
 * 0220 completion (capture) of an authorization (docs/switch.md, "Flows", "Captures"):
 *
 *   find the original (DE90 + DE41 + DE42) ─ not capturable → answer (one write)
 *     └─ claim it: 'capturing' as its next step, with the capture's own row (one transaction; a reversal or
 *        another capture that claimed first wins, and this one looks again)
 *        → 0220 to the acquirer that authorized it, with the DE41/DE42 it was sent with
 *        → approved: (one transaction)
 *            final capture: ledger commit + 'captured' + the capture's answer
 *            partial (sequence SS < CC): the hold brought down by the amount + the capture's own committed
 *            plan + the original 'approved' at what is left + the capture's answer
 *          unanswered or link down: the same, with the advice queued to be repeated as 0221 (store and forward)
 *          declined: the original back to 'approved' + the capture's answer
 *
 * No database connection is held while the acquirer works on the capture.
 */
import { IsoMessage } from '../../iso8583/index.js';
import { transmissionDateTime, type PspRequestContext } from '../../net/index.js';
import { newTxnId } from '../ids.js';
import { dayOf, daysOfDe7, mtiClass, pspKey } from '../keys.js';
import { PARTIAL_CLAIM, type Intent, type TxnRow } from '../store/index.js';
import { adviceFields, mapResponseCode, parseOriginalData, pspResponse } from '../translate.js';
import { isFastFailure } from '../acquirers.js';
import { APPROVED, INVALID_AMOUNT, INVALID_TRANSACTION, NO_SUCH_RECORD } from '../response-codes.js';
import { errorSummary } from '../../errors.js';
import { childIntent, field, hasAll, type FlowContext } from './context.js';

/** A claim another instance holds (a capture at the acquirer) is waited for this long before answering 91. */
const CLAIM_WAIT_MS = 100;

/**
 * The clearing sequence of a 0220 (config captures.sequenceField, 4 digits SSCC: capture SS of CC): 'final'
 * without it or when SS = CC, 'partial' when SS < CC, null when it is malformed (SS 0, SS above CC).
 */
export function captureSequence(v: string | undefined): 'final' | 'partial' | null {
  if (v === undefined) return 'final';
  const m = /^([0-9]{2})([0-9]{2})$/.exec(v);
  if (!m) return null;
  const ss = Number(m[1]);
  const cc = Number(m[2]);
  if (ss < 1 || ss > cc) return null;
  return ss < cc ? 'partial' : 'final';
}

export async function capture(c: FlowContext, msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
  const codes = c.codes;
  if (!hasAll(msg, [4, 7, 11, 41, 42]) || !/^[0-9]{1,12}$/.test(field(msg, 4)!)) return pspResponse(msg, codes.formatError);
  const orig = parseOriginalData(field(msg, 90));
  if (!orig) return pspResponse(msg, codes.formatError);
  const seqField = c.d.config.captures.sequenceField;
  const sequence = captureSequence(field(msg, seqField));
  if (!sequence) return pspResponse(msg, codes.formatError);
  const terminal = field(msg, 41)!;
  const merchantId = field(msg, 42)!;
  const amount = BigInt(field(msg, 4)!);
  return c.mutex.run(pspKey(ctx.psp, orig.stan, terminal, merchantId), async () => {
    const now = Date.now();
    const txnId = newTxnId(now);
    const day = dayOf(now);
    const deadline = now + maxWait(c);
    // a PSP the merchant does not accept (merchant.psps) completes nothing for it: refused and recorded, no acquirer asked
    const refused = c.refusedAccess(merchantId, ctx.psp);
    if (refused) {
      const row = childIntent(txnId, day, 'capture', msg, ctx.psp, undefined, amount, c.d.config.duplicateWindowMs);
      return recordAnswer(c, msg, ctx.psp, row, { state: 'declined', code: codes.unknownMerchant, reason: refused }, undefined);
    }
    for (;;) {
      const original = await findOriginal(c, ctx.psp, orig, terminal, merchantId);
      const row = childIntent(txnId, day, 'capture', msg, ctx.psp, original, amount, c.d.config.duplicateWindowMs);
      const answer = (code: string, reason: string, state: 'approved' | 'declined' = 'declined') =>
        recordAnswer(c, msg, ctx.psp, row, { state, code, reason }, original);
      if (!original) return answer(NO_SUCH_RECORD, 'original not found');
      if (await waitedForClaim(original, deadline)) continue;
      if (original.kind !== 'auth' || (original.state !== 'approved' && original.state !== 'captured'))
        return answer(INVALID_TRANSACTION, `original is ${original.state}`);
      if (original.state === 'captured') {
        const same = original.captured_amount !== null && BigInt(original.captured_amount) === amount;
        return answer(same ? APPROVED : INVALID_TRANSACTION, same ? 'already captured' : 'captured with another amount', same ? 'approved' : 'declined');
      }
      const authorized = BigInt(original.approved_amount ?? original.amount ?? '0');
      if (amount <= 0n || amount > authorized) return answer(INVALID_AMOUNT, 'amount above the authorization');
      // a partial capture of everything left is the final one
      const partial = sequence === 'partial' && amount < authorized;
      // a partial capture's own committed plan, prepared before anything is claimed (accounts resolved)
      const part = partial
        ? await c.d.ledger.prepareHold(
            txnId,
            {
              acquirer: original.acquirer!,
              terminal: original.terminal!,
              merchant: merchantId,
              currency: Number(original.currency),
              amount,
              direction: 'capture',
            },
            undefined,
            { day, commit: true },
          )
        : undefined;

      // Claim: the capture's row and 'capturing' as the original's next step, together.
      const claimed = await c.d.store
        .transact(async (tx) => {
          const ins = await tx.intent(row);
          if (!ins.inserted) return 'duplicate' as const;
          const ok = await tx.transition({
            txnId: original.id,
            day: original.day,
            seq: original.seq + 1,
            state: 'capturing',
            ref: txnId,
            amount,
            ...(partial ? { reason: PARTIAL_CLAIM } : {}),
          });
          if (!ok) throw new LostRace();
          return 'claimed' as const;
        })
        .catch((e: unknown) => {
          if (e instanceof LostRace) return 'lost' as const;
          throw e;
        });
      if (claimed === 'lost') continue; // a reversal or another capture came first: look again
      if (claimed === 'duplicate') return c.duplicate(msg, ctx.psp, row.dupKey!, [day], { amount, card: null });

      const acq = c.d.acquirers.get(original.acquirer!);
      const fields = adviceFields(acq.link.nextStan(), { ...c.subjectOf(original), processingCode: field(msg, 3) ?? '000000', amount: amount.toString() });
      // the acquirer is told which capture of how many this is, in the same field
      const seqText = field(msg, seqField);
      if (seqText !== undefined) fields[String(seqField)] = seqText;
      const acqMsg = new IsoMessage('0220', fields).set(7, transmissionDateTime());
      let code: string | undefined;
      let left = true;
      try {
        const res = await c.d.acquirers.request(original.acquirer!, acqMsg, [original.acquirer!]);
        if (c.d.faultHook) await c.fault('capture-after-send', original.id);
        code = mapResponseCode(acq.def.response_codes, field(res, 39));
      } catch (e) {
        c.d.log.warn({ err: errorSummary(e), txnId: original.id }, 'capture not acknowledged by the acquirer: store and forward');
        left = !isFastFailure(e);
      }
      // Answered 00: captured. Declined: the authorization is open again. Not answered (or the link down): the
      // advice is the PSP's word that the sale completed, so it is captured and the advice queued, repeated
      // (0221) until acknowledged; the PSP hears 00 once both are durable.
      const captured = code === undefined || code === APPROVED;
      await c.d.store.transact(async (tx) => {
        // The claim is ours unless the sweeper completed it (a capture unanswered far longer than any timeout).
        const remaining = authorized - amount;
        const ours = await tx.transition({
          txnId: original.id,
          day: original.day,
          seq: original.seq + 2,
          state: captured && !part ? 'captured' : 'approved',
          ref: txnId,
          ...(captured ? (part ? { amount: remaining, reason: 'partially captured' } : { amount }) : { reason: `capture declined ${code}` }),
        });
        if (!ours) throw new Error('the capture claim was completed by recovery before its answer was recorded');
        if (captured && part) {
          const rs = await c.timedLedger(
            'commit',
            () => c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.release(original.id, day, remaining), c.d.ledger.ops.hold(part)]),
            (x) => !x.some((r) => r instanceof Error),
          );
          const err = rs.find((r) => r instanceof Error);
          if (err) throw err;
        } else if (captured) {
          const [r] = await c.timedLedger(
            'commit',
            () => c.d.ledger.runInTx(tx.client, [c.d.ledger.ops.commit(original.id, amount < authorized ? { amount } : undefined)]),
            ([x]) => !(x instanceof Error),
          );
          if (r instanceof Error) throw r;
        }
        if (code === undefined) {
          // a partial capture's advice is filed under the capture's own id: an authorization has several
          await tx.queueAdvice(
            {
              txn_id: part ? txnId : original.id,
              txn_day: part ? day : original.day,
              acquirer: original.acquirer!,
              mti: '0220',
              fields,
              expires_at: new Date(Date.now() + c.d.config.saf.expireAfterMs),
            },
            left,
          );
        }
        await tx.transition({
          txnId,
          day,
          seq: 1,
          state: captured ? 'approved' : 'declined',
          code: code ?? APPROVED,
          reason: code === undefined ? 'captured; advice queued' : captured ? 'captured' : 'acquirer',
        });
      });
      if (code === undefined) c.d.kickSaf();
      return pspResponse(msg, code ?? APPROVED, { rrn: original.acq_rrn, authCode: original.auth_code });
    }
  });
}

class LostRace extends Error {}

/**
 * Pauses, and says so, while the original is claimed by a capture at the acquirer (another instance's, as this
 * one serializes on the key) and `deadline` has not passed; the caller then looks at the original again.
 */
export async function waitedForClaim(original: TxnRow, deadline: number): Promise<boolean> {
  if (original.state !== 'capturing' || Date.now() >= deadline) return false;
  await new Promise((r) => setTimeout(r, CLAIM_WAIT_MS));
  return true;
}

/** How long a capture or reversal waits for a claim held elsewhere: the longest acquirer answer, and a margin. */
export function maxWait(c: FlowContext): number {
  return Math.max(1_000, ...c.d.acquirers.all().map((a) => a.timeoutMs)) + 2_000;
}

/** The authorization (or financial request) a capture or reversal names by DE90, DE41 and DE42. */
export function findOriginal(
  c: FlowContext,
  psp: string,
  orig: { mti: string; stan: string; dt: string },
  terminal: string,
  merchant: string,
): Promise<TxnRow | undefined> {
  return c.d.store.original(psp, { cls: mtiClass(orig.mti), stan: orig.stan, dt: orig.dt, terminal, merchant }, daysOfDe7(orig.dt));
}

/** A capture or reversal answered without an acquirer round trip: its row with the answer, one write (or the replay of an earlier copy). */
export async function recordAnswer(
  c: FlowContext,
  msg: IsoMessage,
  psp: string,
  row: Intent,
  a: { state: 'declined' | 'acknowledged' | 'approved'; code: string; reason: string },
  original: TxnRow | undefined,
): Promise<IsoMessage> {
  const res = await c.d.store.intent({ ...row, answer: a });
  if (!res.inserted) return c.duplicate(msg, psp, row.dupKey!, [row.day], { amount: row.amount, card: null });
  return pspResponse(msg, a.code, { rrn: original?.acq_rrn ?? null, authCode: original?.auth_code ?? null });
}
