/**
 * The ledger's decisions, pure: given what load() read (plans, accounts, recorded rejections) and a list of
 * requests in arrival order, the answer to each and the rows to write. No I/O, so the model test can run it
 * in memory on many more cases than through PostgreSQL (docs/ledger.md, "How a batch is decided").
 *
 * Plans follow the shumway model: with D = a plan's cumulative net diff on an account, HOLD contributes
 * min(D,0) to pending debits and max(D,0) to pending credits; COMMIT moves D into posted; ROLLBACK clears.
 */
import { SwitchError, type ErrorCode, type ErrorParams } from '../errors.js';
import type { FeeSchedule } from './fees.js';
import { bad, batchRejKey, hashOf, max0, min0 } from './validate.js';
import type {
  AccountDelta,
  CommitResult,
  HoldResult,
  HoldRow,
  LedgerOp,
  LedgerResult,
  LoadedState,
  PlanKind,
  RPosting,
  RollbackResult,
  WPlan,
  Writes,
} from './types.js';

export const compensationId = (planId: string): string => `${planId}:reversal`;

/** Plans with an amount and a fee of their own: payments, captures, refunds and their compensations. */
export const isMoneyKind = (k: PlanKind): boolean => k !== 'postings';

/** The kinds of plan that a card transaction holds or commits, with owners and postings derived from them. */
export type CardKind = 'payment' | 'capture' | 'refund';
export const isCardKind = (k: PlanKind): k is CardKind => k === 'payment' || k === 'capture' || k === 'refund';

/** A payment's or capture's fee (≥ 0), or a refund's signed fee (fees.refundFee; docs/ledger.md, "Plan kinds"). */
export function feeFor(fees: FeeSchedule, kind: CardKind, acquirer: string, terminal: string, amount: bigint): bigint {
  return kind === 'refund' ? fees.refundFee(acquirer, terminal, amount) : fees.fee(acquirer, terminal, amount);
}

/**
 * The postings of a payment (acquirer → merchant `amount`, merchant → fees `fee`) or of a refund (merchant →
 * acquirer `amount`; fee > 0 merchant → fees, fee < 0 fees → merchant). The fee account may be absent only when
 * the fee is zero.
 */
export function paymentPostings(
  kind: CardKind,
  ids: { acq: number; mer: number; fee: number | undefined },
  amount: bigint,
  fee: bigint,
  currency: number,
): RPosting[] {
  const out: RPosting[] = [];
  if (kind === 'refund') {
    if (amount > 0n) out.push({ from: ids.mer, to: ids.acq, amount, currency });
  } else if (amount > 0n) out.push({ from: ids.acq, to: ids.mer, amount, currency });
  if (fee > 0n) out.push({ from: ids.mer, to: ids.fee!, amount: fee, currency });
  else if (fee < 0n) out.push({ from: ids.fee!, to: ids.mer, amount: -fee, currency });
  return out;
}

/** A payment or refund plan's accounts, read from its hold (batch 1: the amount's posting first, then the fee's). */
export function planAccounts(p: Pick<WPlan, 'kind' | 'postings'>): { acq: number; mer: number; fee: number | undefined; currency: number } | undefined {
  const first = p.postings.filter((x) => x.batchId === 1);
  const main = first[0];
  if (!main || !isCardKind(p.kind)) return undefined;
  const f = first[1];
  if (p.kind === 'refund') return { acq: main.to, mer: main.from, fee: f ? (f.from === main.from ? f.to : f.from) : undefined, currency: main.currency };
  return { acq: main.from, mer: main.to, fee: f?.to, currency: main.currency };
}

/**
 * The net diff of postings per account id (credits minus debits), added into `into`: what a plan's hold
 * moves on each account, the same here and on the hot path (ledger.ts prepareHold).
 */
export function netDiff(ps: ReadonlyArray<RPosting>, into: Map<number, bigint> = new Map()): Map<number, bigint> {
  for (let i = 0; i < ps.length; i++) {
    const x = ps[i]!;
    into.set(x.from, (into.get(x.from) ?? 0n) - x.amount);
    into.set(x.to, (into.get(x.to) ?? 0n) + x.amount);
  }
  return into;
}

export function decide(state: LoadedState, reqs: readonly LedgerOp[], fees: FeeSchedule): { results: Array<LedgerResult | Error>; writes: Writes } {
  const { plans, accounts, rejections } = state;
  const writes: Writes = { plans: [], postings: [], journal: [], rejections: [], deltas: new Map(), dirty: [] };
  const dirty = new Set<WPlan>();

  const cumulative = (p: WPlan): Map<number, bigint> => netDiff(p.postings);

  /** Pending-balance changes when a plan's cumulative diff goes from `before` to `after`. */
  const pendingChange = (before: Map<number, bigint>, after: Map<number, bigint>) => {
    const out = new Map<number, { min: bigint; max: bigint }>();
    const one = (id: number, b: bigint, a: bigint) => {
      const dm = min0(a) - min0(b);
      const dx = max0(a) - max0(b);
      if (dm !== 0n || dx !== 0n) out.set(id, { min: dm, max: dx });
    };
    for (const [id, a] of after) one(id, before.get(id) ?? 0n, a);
    for (const [id, b] of before) if (!after.has(id)) one(id, b, 0n);
    return out;
  };

  const applyAcc = (id: number, own: bigint, mn: bigint, mx: bigint) => {
    const a = accounts.get(id)!;
    a.own += own;
    a.min += mn;
    a.max += mx;
    let d = writes.deltas.get(id);
    if (!d) {
      d = { account: id, currency: a.currency, own: 0n, min: 0n, max: 0n } satisfies AccountDelta;
      writes.deltas.set(id, d);
    }
    d.own += own;
    d.min += mn;
    d.max += mx;
  };

  const validatePostings = (planId: string, ps: readonly RPosting[]): SwitchError | undefined => {
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i]!;
      for (const id of [p.from, p.to]) {
        const a = accounts.get(id);
        if (!a) return new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: String(id) });
        if (a.currency !== p.currency)
          return new SwitchError('SW_ERR_LEDGER_CURRENCY_MISMATCH', { planId, index: i, currency: p.currency, account: String(id) });
      }
    }
    return undefined;
  };

  /** No account flagged no-negative may end with min available < 0 (their balances were loaded under lock). */
  const fundsError = (planId: string, change: Map<number, { min: bigint; max: bigint }>): SwitchError | undefined => {
    for (const [id, c] of change) {
      const a = accounts.get(id)!;
      if (a.noNegative && c.min < 0n && a.own + a.min + c.min < 0n) return new SwitchError('SW_ERR_LEDGER_INSUFFICIENT_FUNDS', { planId, account: String(id) });
    }
    return undefined;
  };

  const addBatchTo = (p: WPlan, batchId: number, ps: readonly RPosting[], hash: string, op: 'hold' | 'batch') => {
    for (let seq = 0; seq < ps.length; seq++) {
      const x = ps[seq]!;
      writes.postings.push({ from: x.from, to: x.to, amount: x.amount, currency: x.currency, planId: p.id, day: p.day, batchId, seq });
      p.postings.push({ from: x.from, to: x.to, amount: x.amount, currency: x.currency, batchId });
    }
    p.lastBatch = batchId;
    // a commit's internal batches too: load() reads every journalled batch back, so a later group sees the same ids
    p.batchHashes.set(batchId, hash);
    if (op === 'hold') {
      // the plan row records the hold (step 1); the journal starts at step 2
      p.lastStep = 1;
      return;
    }
    p.lastStep += 1;
    writes.journal.push({ planId: p.id, day: p.day, step: p.lastStep, op: 'batch', batchId, hash });
  };

  const touch = (p: WPlan) => {
    if (!p.isNew && !dirty.has(p)) {
      dirty.add(p);
      writes.dirty.push(p);
    }
  };

  const reject = (key: string, hash: string, e: SwitchError): SwitchError => {
    writes.rejections.push({ key, hash, code: e.code, params: e.params });
    rejections.set(key, { hash, code: e.code, params: e.params });
    return e;
  };

  const mismatch = (planId: string, op: string) => new SwitchError('SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH', { planId, op });

  function holdResult(p: WPlan): HoldResult {
    const r: HoldResult = { planId: p.id, state: 'HOLD', batchId: 1 };
    if (isMoneyKind(p.kind)) {
      r.amount = p.amount ?? 0n;
      r.fee = p.fee ?? 0n;
    }
    return r;
  }

  function closeResult(p: WPlan): CommitResult | RollbackResult {
    if (p.state === 'ROLLBACK') return { planId: p.id, state: 'ROLLBACK' };
    const r: CommitResult = { planId: p.id, state: 'COMMIT' };
    if (isMoneyKind(p.kind)) {
      r.amount = p.finalAmount ?? 0n;
      r.fee = p.finalFee ?? 0n;
    }
    return r;
  }

  /** Closes plan `p` (in HOLD): COMMIT moves D into posted, ROLLBACK only clears the pending part. */
  function close(p: WPlan, op: 'commit' | 'rollback', hash: string): void {
    for (const [id, v] of cumulative(p)) {
      if (v === 0n) continue;
      if (op === 'commit') applyAcc(id, v, -min0(v), -max0(v));
      else applyAcc(id, 0n, -min0(v), -max0(v));
    }
    p.state = op === 'commit' ? 'COMMIT' : 'ROLLBACK';
    p.closeHash = hash;
    p.lastStep += 1;
    writes.journal.push({ planId: p.id, day: p.day, step: p.lastStep, op, batchId: null, hash });
    touch(p);
  }

  /** A new plan with batch 1 = `postings` (a hold); with `commitHash` committed in the same step. */
  function newPlan(
    r: { planId: string; day: string; hash: string; postings: readonly RPosting[]; row: Writes['plans'][number]['row'] },
    commitHash?: string,
  ): SwitchError | WPlan {
    const err = validatePostings(r.planId, r.postings);
    if (err) return err;
    const np: WPlan = {
      id: r.planId,
      day: r.day,
      isNew: true,
      state: 'HOLD',
      kind: r.row.kind,
      lastBatch: 0,
      lastStep: 0,
      holdHash: r.hash,
      closeHash: null,
      amount: r.row.amount,
      fee: r.row.fee,
      finalAmount: null,
      finalFee: null,
      acquirer: r.row.acquirer,
      terminal: r.row.terminal,
      merchant: r.row.merchant,
      currency: r.row.currency,
      postings: [],
      batchHashes: new Map(),
      dirty: false,
    };
    const change = pendingChange(new Map(), netDiff(r.postings));
    const ferr = fundsError(r.planId, change);
    if (ferr) return ferr;
    for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
    plans.set(np.id, np);
    writes.plans.push({ plan: np, hash: r.hash, row: r.row });
    addBatchTo(np, 1, r.postings, r.hash, 'hold');
    if (commitHash) {
      if (isMoneyKind(np.kind)) {
        np.finalAmount = np.amount;
        np.finalFee = np.fee;
      }
      for (const [id, v] of cumulative(np)) if (v !== 0n) applyAcc(id, v, -min0(v), -max0(v));
      np.state = 'COMMIT';
      np.closeHash = commitHash;
      np.lastStep = 2;
      writes.journal.push({ planId: np.id, day: np.day, step: 2, op: 'commit', batchId: null, hash: commitHash });
    }
    return np;
  }

  /**
   * A partial release (a partial reversal or capture) or a raise (an incremental authorization): the hold of a
   * payment plan brought to `keep`, its fee with it, as two internal batches (the hold reverted, the new one),
   * the plan still HOLD; `finalAmount` records what it now holds. A release does nothing when the plan holds
   * `keep` or less already, a raise nothing when it holds that much; a raise is checked for funds like a hold.
   */
  function resizeHold(p: WPlan, keep: bigint, why: 'release' | 'raise'): LedgerResult | Error {
    const held = p.finalAmount ?? p.amount;
    if (!isCardKind(p.kind) || held === null) return bad(p.id, `a partial ${why} applies to payment, capture and refund plans only`);
    if (why === 'release' && keep >= held) return { planId: p.id, released: 'nothing' };
    if (why === 'raise' && keep === held) return { planId: p.id, raised: 'nothing' };
    if (why === 'raise' && keep < held) return bad(p.id, 'a raise cannot bring a hold down (release it)');
    const ids = planAccounts(p);
    if (!ids) return bad(p.id, 'payment plan has no hold posting');
    const fee = ids.fee !== undefined ? feeFor(fees, p.kind, p.acquirer ?? '', p.terminal ?? '', keep) : 0n;
    const next = paymentPostings(p.kind, ids, keep, fee, ids.currency);
    const change = pendingChange(cumulative(p), netDiff(next));
    const ferr = fundsError(p.id, change);
    if (ferr) return ferr;
    for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
    const hash = hashOf([why, p.id, String(keep)]);
    addBatchTo(
      p,
      p.lastBatch + 1,
      p.postings.map((x) => ({ from: x.to, to: x.from, amount: x.amount, currency: x.currency })),
      hash,
      'batch',
    );
    addBatchTo(p, p.lastBatch + 1, next, hash, 'batch');
    p.finalAmount = keep;
    p.finalFee = fee;
    touch(p);
    return why === 'raise' ? { planId: p.id, raised: 'raised' } : { planId: p.id, released: 'partial' };
  }

  const results: Array<LedgerResult | Error> = [];
  for (const r of reqs) {
    const p = plans.get(r.planId);
    if (r.op === 'hold') {
      const key = `hold:${r.planId}`;
      const rej = rejections.get(key);
      if (rej) {
        results.push(rej.hash === r.hash ? new SwitchError(rej.code as ErrorCode, rej.params as ErrorParams) : mismatch(r.planId, 'hold'));
        continue;
      }
      if (p) {
        if (p.holdHash !== r.hash) results.push(mismatch(r.planId, 'hold'));
        else results.push(r.commitHash ? closeResult(p) : holdResult(p));
        continue;
      }
      const np = newPlan(r, r.commitHash);
      if (np instanceof SwitchError) {
        results.push(np.code === 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' ? reject(key, r.hash, np) : np);
        continue;
      }
      results.push(r.commitHash ? closeResult(np) : holdResult(np));
      continue;
    }
    if (r.op === 'raise') {
      if (!p) results.push(new SwitchError('SW_ERR_LEDGER_PLAN_NOT_FOUND', { planId: r.planId }));
      else if (p.state !== 'HOLD') results.push(new SwitchError('SW_ERR_LEDGER_PLAN_STATE', { planId: p.id, state: p.state, op: 'raise' }));
      else results.push(resizeHold(p, r.amount, 'raise'));
      continue;
    }
    if (r.op === 'release') {
      if (!p || p.state === 'ROLLBACK') {
        results.push({ planId: r.planId, released: 'nothing' });
        continue;
      }
      if (p.state === 'HOLD' && r.keep !== undefined && r.keep > 0n) {
        results.push(resizeHold(p, r.keep, 'release'));
        continue;
      }
      if (p.state === 'HOLD') {
        close(p, 'rollback', hashOf(['rollback', p.id]));
        results.push({ planId: p.id, released: 'rollback' });
        continue;
      }
      // Committed money goes back by a compensating plan (created committed, idempotent by its id).
      // Its row carries the original's owners, amount and fee (what it moves back), kind 'compensation'.
      const cid = compensationId(p.id);
      if (plans.has(cid) || !isCardKind(p.kind) || p.currency === null) {
        results.push({ planId: p.id, released: plans.has(cid) ? 'compensated' : 'nothing' });
        continue;
      }
      const ids = planAccounts(p);
      const amount = p.finalAmount ?? p.amount ?? 0n;
      const fee = p.finalFee ?? p.fee ?? 0n;
      if (!ids || (amount <= 0n && fee === 0n) || (fee !== 0n && ids.fee === undefined)) {
        results.push({ planId: p.id, released: 'nothing' });
        continue;
      }
      const postings = paymentPostings(p.kind, ids, amount, fee, ids.currency).map((x) => ({ from: x.to, to: x.from, amount: x.amount, currency: x.currency }));
      const hash = hashOf(['hold', cid, postings.map((x) => [x.from, x.to, String(x.amount), x.currency]), null, null]);
      const row: HoldRow = {
        kind: 'compensation',
        acquirer: p.acquirer,
        terminal: p.terminal,
        merchant: p.merchant,
        currency: p.currency,
        amount,
        fee,
        panHash: null,
        panMasked: null,
      };
      const np = newPlan({ planId: cid, day: r.day, hash, postings, row }, hashOf(['commit', cid]));
      results.push(np instanceof SwitchError ? np : { planId: p.id, released: 'compensated' });
      continue;
    }
    if (!p) {
      results.push(new SwitchError('SW_ERR_LEDGER_PLAN_NOT_FOUND', { planId: r.planId }));
      continue;
    }
    if (r.op === 'batch') {
      // An accepted batch answers replays; a rejected payload stays rejected; a rejected batch id stays free
      // for a different payload (the rejection key includes the payload hash).
      const prev = p.batchHashes.get(r.batchId);
      if (prev !== undefined) {
        results.push(prev === r.hash ? { planId: p.id, batchId: r.batchId } : mismatch(r.planId, `batch ${r.batchId}`));
        continue;
      }
      const key = batchRejKey(r);
      const rej = rejections.get(key);
      if (rej) {
        results.push(new SwitchError(rej.code as ErrorCode, rej.params as ErrorParams));
        continue;
      }
      if (p.state !== 'HOLD') {
        results.push(new SwitchError('SW_ERR_LEDGER_PLAN_STATE', { planId: p.id, state: p.state, op: 'add a batch' }));
        continue;
      }
      if (r.batchId !== p.lastBatch + 1) {
        results.push(new SwitchError('SW_ERR_LEDGER_BATCH_ORDER', { planId: p.id, batchId: r.batchId, expected: p.lastBatch + 1 }));
        continue;
      }
      const err = validatePostings(r.planId, r.postings);
      if (err) {
        results.push(err);
        continue;
      }
      const change = pendingChange(cumulative(p), netDiff(r.postings, cumulative(p)));
      const ferr = fundsError(r.planId, change);
      if (ferr) {
        results.push(reject(key, r.hash, ferr));
        continue;
      }
      for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
      addBatchTo(p, r.batchId, r.postings, r.hash, 'batch');
      touch(p);
      results.push({ planId: p.id, batchId: r.batchId });
      continue;
    }
    // commit / rollback
    const target = r.op === 'commit' ? 'COMMIT' : 'ROLLBACK';
    if (p.state !== 'HOLD') {
      if (p.state === target) results.push(p.closeHash === r.hash ? closeResult(p) : mismatch(r.planId, r.op));
      else results.push(new SwitchError('SW_ERR_LEDGER_PLAN_STATE', { planId: p.id, state: p.state, op: r.op }));
      continue;
    }
    if (r.op === 'commit' && (r.finalAmount !== undefined || r.finalPostings !== undefined)) {
      let finalPs: RPosting[];
      if (r.finalAmount !== undefined) {
        if (!isCardKind(p.kind) || p.amount === null) {
          results.push(bad(p.id, 'a final amount applies to payment, capture and refund plans only; give final postings'));
          continue;
        }
        if (r.finalAmount > (p.finalAmount ?? p.amount)) {
          results.push(bad(p.id, 'final amount exceeds the held amount'));
          continue;
        }
        const ids = planAccounts(p);
        if (!ids) {
          results.push(bad(p.id, 'payment plan has no hold posting'));
          continue;
        }
        const finalFee = feeFor(fees, p.kind, p.acquirer ?? '', p.terminal ?? '', r.finalAmount);
        if (finalFee !== 0n && ids.fee === undefined) {
          results.push(bad(p.id, 'payment plan held no fee; cannot charge one on capture'));
          continue;
        }
        finalPs = paymentPostings(p.kind, ids, r.finalAmount, finalFee, ids.currency);
        p.finalAmount = r.finalAmount;
        p.finalFee = finalFee;
      } else {
        finalPs = r.finalPostings!;
        const err = validatePostings(r.planId, finalPs);
        if (err) {
          results.push(err);
          continue;
        }
      }
      const before = cumulative(p);
      const revert = p.postings.map((x) => ({ from: x.to, to: x.from, amount: x.amount, currency: x.currency }));
      const change = pendingChange(before, netDiff(finalPs));
      const ferr = fundsError(r.planId, change);
      if (ferr) {
        results.push(ferr);
        continue;
      }
      for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
      if (revert.length > 0) addBatchTo(p, p.lastBatch + 1, revert, r.hash, 'batch');
      if (finalPs.length > 0) addBatchTo(p, p.lastBatch + 1, finalPs, r.hash, 'batch');
    } else if (r.op === 'commit' && isCardKind(p.kind)) {
      // what the plan holds: its amount, or less after a partial release
      p.finalAmount ??= p.amount;
      p.finalFee ??= p.fee;
    }
    close(p, r.op, r.hash);
    results.push(closeResult(p));
  }
  return { results, writes };
}
