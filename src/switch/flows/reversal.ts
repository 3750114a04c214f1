/**
 * 0400 / 0420 reversal from the PSP (docs/switch.md, "Flows"):
 *
 *   find the original (DE90 + DE41 + DE42)
 *     ├─ none: an orphan ─ acknowledge, record it (the original is declined should it arrive later)
 *     ├─ approved or captured ─ ONE transaction: 'reversed' as its next step, its money released (hold rolled
 *     │                         back, or committed money moved back), the reversal queued for its acquirer,
 *     │                         the reversal's own row; then 00
 *     ├─ capturing (a capture at the acquirer) ─ wait for it, then look again
 *     ├─ still in flight ('sent', on another instance) ─ 91, nothing recorded: the PSP's repeat is worked later
 *     └─ anything else (timed out, declined, reversed, expired) ─ acknowledged, nothing moves
 */
import type { IsoMessage } from '../../iso8583/index.js';
import type { PspRequestContext } from '../../net/index.js';
import { newTxnId } from '../ids.js';
import { dayOf, localDateTime, mtiClass, orphanKey, pspKey, requestKeys as keysOf } from '../keys.js';
import { UNROUTED, txnIdTime, type Intent, type SafEntry, type TxnRow } from '../store/index.js';
import { errorSummary } from '../../errors.js';
import type { LedgerOp } from '../../ledger/index.js';
import { parseOriginalData, pspResponse } from '../translate.js';
import { APPROVED, INVALID_TRANSACTION } from '../response-codes.js';
import { childIntent, field, hasAll, type FlowContext } from './context.js';
import { findOriginal, maxWait, recordAnswer, waitedForClaim } from './completion.js';

export async function reverse(c: FlowContext, msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
  const codes = c.codes;
  if (!hasAll(msg, [7, 11, 41, 42])) return pspResponse(msg, codes.formatError);
  // The original is named by DE90 (original MTI, DE11, DE7): its DE7 leads the key it was filed under.
  const orig = parseOriginalData(field(msg, 90));
  if (!orig) return pspResponse(msg, codes.formatError);
  const terminal = field(msg, 41)!;
  const merchantId = field(msg, 42)!;
  const safMti: '0400' | '0420' = mtiClass(msg.mti) === '0400' ? '0400' : '0420';
  const amountText = field(msg, 4);
  return c.mutex.run(pspKey(ctx.psp, orig.stan, terminal, merchantId), async () => {
    const now = Date.now();
    const txnId = newTxnId(now);
    const day = dayOf(now);
    const deadline = now + maxWait(c);
    for (;;) {
      const original = await findOriginal(c, ctx.psp, orig, terminal, merchantId);
      const row = childIntent(
        txnId,
        day,
        'reversal',
        msg,
        ctx.psp,
        original,
        amountText && /^[0-9]{1,12}$/.test(amountText) ? BigInt(amountText) : null,
        c.d.config.duplicateWindowMs,
      );
      const ack = (reason: string) => recordAnswer(c, msg, ctx.psp, row, { state: 'acknowledged', code: APPROVED, reason }, original);
      // merchant.psps (docs/security.md, "PSP identity"): a PSP the merchant does not accept files no orphan for it
      // and is answered unknownMerchant, recorded. A reversal of this PSP's own original still goes through: it
      // releases money the PSP was allowed to hold when it authorized, should the merchant have dropped it since.
      const refused = original ? null : c.refusedAccess(merchantId, ctx.psp);
      if (refused) return recordAnswer(c, msg, ctx.psp, row, { state: 'declined', code: codes.unknownMerchant, reason: refused }, undefined);
      if (!original) {
        // Orphan: acknowledge, record, and decline the original should it arrive later (on any instance). The
        // original's decline is written now, under the very key the original will be filed under: if it is
        // being written at this moment on another instance, one of the two inserts collides, so either the
        // original is declined or this reversal looks again and finds it (docs/faults.md F11).
        const key = orphanKey(orig.stan, terminal, merchantId);
        const res = await c.d.store
          .transact(async (tx) => {
            const ins = await tx.intent({ ...row, answer: { state: 'acknowledged', code: APPROVED, reason: 'orphan reversal' } });
            if (!ins.inserted) return 'duplicate' as const;
            const decline = await tx.intent(declinedOriginal(c, msg, ctx.psp, orig, day));
            if (!decline.inserted) throw new OriginalArrived();
            await tx.orphan(ctx.psp, key, txnId);
            return 'orphan' as const;
          })
          .catch((e: unknown) => {
            if (e instanceof OriginalArrived) return 'arrived' as const;
            throw e;
          });
        if (res === 'arrived') continue; // the original was written meanwhile: look again
        if (res === 'duplicate') return c.duplicate(msg, ctx.psp, row.dupKey!, [day], { amount: row.amount, card: null });
        return pspResponse(msg, APPROVED);
      }
      if (await waitedForClaim(original, deadline)) continue;
      const standing = BigInt(original.approved_amount ?? original.amount ?? '0');
      const keep = keptAmount(msg, standing);
      let change: Reversing | undefined;
      if (original.state === 'captured' || (original.kind === 'financial' && original.state === 'approved')) {
        // money refunded out of a capture cannot also be taken back by reversing it: that would give it back twice
        const { refunded } = await c.d.store.childTotals(original.id);
        if (refunded > 0n)
          return recordAnswer(
            c,
            msg,
            ctx.psp,
            row,
            { state: 'declined', code: INVALID_TRANSACTION, reason: 'captured and refunded: refund the rest' },
            original,
          );
      }
      if (keep !== null && original.kind !== 'auth' && original.kind !== 'financial') {
        // a refund is reversed whole or not at all (a refund of less is another refund)
        return recordAnswer(c, msg, ctx.psp, row, { state: 'declined', code: INVALID_TRANSACTION, reason: `partial reversal of a ${original.kind}` }, original);
      }
      if (keep !== null && original.state === 'approved') {
        // Partial: the authorization stands at `keep`: its next step says so, the hold comes down to it, and the
        // reversal (DE95 the amount that stands) is queued under the reversal's own id (an authorization can be
        // partially reversed more than once, and fully after that).
        const saf = c.reversalEntry(txnId, day, original.acquirer!, safMti, { ...c.subjectOf(original), amount: standing.toString() });
        saf.fields['95'] = replacementAmounts(keep);
        change = {
          state: 'approved',
          amount: keep,
          reason: 'partially reversed',
          answer: `partially reversed to ${keep}`,
          release: c.d.ledger.ops.release(original.id, day, keep),
          saf,
        };
      } else if (keep !== null && original.state === 'captured') {
        // the money has moved: a partial reversal of a capture is a refund, not worked here (docs/switch.md)
        return recordAnswer(
          c,
          msg,
          ctx.psp,
          row,
          { state: 'declined', code: INVALID_TRANSACTION, reason: 'partial reversal of a captured transaction' },
          original,
        );
      } else if (original.state === 'approved' || original.state === 'captured') {
        const saf = c.reversalEntry(original.id, original.day, original.acquirer!, safMti, c.subjectOf(original));
        change = { state: 'reversed', answer: 'reversed', release: c.d.ledger.ops.release(original.id, day), saf };
      }
      if (change) {
        // ONE transaction: the original's next step, the reversal's own row, the money released, the reversal queued
        const ch = change;
        const outcome = await c.d.store
          .transact(async (tx) => {
            const step = {
              txnId: original.id,
              day: original.day,
              seq: original.seq + 1,
              state: ch.state,
              ref: txnId,
              ...(ch.amount !== undefined ? { amount: ch.amount, reason: ch.reason } : {}),
            };
            if (!(await tx.transition(step))) return 'lost' as const;
            const ins = await tx.intent({ ...row, answer: { state: 'acknowledged', code: APPROVED, reason: ch.answer } });
            if (!ins.inserted) throw new DuplicateReversal();
            const [r] = await c.timedLedger(
              'release',
              () => c.d.ledger.runInTx(tx.client, [ch.release]),
              ([x]) => !(x instanceof Error),
            );
            if (r instanceof Error) throw r;
            await tx.queueSaf(ch.saf);
            return 'reversed' as const;
          })
          .catch((e: unknown) => {
            if (e instanceof DuplicateReversal) return 'duplicate' as const;
            throw e;
          });
        if (outcome === 'lost') continue; // a capture or another reversal came first: look again
        if (outcome === 'duplicate') return c.duplicate(msg, ctx.psp, row.dupKey!, [day], { amount: row.amount, card: null });
        c.d.kickSaf();
        // the turnover it counted goes back, on the day and month of the authorization (docs/routing.md, "Turnover limits")
        await releaseTurnover(c, original, ch.state === 'reversed' ? standing : standing - keep!, ch.state === 'reversed' ? 1 : 0);
        return pspResponse(msg, APPROVED, { rrn: original.acq_rrn, authCode: original.auth_code });
      }
      if (original.state === 'sent' || original.state === 'capturing') {
        // Still in flight (on another instance: this one serializes on the key). Acknowledging now could
        // lose the reversal if the original is approved after it; answer 91 and record nothing, so the
        // PSP's repeat (0401/0421) is worked again once the original has its outcome.
        return pspResponse(msg, codes.unavailable);
      }
      // Timed out (our reversal is already queued), already reversed, declined, failed or expired: nothing to move.
      return ack(`original is ${original.state}`);
    }
  });
}

class DuplicateReversal extends Error {}

/** Gives back to the merchant's and terminal's turnover what a reversal took back (never below zero; logged if it fails). */
async function releaseTurnover(c: FlowContext, original: TxnRow, amount: bigint, count: number): Promise<void> {
  if (!c.d.turnover || !original.currency || !original.terminal || amount <= 0n) return;
  const subjects = [
    { kind: 'merchant' as const, id: original.psp_merchant },
    { kind: 'terminal' as const, id: original.terminal },
  ];
  await c.d.turnover
    .release(subjects, original.currency, Number(amount), count, txnIdTime(original.id))
    .catch((e: unknown) => c.d.log.warn({ err: errorSummary(e), txnId: original.id }, 'turnover not given back'));
}

/** What a reversal changes: the original's next step, the answer's reason, the ledger's release and the queued reversal. */
interface Reversing {
  state: 'approved' | 'reversed';
  amount?: bigint;
  reason?: string;
  answer: string;
  release: LedgerOp;
  saf: SafEntry;
}

/**
 * The amount a partial reversal leaves standing (docs/switch.md, "Flows"): DE95's actual amount (its first 12
 * digits) or, without DE95, a DE4 below the amount standing. null for a full reversal: no DE95 or DE4, or one
 * that is not below what stands (a reversal of zero is full too).
 */
function keptAmount(msg: IsoMessage, standing: bigint): bigint | null {
  const de95 = field(msg, 95);
  const text = de95 !== undefined && /^[0-9]{12}/.test(de95) ? de95.slice(0, 12) : field(msg, 4);
  if (text === undefined || !/^[0-9]{1,12}$/.test(text)) return null;
  const v = BigInt(text);
  return v > 0n && v < standing ? v : null;
}

/** DE95 of a partial reversal to the acquirer: the actual amount, and zeros for the settlement amount and fees. */
function replacementAmounts(keep: bigint): string {
  return `${keep.toString().padStart(12, '0')}${'0'.repeat(12)}C00000000C00000000`;
}
class OriginalArrived extends Error {}

/** The decline of an original reversed before it arrived, filed under the original's own duplicate key (DE90's MTI, DE11, DE7). */
function declinedOriginal(c: FlowContext, msg: IsoMessage, psp: string, orig: { mti: string; stan: string; dt: string }, day: string): Intent {
  const terminal = field(msg, 41)!;
  const merchant = field(msg, 42)!;
  const cls = mtiClass(orig.mti);
  // DE12/DE13 of a reversal are its original's (ISO 8583 practice), so the decline is filed under the key the
  // original will have; it collides with the original in any case on DE7, DE11, DE41, DE42 (switch_intent_original)
  const { key } = keysOf(cls, orig.stan, terminal, merchant, localDateTime(field(msg, 12), field(msg, 13)), Date.now(), c.d.config.duplicateWindowMs);
  return {
    txnId: newTxnId(),
    attempt: 1,
    day,
    kind: cls === '0200' ? 'financial' : 'auth',
    psp,
    mti: orig.mti,
    pspStan: orig.stan,
    pspTerminal: terminal,
    pspMerchant: merchant,
    pspDt: orig.dt,
    dupKey: key,
    originalId: null,
    originalDay: null,
    amount: null,
    currency: field(msg, 49) ?? null,
    panHash: null,
    panMasked: null,
    ...UNROUTED,
    answer: { state: 'declined', code: c.codes.reversedBeforeArrival, reason: 'reversed before it arrived' },
  };
}
