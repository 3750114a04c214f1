/**
 * Double-entry posting plans in PostgreSQL (docs/ledger.md; the shumway model).
 *
 * An account keeps `own` (posted), `min_acc` (≤ 0, minus the debits pending) and `max_acc` (≥ 0, credits
 * pending). A plan in HOLD has batches of postings; with D = the plan's cumulative net diff on an account,
 * the plan contributes min(D,0) to min_acc and max(D,0) to max_acc. COMMIT moves D into own and clears the
 * pending part; ROLLBACK only clears. min available = own + min_acc, max available = own + max_acc.
 *
 * Three ways in, one decision (decide.ts):
 *  - the API (hold, addBatch, commit, rollback, release): group-committed, concurrent calls share one
 *    transaction: load (store.ts) → decide → write, one statement each;
 *  - `runInTx`: the same load → decide → write on a caller's client, inside the caller's transaction (the
 *    switch commits a capture or a reversal atomically with its own rows);
 *  - `prepareHold` + `holdSql`: a payment hold written by the caller's own statement, with no lock and no read
 *    (the switch's authorization outcome). Holds that debit a no-negative account go through `runInTx`.
 * Balance changes are appended as deltas and folded into the account rows by `fold()` (every foldEveryMs).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SwitchError } from '../errors.js';
import { createGroupCommit, isConnectionError, type GroupCommitter } from '../store/group-commit.js';
import { migrate } from '../store/migrate.js';
import { minorUnit } from './currency.js';
import { decide, feeFor, netDiff, paymentPostings } from './decide.js';
import { NO_FEES } from './fees.js';
import * as sql from './store.js';
import { checkLedger } from './audit.js';
import { reconcile } from './recon.js';
import { lastSettlementRuns } from './settlement.js';
import {
  bad,
  big,
  checkAmount,
  checkDay,
  checkMeta,
  checkPaymentOwners,
  checkPlanId,
  CODE_RE,
  hashOf,
  isPayment,
  MAX_POSTINGS,
  max0,
  min0,
  postingsForHash,
  utcDay,
} from './validate.js';
import type {
  AccountInfo,
  AccountKind,
  AccountSpec,
  BatchResult,
  CommitResult,
  HoldResult,
  HoldRow,
  Ledger,
  LedgerOp,
  LedgerOptions,
  LedgerResult,
  LedgerWriteOp,
  Payment,
  PlanKind,
  PlanMeta,
  Posting,
  PreparedHold,
  ReleaseResult,
  RollbackResult,
  RPosting,
} from './types.js';

export * from './types.js';
export { compensationId } from './decide.js';
export { utcDay } from './validate.js';

export const LEDGER_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Days of partitions kept ahead of today (created at start and by `ensurePartitions`). */
export const PARTITION_DAYS_AHEAD = 7;

export async function createLedger(opts: LedgerOptions): Promise<Ledger> {
  const { pool } = opts;
  const fees = opts.fees ?? NO_FEES;
  if (opts.migrate !== false) await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });
  const ensurePartitions = () => sql.ensurePartitions(pool, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + PARTITION_DAYS_AHEAD * 86_400_000));
  await ensurePartitions();

  const accountCache = new Map<string, AccountInfo>();
  const accountById = new Map<number, AccountInfo>();

  /** Reads and idempotent writes outside the group committer: retried when the connection is lost. */
  async function retried<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isConnectionError(e)) throw e;
        if (attempt >= 5) throw new SwitchError('SW_ERR_DB_UNAVAILABLE', { target: 'ledger', reason: (e as Error).message.slice(0, 200) }, { cause: e });
        await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
      }
    }
  }

  function cache(r: sql.AccountRow): AccountInfo {
    const a: AccountInfo = {
      id: Number(r.id),
      code: r.code,
      kind: r.kind as AccountKind,
      currency: r.currency,
      minorUnit: r.minor_unit,
      noNegative: r.no_negative,
    };
    accountCache.set(a.code, a);
    accountById.set(a.id, a);
    return a;
  }

  async function ensureAccount(spec: AccountSpec): Promise<AccountInfo> {
    if (typeof spec.code !== 'string' || !CODE_RE.test(spec.code))
      throw bad('-', 'account code must be 1..200 printable ASCII characters, no space at either end');
    if (!['merchant', 'acquirer', 'fees', 'system'].includes(spec.kind)) throw bad('-', 'unknown account kind');
    const mu = minorUnit(spec.currency, spec.minorUnit);
    const want = { kind: spec.kind, currency: spec.currency, minorUnit: mu, noNegative: spec.noNegative ?? false };
    const same = (a: AccountInfo) => a.kind === want.kind && a.currency === want.currency && a.minorUnit === want.minorUnit && a.noNegative === want.noNegative;
    const cached = accountCache.get(spec.code);
    if (cached) {
      if (!same(cached)) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_CONFLICT', { account: spec.code });
      return cached;
    }
    await retried(() => sql.insertAccount(pool, { code: spec.code, ...want }));
    const [row] = await retried(() => sql.selectAccounts(pool, [spec.code]));
    const acc = cache(row!);
    if (!same(acc)) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_CONFLICT', { account: spec.code });
    return acc;
  }

  async function resolvePostings(planId: string, ps: readonly Posting[]): Promise<RPosting[]> {
    if (!Array.isArray(ps) || ps.length === 0) throw bad(planId, 'a batch needs at least one posting');
    if (ps.length > MAX_POSTINGS) throw bad(planId, `a batch has at most ${MAX_POSTINGS} postings`);
    for (const p of ps) {
      if (typeof p !== 'object' || p === null || typeof p.from !== 'string' || typeof p.to !== 'string')
        throw bad(planId, 'posting needs from and to account codes');
      checkAmount(planId, p.amount, 'posting amount');
      if (!Number.isInteger(p.currency) || p.currency < 1 || p.currency > 999) throw bad(planId, 'posting currency must be ISO 4217 numeric');
      if (p.from === p.to) throw bad(planId, 'posting from and to are the same account');
    }
    const missing = [...new Set(ps.flatMap((p) => [p.from, p.to]).filter((c) => !accountCache.has(c)))];
    if (missing.length) for (const r of await retried(() => sql.selectAccounts(pool, missing))) cache(r);
    return ps.map((p, index) => {
      const a = accountCache.get(p.from);
      const b = accountCache.get(p.to);
      if (!a) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: p.from.slice(0, 64) });
      if (!b) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: p.to.slice(0, 64) });
      for (const acc of [a, b]) {
        if (acc.currency !== p.currency) throw new SwitchError('SW_ERR_LEDGER_CURRENCY_MISMATCH', { planId, index, currency: p.currency, account: acc.code });
      }
      return { from: a.id, to: b.id, amount: p.amount, currency: p.currency };
    });
  }

  const accountCode = (kind: 'merchant' | 'acquirer', owner: string, currency: number) => `${kind}:${owner}:${currency}`;
  const feesAccountCode = (currency: number) => `fees:${currency}`;

  async function paymentAccounts(p: Payment): Promise<{ acq: AccountInfo; mer: AccountInfo; fee: AccountInfo }> {
    // hot path: all three cached (their attributes were checked when they were cached)
    const acq = accountCache.get(accountCode('acquirer', p.acquirer, p.currency));
    const mer = accountCache.get(accountCode('merchant', p.merchant, p.currency));
    const fee = accountCache.get(feesAccountCode(p.currency));
    if (acq?.kind === 'acquirer' && mer?.kind === 'merchant' && fee?.kind === 'fees') return { acq, mer, fee };
    const [a, m, f] = await Promise.all([
      paymentAccount(accountCode('acquirer', p.acquirer, p.currency), 'acquirer', p.currency),
      paymentAccount(accountCode('merchant', p.merchant, p.currency), 'merchant', p.currency),
      paymentAccount(feesAccountCode(p.currency), 'fees', p.currency),
    ]);
    return { acq: a, mer: m, fee: f };
  }

  /** A payment's account: created on first use; one an operator created first keeps its no-negative flag. */
  async function paymentAccount(code: string, kind: AccountKind, currency: number): Promise<AccountInfo> {
    let acc = accountCache.get(code);
    if (!acc) {
      const [row] = await retried(() => sql.selectAccounts(pool, [code]));
      acc = row ? cache(row) : await ensureAccount({ code, kind, currency });
    }
    if (acc.kind !== kind || acc.currency !== currency) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_CONFLICT', { account: code });
    return acc;
  }

  /** A payment's or refund's plan row, postings and idempotency hash (one definition for every way in). */
  async function paymentHold(
    planId: string,
    p: Payment,
    meta: PlanMeta | undefined,
  ): Promise<{ hash: string; row: HoldRow; postings: RPosting[]; accounts: AccountInfo[] }> {
    checkPaymentOwners(planId, p);
    checkAmount(planId, p.amount, 'amount');
    if (p.direction !== undefined && p.direction !== 'payment' && p.direction !== 'refund' && p.direction !== 'capture')
      throw bad(planId, "direction must be 'payment', 'capture' or 'refund'");
    minorUnit(p.currency);
    const kind = p.direction ?? 'payment';
    const panHash = meta?.panHash ?? null;
    const panMasked = meta?.panMasked ?? null;
    const fee = feeFor(fees, kind, p.acquirer, p.terminal, p.amount);
    const ids = await paymentAccounts(p);
    const postings = paymentPostings(kind, { acq: ids.acq.id, mer: ids.mer.id, fee: ids.fee.id }, p.amount, fee, p.currency);
    // a payment's hash is what it always was; a refund's names its direction, so the same id cannot be both
    const what: unknown[] = [p.acquirer, p.terminal, p.merchant, p.currency, String(p.amount)];
    if (kind !== 'payment') what.push(kind);
    const hash = hashOf(['hold', planId, what, panHash, panMasked]);
    const row: HoldRow = {
      kind,
      acquirer: p.acquirer,
      terminal: p.terminal,
      merchant: p.merchant,
      currency: p.currency,
      amount: p.amount,
      fee,
      panHash,
      panMasked,
      // not in the request hash: a hash under another key differs anyway
      panKeyId: meta?.panKeyId ?? null,
    };
    return { hash, row, postings, accounts: [ids.acq, ids.mer, ids.fee] };
  }

  /** Accounts a request's postings name (their ids): locked and read when no-negative. */
  function requestAccounts(reqs: readonly LedgerOp[]): Set<number> {
    const s = new Set<number>();
    for (const r of reqs) {
      if (r.op === 'hold' || r.op === 'batch') for (const p of r.postings) s.add(p.from).add(p.to);
      if (r.op === 'commit' && r.finalPostings) for (const p of r.finalPostings) s.add(p.from).add(p.to);
    }
    return s;
  }

  async function runOps(client: pg.PoolClient, reqs: readonly LedgerOp[]): Promise<Array<LedgerResult | Error>> {
    const state = await sql.load(client, reqs, requestAccounts(reqs));
    const { results, writes } = decide(state, reqs, fees);
    await sql.write(client, writes);
    return results;
  }

  const gc: GroupCommitter<LedgerOp, LedgerResult> = createGroupCommit<LedgerOp, LedgerResult>({
    pool,
    name: 'ledger',
    maxWaitMs: opts.maxWaitMs ?? 0,
    maxBatch: opts.maxBatch ?? 512,
    maxInFlight: opts.maxInFlight ?? 1,
    idempotent: true,
    // The statements are prepared and key lookups are per-key probes, so a generic plan is always right; custom
    // re-planning of the multi-CTE statements was most of the server cost of a small batch.
    begin: 'begin; set local plan_cache_mode = force_generic_plan',
    flush: runOps,
  });

  let folding: Promise<number> | undefined;
  const foldNow = (): Promise<number> => {
    folding ??= sql.fold(pool).finally(() => {
      folding = undefined;
    });
    return folding;
  };
  const foldEvery = opts.foldEveryMs ?? 500;
  const foldTimer = foldEvery > 0 ? setInterval(() => void foldNow().catch(() => undefined), foldEvery) : undefined;
  foldTimer?.unref();

  const ops: Ledger['ops'] = {
    hold: (h) => ({
      op: 'hold',
      planId: h.planId,
      day: h.day,
      hash: h.hash,
      postings: h.postings,
      row: h.row,
      ...(h.commitHash ? { commitHash: h.commitHash } : {}),
    }),
    commit: (planId, final) => {
      checkPlanId(planId);
      if (final === undefined) return { op: 'commit', planId, hash: hashOf(['commit', planId]) };
      checkAmount(planId, final.amount, 'final amount', true);
      return { op: 'commit', planId, hash: hashOf(['commit', planId, 'amount', String(final.amount)]), finalAmount: final.amount };
    },
    rollback: (planId) => {
      checkPlanId(planId);
      return { op: 'rollback', planId, hash: hashOf(['rollback', planId]) };
    },
    release: (planId, day, keep) => {
      checkPlanId(planId);
      checkDay(planId, day);
      if (keep === undefined) return { op: 'release', planId, day };
      checkAmount(planId, keep, 'amount kept', true);
      return { op: 'release', planId, day, keep };
    },
    raise: (planId, day, amount) => {
      checkPlanId(planId);
      checkDay(planId, day);
      checkAmount(planId, amount, 'amount');
      return { op: 'raise', planId, day, amount };
    },
  };

  // each public write reports how it settled (LedgerOptions.onOperation); the wrapping happens once, here
  const observed = <A extends unknown[], R>(op: LedgerWriteOp, f: (...a: A) => Promise<R>): ((...a: A) => Promise<R>) => {
    const on = opts.onOperation;
    if (!on) return f;
    return async (...a: A) => {
      const t0 = performance.now();
      try {
        const r = await f(...a);
        on({ op, ok: true, ms: performance.now() - t0 });
        return r;
      } catch (e) {
        on({ op, ok: false, ms: performance.now() - t0 });
        throw e;
      }
    };
  };

  return {
    ensureAccount,
    accountCode,
    feesAccountCode,

    hold: observed('hold', async (planId: string, spec: readonly Posting[] | Payment, meta?: PlanMeta): Promise<HoldResult> => {
      checkPlanId(planId);
      checkMeta(planId, meta);
      const day = utcDay();
      if (Array.isArray(spec)) {
        const panHash = meta?.panHash ?? null;
        const panMasked = meta?.panMasked ?? null;
        const postings = await resolvePostings(planId, spec as readonly Posting[]);
        const hash = hashOf(['hold', planId, postingsForHash(spec as readonly Posting[]), panHash, panMasked]);
        const row: HoldRow = {
          kind: 'postings',
          acquirer: null,
          terminal: null,
          merchant: null,
          currency: null,
          amount: null,
          fee: null,
          panHash,
          panMasked,
          panKeyId: meta?.panKeyId ?? null,
        };
        return (await gc.submit({ op: 'hold', planId, day, hash, postings, row })) as HoldResult;
      }
      if (!isPayment(spec)) throw bad(planId, 'hold needs postings or a payment');
      const h = await paymentHold(planId, spec, meta);
      return (await gc.submit({ op: 'hold', planId, day, hash: h.hash, postings: h.postings, row: h.row })) as HoldResult;
    }),

    addBatch: observed('addBatch', async (planId: string, batchId: number, postings: readonly Posting[]): Promise<BatchResult> => {
      checkPlanId(planId);
      if (!Number.isInteger(batchId) || batchId < 2 || batchId > 1_000_000) throw bad(planId, 'batch id must be an integer >= 2 (batch 1 is the hold)');
      const resolved = await resolvePostings(planId, postings);
      const hash = hashOf(['batch', planId, batchId, postingsForHash(postings)]);
      return (await gc.submit({ op: 'batch', planId, batchId, hash, postings: resolved })) as BatchResult;
    }),

    commit: observed('commit', async (planId: string, final?: { amount: bigint } | { postings: readonly Posting[] }): Promise<CommitResult> => {
      checkPlanId(planId);
      if (final === undefined) return (await gc.submit(ops.commit(planId))) as CommitResult;
      if (typeof final !== 'object' || final === null) throw bad(planId, 'final must be { amount } or { postings }');
      if ('amount' in final) return (await gc.submit(ops.commit(planId, final))) as CommitResult;
      const finalPostings = await resolvePostings(planId, final.postings);
      const hash = hashOf(['commit', planId, 'postings', postingsForHash(final.postings)]);
      return (await gc.submit({ op: 'commit', planId, hash, finalPostings })) as CommitResult;
    }),

    rollback: observed('rollback', async (planId: string): Promise<RollbackResult> => (await gc.submit(ops.rollback(planId))) as RollbackResult),

    release: observed('release', async (planId: string): Promise<ReleaseResult> => (await gc.submit(ops.release(planId, utcDay()))) as ReleaseResult),

    async prepareHold(planId, payment, meta, o) {
      checkPlanId(planId);
      checkMeta(planId, meta);
      checkDay(planId, o.day);
      if (!isPayment(payment)) throw bad(planId, 'hold needs a payment');
      const h = await paymentHold(planId, payment, meta);
      const commit = o.commit === true;
      let locked = false;
      const deltas: PreparedHold['deltas'] = [];
      for (const [id, d] of netDiff(h.postings)) {
        if (d === 0n) continue;
        const acc = accountById.get(id)!;
        if (acc.noNegative && d < 0n) locked = true;
        deltas.push(
          commit
            ? { account: id, currency: acc.currency, own: d, min: 0n, max: 0n }
            : { account: id, currency: acc.currency, own: 0n, min: min0(d), max: max0(d) },
        );
      }
      return {
        planId,
        day: o.day,
        commit,
        hash: h.hash,
        commitHash: commit ? hashOf(['commit', planId]) : null,
        row: h.row,
        postings: h.postings,
        deltas,
        locked,
      };
    },

    holdSql: (holds, gate, firstParam) => sql.holdSql(holds, gate, firstParam),
    ops,
    runInTx: (client, reqs) => runOps(client, reqs),
    fold: () => foldNow(),
    ensurePartitions,

    async balances(account) {
      const r = await retried(() => sql.readBalances(pool, account));
      if (!r) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: String(account).slice(0, 64) });
      const own = BigInt(r.own!);
      const mn = BigInt(r.min_acc!);
      const mx = BigInt(r.max_acc!);
      return {
        accountId: Number(r.id),
        code: r.code!,
        currency: Number(r.currency),
        minorUnit: Number(r.minor_unit),
        posted: own,
        debitsPending: -mn,
        creditsPending: mx,
        minAvailable: own + mn,
        maxAvailable: own + mx,
      };
    },

    async plan(planId) {
      checkPlanId(planId);
      const found = await retried(() => sql.readPlan(pool, planId));
      if (!found) return undefined;
      const r = found.plan;
      return {
        planId: r.id as string,
        state: r.state as CommitResult['state'] | HoldResult['state'] | RollbackResult['state'],
        kind: r.kind as PlanKind,
        lastBatch: r.last_batch as number,
        acquirer: (r.acquirer as string | null) ?? null,
        terminal: (r.terminal as string | null) ?? null,
        merchant: (r.merchant as string | null) ?? null,
        currency: (r.currency as number | null) ?? null,
        amount: big(r.amount as string | null),
        fee: big(r.fee as string | null),
        finalAmount: big(r.final_amount as string | null),
        finalFee: big(r.final_fee as string | null),
        panMasked: (r.pan_masked as string | null) ?? null,
        day: r.day as string,
        createdAt: r.created_at as Date,
        closedAt: (r.closed_at as Date | null) ?? null,
        postings: found.postings.map((x) => ({
          batchId: x.batch_id as number,
          from: Number(x.from_account),
          to: Number(x.to_account),
          amount: BigInt(x.amount as string),
          currency: x.currency as number,
        })),
      };
    },

    check: () => checkLedger(pool),
    reconcile: (o) => reconcile(pool, o),
    settlementRuns: () => lastSettlementRuns(pool),
    stats: () => gc.stats(),
    async close() {
      if (foldTimer) clearInterval(foldTimer);
      await gc.close();
      await folding?.catch(() => undefined);
    },
  };
}
