/**
 * Double-entry posting plans in PostgreSQL (shared/design.md §4, shumway model).
 *
 * An account keeps `own` (posted), `min_acc` (≤ 0, minus the debits pending) and `max_acc` (≥ 0, credits
 * pending). A plan in HOLD has batches of postings; with D = the plan's cumulative net diff on an account,
 * the plan contributes min(D,0) to min_acc and max(D,0) to max_acc. COMMIT moves D into own and clears the
 * pending part; ROLLBACK only clears. min available = own + min_acc, max available = own + max_acc.
 *
 * Every hold, batch, commit and rollback goes through the group committer: concurrent calls share one
 * transaction of multi-row statements (unnest arrays, prepared): lock plans, lock accounts in id order,
 * decide each request in memory in arrival order, then insert plans, postings, journal and rejections and
 * update account balances with one statement each.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SwitchError, type ErrorCode, type ErrorParams } from '../errors.js';
import { createGroupCommit, isConnectionError, type GroupCommitStats, type GroupCommitter } from '../store/group-commit.js';
import { migrate } from '../store/migrate.js';
import { minorUnit } from './currency.js';
import { NO_FEES, type FeeSchedule } from './fees.js';
import { looksLikePan } from './pan.js';
import { checkLedger, reconcile, type CheckReport, type ReconRow } from './audit.js';

export const LEDGER_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export type AccountKind = 'merchant' | 'acquirer' | 'fees' | 'system';

export interface AccountSpec {
  /** Unique code, e.g. `merchant:M1:978`. */
  code: string;
  kind: AccountKind;
  /** ISO 4217 numeric. */
  currency: number;
  /** Defaults to the ISO 4217 minor unit of the currency. */
  minorUnit?: number;
  /** Refuse holds that would take min available below zero. */
  noNegative?: boolean;
}

export interface AccountInfo {
  id: number;
  code: string;
  kind: AccountKind;
  currency: number;
  minorUnit: number;
  noNegative: boolean;
}

/** One movement of `amount` minor units from one account to another (account codes). */
export interface Posting {
  from: string;
  to: string;
  amount: bigint;
  currency: number;
}

/** A card payment: the ledger derives the postings (acquirer → merchant amount, merchant → fees fee). */
export interface Payment {
  acquirer: string;
  terminal: string;
  merchant: string;
  currency: number;
  amount: bigint;
}

export interface PlanMeta {
  /** Keyed hash of the PAN (hex), see protectPan(). */
  panHash?: string;
  /** Masked PAN, at most 10 digits kept. */
  panMasked?: string;
}

export type PlanState = 'HOLD' | 'COMMIT' | 'ROLLBACK';

export interface HoldResult {
  planId: string;
  state: 'HOLD';
  batchId: 1;
  /** Payment plans: held amount and fee. */
  amount?: bigint;
  fee?: bigint;
}
export interface BatchResult {
  planId: string;
  batchId: number;
}
export interface CommitResult {
  planId: string;
  state: 'COMMIT';
  /** Payment plans: captured amount and its fee. */
  amount?: bigint;
  fee?: bigint;
}
export interface RollbackResult {
  planId: string;
  state: 'ROLLBACK';
}

export interface Balances {
  accountId: number;
  code: string;
  currency: number;
  minorUnit: number;
  posted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  minAvailable: bigint;
  maxAvailable: bigint;
}

export interface PlanView {
  planId: string;
  state: PlanState;
  kind: 'payment' | 'postings';
  lastBatch: number;
  acquirer: string | null;
  terminal: string | null;
  merchant: string | null;
  currency: number | null;
  amount: bigint | null;
  fee: bigint | null;
  finalAmount: bigint | null;
  finalFee: bigint | null;
  panMasked: string | null;
  createdAt: Date;
  closedAt: Date | null;
  postings: Array<{ batchId: number; from: number; to: number; amount: bigint; currency: number }>;
}

export interface LedgerOptions {
  pool: pg.Pool;
  fees?: FeeSchedule;
  /** Group commit: longest wait of the first request of a batch (default 1 ms). */
  maxWaitMs?: number;
  maxBatch?: number;
  maxInFlight?: number;
  /** Run the ledger migrations first (default true). */
  migrate?: boolean;
}

export interface Ledger {
  ensureAccount(spec: AccountSpec): Promise<AccountInfo>;
  /** Account codes the ledger uses for payments. */
  accountCode(kind: 'merchant' | 'acquirer', owner: string, currency: number): string;
  feesAccountCode(currency: number): string;
  hold(planId: string, spec: readonly Posting[] | Payment, meta?: PlanMeta): Promise<HoldResult>;
  addBatch(planId: string, batchId: number, postings: readonly Posting[]): Promise<BatchResult>;
  /** Commit; with `final` a partial capture: a batch reverting the hold, a batch with the final amounts, then commit. */
  commit(planId: string, final?: { amount: bigint } | { postings: readonly Posting[] }): Promise<CommitResult>;
  rollback(planId: string): Promise<RollbackResult>;
  balances(account: string | number): Promise<Balances>;
  plan(planId: string): Promise<PlanView | undefined>;
  check(): Promise<CheckReport>;
  reconcile(range?: { from?: Date; to?: Date }): Promise<ReconRow[]>;
  stats(): GroupCommitStats;
  /** Finish queued requests and stop accepting new ones (the pool is the caller's). */
  close(): Promise<void>;
}

// ── internal request shapes ────────────────────────────────────────────────────────────────────────────

interface RPosting {
  from: number;
  to: number;
  amount: bigint;
  currency: number;
}

interface HoldRow {
  kind: 'payment' | 'postings';
  acquirer: string | null;
  terminal: string | null;
  merchant: string | null;
  currency: number | null;
  amount: bigint | null;
  fee: bigint | null;
  panHash: string | null;
  panMasked: string | null;
}

type Req =
  | { op: 'hold'; planId: string; hash: string; postings: RPosting[]; row: HoldRow }
  | { op: 'batch'; planId: string; batchId: number; hash: string; postings: RPosting[] }
  | { op: 'commit'; planId: string; hash: string; finalAmount?: bigint; finalPostings?: RPosting[] }
  | { op: 'rollback'; planId: string; hash: string };

type Res = HoldResult | BatchResult | CommitResult | RollbackResult;

interface WPlan {
  id: string;
  isNew: boolean;
  state: PlanState;
  kind: 'payment' | 'postings';
  lastBatch: number;
  lastStep: number;
  holdHash: string;
  closeHash: string | null;
  amount: bigint | null;
  fee: bigint | null;
  finalAmount: bigint | null;
  finalFee: bigint | null;
  acquirer: string | null;
  terminal: string | null;
  currency: number | null;
  postings: Array<RPosting & { batchId: number }>;
  batchHashes: Map<number, string>;
  dirty: boolean;
}

interface WAccount {
  id: number;
  currency: number;
  noNegative: boolean;
  own: bigint;
  min: bigint;
  max: bigint;
}

const PLAN_ID_RE = /^[\x21-\x7e]{1,128}$/;
const CODE_RE = /^[\x21-\x7e]{1,200}$/;
const MAX_POSTINGS = 64;
const MAX_AMOUNT = 2n ** 62n;

const NEEDS_ESCAPE = /[\\"]/;

/**
 * A PostgreSQL array literal built in one pass (the driver's generic per-element value preparation is the
 * largest CPU cost of a big batch). Strings are quoted with \ and " escaped; null is NULL.
 */
export function pgArray<T>(items: readonly T[], get: (x: T) => string | number | bigint | null): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const v = get(items[i]!);
    if (v === null) out += 'NULL';
    else if (typeof v === 'string') out += '"' + (NEEDS_ESCAPE.test(v) ? v.replace(/[\\"]/g, '\\$&') : v) + '"';
    else out += String(v);
  }
  return out + '}';
}

/** Payload hash for idempotency: callers pass JSON-safe values (bigints as strings). */
function hashOf(v: unknown): string {
  const json = JSON.stringify(v);
  return '\\x' + crypto.createHash('sha256').update(json).digest('hex').slice(0, 32);
}

const batchRejKey = (r: { planId: string; batchId: number; hash: string }) => `batch:${r.planId}:${r.batchId}:${r.hash.slice(2)}`;

function bad(planId: string, reason: string): SwitchError {
  return new SwitchError('SW_ERR_LEDGER_BAD_REQUEST', { planId: safeId(planId), reason });
}

function safeId(planId: unknown): string {
  return typeof planId === 'string' && PLAN_ID_RE.test(planId) ? planId : '<invalid>';
}

function checkPlanId(planId: unknown): asserts planId is string {
  if (typeof planId !== 'string' || !PLAN_ID_RE.test(planId)) throw bad('<invalid>', 'plan id must be 1..128 printable ASCII characters');
}

function checkAmount(planId: string, a: unknown, what: string, allowZero = false): asserts a is bigint {
  if (typeof a !== 'bigint' || a < (allowZero ? 0n : 1n) || a > MAX_AMOUNT) {
    throw bad(planId, `${what} must be a bigint ${allowZero ? '>= 0' : '> 0'} in minor units`);
  }
}

const min0 = (d: bigint) => (d < 0n ? d : 0n);
const max0 = (d: bigint) => (d > 0n ? d : 0n);
const big = (s: string | null | undefined): bigint | null => (s === null || s === undefined ? null : BigInt(s));

export async function createLedger(opts: LedgerOptions): Promise<Ledger> {
  const { pool } = opts;
  const fees = opts.fees ?? NO_FEES;
  if (opts.migrate !== false) await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });

  const accountCache = new Map<string, AccountInfo>();

  /** Reads and idempotent writes outside the group committer: retried when the connection is lost. */
  async function query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await pool.query(text, values);
      } catch (e) {
        if (!isConnectionError(e) || attempt >= 5) {
          if (isConnectionError(e)) throw new SwitchError('SW_ERR_DB_UNAVAILABLE', { target: 'ledger', reason: (e as Error).message.slice(0, 200) }, { cause: e });
          throw e;
        }
        await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
      }
    }
  }

  function rowToAccount(r: { id: string; code: string; kind: AccountKind; currency: number; minor_unit: number; no_negative: boolean }): AccountInfo {
    return { id: Number(r.id), code: r.code, kind: r.kind, currency: r.currency, minorUnit: r.minor_unit, noNegative: r.no_negative };
  }

  async function ensureAccount(spec: AccountSpec): Promise<AccountInfo> {
    if (typeof spec.code !== 'string' || !CODE_RE.test(spec.code)) throw bad('-', 'account code must be 1..200 printable ASCII characters');
    if (!['merchant', 'acquirer', 'fees', 'system'].includes(spec.kind)) throw bad('-', 'unknown account kind');
    const mu = minorUnit(spec.currency, spec.minorUnit);
    const cached = accountCache.get(spec.code);
    const want = { kind: spec.kind, currency: spec.currency, minorUnit: mu, noNegative: spec.noNegative ?? false };
    const same = (a: AccountInfo) =>
      a.kind === want.kind && a.currency === want.currency && a.minorUnit === want.minorUnit && a.noNegative === want.noNegative;
    if (cached) {
      if (!same(cached)) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_CONFLICT', { account: spec.code });
      return cached;
    }
    await query(
      `insert into ledger_account (code, kind, currency, minor_unit, no_negative) values ($1, $2, $3, $4, $5)
       on conflict (code) do nothing`,
      [spec.code, spec.kind, spec.currency, mu, want.noNegative],
    );
    const { rows } = await query(
      'select id::text, code, kind, currency, minor_unit, no_negative from ledger_account where code = $1',
      [spec.code],
    );
    const acc = rowToAccount(rows[0]);
    if (!same(acc)) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_CONFLICT', { account: spec.code });
    accountCache.set(acc.code, acc);
    return acc;
  }

  async function lookupAccounts(codes: string[]): Promise<void> {
    const missing = [...new Set(codes.filter((c) => !accountCache.has(c)))];
    if (missing.length === 0) return;
    const { rows } = await query(
      'select id::text, code, kind, currency, minor_unit, no_negative from ledger_account where code = any($1::text[])',
      [missing],
    );
    for (const r of rows) accountCache.set(r.code, rowToAccount(r));
  }

  async function resolvePostings(planId: string, ps: readonly Posting[]): Promise<RPosting[]> {
    if (!Array.isArray(ps) || ps.length === 0) throw bad(planId, 'a batch needs at least one posting');
    if (ps.length > MAX_POSTINGS) throw bad(planId, `a batch has at most ${MAX_POSTINGS} postings`);
    for (const p of ps) {
      if (typeof p !== 'object' || p === null || typeof p.from !== 'string' || typeof p.to !== 'string') {
        throw bad(planId, 'posting needs from and to account codes');
      }
      checkAmount(planId, p.amount, 'posting amount');
      if (!Number.isInteger(p.currency) || p.currency < 1 || p.currency > 999) throw bad(planId, 'posting currency must be ISO 4217 numeric');
      if (p.from === p.to) throw bad(planId, 'posting from and to are the same account');
    }
    await lookupAccounts(ps.flatMap((p) => [p.from, p.to]));
    return ps.map((p, index) => {
      const a = accountCache.get(p.from);
      const b = accountCache.get(p.to);
      if (!a) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: p.from.slice(0, 64) });
      if (!b) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: p.to.slice(0, 64) });
      for (const acc of [a, b]) {
        if (acc.currency !== p.currency) {
          throw new SwitchError('SW_ERR_LEDGER_CURRENCY_MISMATCH', { planId, index, currency: p.currency, account: acc.code });
        }
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
    return paymentAccountsSlow(p);
  }

  async function paymentAccountsSlow(p: Payment): Promise<{ acq: AccountInfo; mer: AccountInfo; fee: AccountInfo }> {
    const [acq, mer, fee] = await Promise.all([
      ensureAccount({ code: accountCode('acquirer', p.acquirer, p.currency), kind: 'acquirer', currency: p.currency }),
      ensureAccount({ code: accountCode('merchant', p.merchant, p.currency), kind: 'merchant', currency: p.currency }),
      ensureAccount({ code: feesAccountCode(p.currency), kind: 'fees', currency: p.currency }),
    ]);
    return { acq, mer, fee };
  }

  function paymentPostings(ids: { acq: number; mer: number; fee: number }, amount: bigint, fee: bigint, currency: number): RPosting[] {
    const out: RPosting[] = [];
    if (amount > 0n) out.push({ from: ids.acq, to: ids.mer, amount, currency });
    if (fee > 0n) out.push({ from: ids.mer, to: ids.fee, amount: fee, currency });
    return out;
  }

  function checkMeta(planId: string, meta: PlanMeta | undefined): void {
    if (meta === undefined) return;
    if (meta.panMasked !== undefined && (typeof meta.panMasked !== 'string' || meta.panMasked.length > 32 || looksLikePan(meta.panMasked))) {
      throw new SwitchError('SW_ERR_LEDGER_PAN_FORBIDDEN', { planId, field: 'panMasked' });
    }
    if (meta.panHash !== undefined && (typeof meta.panHash !== 'string' || !/^[0-9a-f]{16,128}$/.test(meta.panHash))) {
      throw bad(planId, 'panHash must be 16..128 lowercase hex characters');
    }
  }

  const isPayment = (s: unknown): s is Payment => typeof s === 'object' && s !== null && !Array.isArray(s);

  // ── the group-committed flush ──────────────────────────────────────────────────────────────────────

  async function flush(client: pg.PoolClient, reqs: readonly Req[]): Promise<Array<Res | Error>> {
    // Sorted: plan rows are locked in this order by every instance (one total order, no deadlock).
    const planIds = [...new Set(reqs.map((r) => r.planId))].sort();
    const histIds = [...new Set(reqs.filter((r) => r.op !== 'hold').map((r) => r.planId))];
    const rejKeys = reqs.flatMap((r) => (r.op === 'hold' ? [`hold:${r.planId}`] : r.op === 'batch' ? [batchRejKey(r)] : []));
    // Request accounts are known up front; accounts of existing plans come from their postings.
    const reqAcc = new Set<number>();
    for (const r of reqs) {
      if (r.op === 'hold' || r.op === 'batch') for (const p of r.postings) reqAcc.add(p.from).add(p.to);
      if (r.op === 'commit' && r.finalPostings) for (const p of r.finalPostings) reqAcc.add(p.from).add(p.to);
    }
    // One round trip: lock the plans (id order), read their history and recorded rejections, then lock every
    // account any request may touch, in id order.
    const q1 = await client.query<{ t: string; j: string }>({
      name: 'ledger_load',
      // Per-key lateral lookups: always primary-key probes, whatever the statistics say (a plain `= any(array)`
      // lets the planner pick a sequential scan of the whole table for a few hundred keys).
      text: `with pl as (
          select l.* from unnest($1::text[]) as u(id)
          cross join lateral (
            select id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, currency,
                   amount::text, fee::text, final_amount::text, final_fee::text
              from ledger_plan where id = u.id for update) l),
        po as (select x.* from unnest($2::text[]) as u(id)
                 cross join lateral (select plan_id, batch_id, seq, from_account, to_account, amount::text, currency
                                       from ledger_posting where plan_id = u.id) x),
        jo as (select x.* from unnest($2::text[]) as u(id)
                 cross join lateral (select plan_id, batch_id, request_hash from ledger_journal
                                      where plan_id = u.id and batch_id is not null) x),
        rj as (select x.* from unnest($3::text[]) as u(k)
                 cross join lateral (select request_key, request_hash, code, params from ledger_rejection where request_key = u.k) x),
        ac as (select id, currency, no_negative, own::text, min_acc::text, max_acc::text from ledger_account
                where id = any($4::bigint[]) or id in (select from_account from po union select to_account from po)
                order by id for update)
        select 'p' as t, row_to_json(pl)::text as j from pl
        union all select 'o', row_to_json(po)::text from po
        union all select 'j', row_to_json(jo)::text from jo
        union all select 'r', row_to_json(rj)::text from rj
        union all select 'a', row_to_json(ac)::text from ac`,
      values: [pgArray(planIds, (x) => x), pgArray(histIds, (x) => x), pgArray(rejKeys, (x) => x), pgArray([...reqAcc].sort((x, y) => x - y), (x) => x)],
    });
    const accounts = new Map<number, WAccount>();
    const plans = new Map<string, WPlan>();
    const rejections = new Map<string, { hash: string; code: ErrorCode; params: ErrorParams }>();
    const later: Array<{ t: string; v: Record<string, unknown> }> = [];
    for (const row of q1.rows) {
      const v = JSON.parse(row.j) as Record<string, unknown>;
      if (row.t === 'p') {
        plans.set(v.id as string, {
          id: v.id as string,
          isNew: false,
          state: v.state as PlanState,
          kind: v.kind as 'payment' | 'postings',
          lastBatch: v.last_batch as number,
          lastStep: v.last_step as number,
          holdHash: v.hold_hash as string,
          closeHash: (v.close_hash as string | null) ?? null,
          amount: big(v.amount as string | null),
          fee: big(v.fee as string | null),
          finalAmount: big(v.final_amount as string | null),
          finalFee: big(v.final_fee as string | null),
          acquirer: (v.acquirer as string | null) ?? null,
          terminal: (v.terminal as string | null) ?? null,
          currency: (v.currency as number | null) ?? null,
          postings: [],
          batchHashes: new Map(),
          dirty: false,
        });
      } else if (row.t === 'r') {
        rejections.set(v.request_key as string, {
          hash: v.request_hash as string,
          code: v.code as ErrorCode,
          params: v.params as ErrorParams,
        });
      } else if (row.t === 'a') {
        accounts.set(Number(v.id), {
          id: Number(v.id),
          currency: v.currency as number,
          noNegative: v.no_negative as boolean,
          own: BigInt(v.own as string),
          min: BigInt(v.min_acc as string),
          max: BigInt(v.max_acc as string),
        });
      } else later.push({ t: row.t, v });
    }
    for (const { t, v } of later) {
      const p = plans.get(v.plan_id as string);
      if (!p) continue;
      if (t === 'o') {
        p.postings.push({
          batchId: v.batch_id as number,
          from: Number(v.from_account),
          to: Number(v.to_account),
          amount: BigInt(v.amount as string),
          currency: v.currency as number,
        });
      } else p.batchHashes.set(v.batch_id as number, v.request_hash as string);
    }
    for (const p of plans.values()) p.postings.sort((a, b) => a.batchId - b.batchId);

    // Writes collected in arrival order.
    const insPlans: Array<{ id: string; hash: string; row: HoldRow }> = [];
    const insPostings: Array<RPosting & { planId: string; batchId: number; seq: number }> = [];
    const insJournal: Array<{ planId: string; step: number; op: string; batchId: number | null; hash: string }> = [];
    const insRejections: Array<{ key: string; hash: string; code: ErrorCode; params: ErrorParams }> = [];
    const accDelta = new Map<number, { own: bigint; min: bigint; max: bigint }>();

    /** Net diff per account of some postings (added to `into` when given). */
    const diffOf = (ps: ReadonlyArray<RPosting>, into: Map<number, bigint> = new Map()): Map<number, bigint> => {
      for (let i = 0; i < ps.length; i++) {
        const x = ps[i]!;
        into.set(x.from, (into.get(x.from) ?? 0n) - x.amount);
        into.set(x.to, (into.get(x.to) ?? 0n) + x.amount);
      }
      return into;
    };
    const cumulative = (p: WPlan): Map<number, bigint> => diffOf(p.postings);

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
      const d = accDelta.get(id) ?? { own: 0n, min: 0n, max: 0n };
      d.own += own;
      d.min += mn;
      d.max += mx;
      accDelta.set(id, d);
    };

    /** Validate postings against the locked accounts; returns an error or undefined. */
    const validatePostings = (planId: string, ps: RPosting[]): SwitchError | undefined => {
      for (let i = 0; i < ps.length; i++) {
        const p = ps[i]!;
        for (const id of [p.from, p.to]) {
          const a = accounts.get(id);
          if (!a) return new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: String(id) });
          if (a.currency !== p.currency) {
            return new SwitchError('SW_ERR_LEDGER_CURRENCY_MISMATCH', { planId, index: i, currency: p.currency, account: String(id) });
          }
        }
      }
      return undefined;
    };

    /** Funds check: no account flagged no-negative may end with min available < 0. */
    const fundsError = (planId: string, change: Map<number, { min: bigint; max: bigint }>): SwitchError | undefined => {
      for (const [id, c] of change) {
        const a = accounts.get(id)!;
        if (a.noNegative && c.min < 0n && a.own + a.min + c.min < 0n) {
          return new SwitchError('SW_ERR_LEDGER_INSUFFICIENT_FUNDS', { planId, account: String(id) });
        }
      }
      return undefined;
    };

    const addBatchTo = (p: WPlan, batchId: number, ps: RPosting[], hash: string, op: 'hold' | 'batch' | 'batch-internal') => {
      for (let seq = 0; seq < ps.length; seq++) {
        const x = ps[seq]!;
        insPostings.push({ from: x.from, to: x.to, amount: x.amount, currency: x.currency, planId: p.id, batchId, seq });
        p.postings.push({ from: x.from, to: x.to, amount: x.amount, currency: x.currency, batchId });
      }
      p.lastBatch = batchId;
      if (op === 'hold') {
        // the plan row records the hold (step 1); the journal starts at step 2
        p.lastStep = 1;
        p.batchHashes.set(batchId, hash);
      } else if (op === 'batch') {
        p.lastStep += 1;
        insJournal.push({ planId: p.id, step: p.lastStep, op, batchId, hash });
        p.batchHashes.set(batchId, hash);
      } else {
        p.lastStep += 1;
        insJournal.push({ planId: p.id, step: p.lastStep, op: 'batch', batchId, hash });
      }
    };

    const reject = (key: string, hash: string, e: SwitchError): SwitchError => {
      insRejections.push({ key, hash, code: e.code, params: e.params });
      rejections.set(key, { hash, code: e.code, params: e.params });
      return e;
    };

    const mismatch = (planId: string, op: string) => new SwitchError('SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH', { planId, op });

    const results: Array<Res | Error> = [];
    for (const r of reqs) {
      const p = plans.get(r.planId);
      if (r.op === 'hold') {
        const key = `hold:${r.planId}`;
        const rej = rejections.get(key);
        if (rej) {
          results.push(rej.hash === r.hash ? new SwitchError(rej.code, rej.params) : mismatch(r.planId, 'hold'));
          continue;
        }
        if (p) {
          results.push(p.holdHash === r.hash ? holdResult(p) : mismatch(r.planId, 'hold'));
          continue;
        }
        const err = validatePostings(r.planId, r.postings);
        if (err) {
          results.push(err);
          continue;
        }
        const np: WPlan = {
          id: r.planId,
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
          currency: r.row.currency,
          postings: [],
          batchHashes: new Map(),
          dirty: false,
        };
        const change = pendingChange(new Map(), diffOf(r.postings));
        const ferr = fundsError(r.planId, change);
        if (ferr) {
          results.push(reject(key, r.hash, ferr));
          continue;
        }
        for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
        plans.set(np.id, np);
        insPlans.push({ id: np.id, hash: r.hash, row: r.row });
        addBatchTo(np, 1, r.postings, r.hash, 'hold');
        results.push(holdResult(np));
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
          results.push(new SwitchError(rej.code, rej.params));
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
        const before = cumulative(p);
        const after = diffOf(r.postings, cumulative(p));
        const change = pendingChange(before, after);
        const ferr = fundsError(r.planId, change);
        if (ferr) {
          results.push(reject(key, r.hash, ferr));
          continue;
        }
        for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
        addBatchTo(p, r.batchId, r.postings, r.hash, 'batch');
        p.dirty = true;
        results.push({ planId: p.id, batchId: r.batchId });
        continue;
      }
      // commit / rollback
      const target: PlanState = r.op === 'commit' ? 'COMMIT' : 'ROLLBACK';
      if (p.state !== 'HOLD') {
        if (p.state === target) results.push(p.closeHash === r.hash ? closeResult(p) : mismatch(r.planId, r.op));
        else results.push(new SwitchError('SW_ERR_LEDGER_PLAN_STATE', { planId: p.id, state: p.state, op: r.op }));
        continue;
      }
      if (r.op === 'commit' && (r.finalAmount !== undefined || r.finalPostings !== undefined)) {
        let finalPs: RPosting[];
        let finalFee: bigint | null = null;
        if (r.finalAmount !== undefined) {
          if (p.kind !== 'payment' || p.amount === null) {
            results.push(bad(p.id, 'a final amount applies to payment plans only; give final postings'));
            continue;
          }
          if (r.finalAmount > p.amount) {
            results.push(bad(p.id, 'final amount exceeds the held amount'));
            continue;
          }
          const first = p.postings.filter((x) => x.batchId === 1);
          const acqMer = first[0];
          const merFee = first[1];
          if (!acqMer) {
            results.push(bad(p.id, 'payment plan has no hold posting'));
            continue;
          }
          finalFee = fees.fee(p.acquirer ?? '', p.terminal ?? '', r.finalAmount);
          if (finalFee > 0n && !merFee) {
            results.push(bad(p.id, 'payment plan held no fee; cannot charge one on capture'));
            continue;
          }
          finalPs = paymentPostings({ acq: acqMer.from, mer: acqMer.to, fee: merFee?.to ?? 0 }, r.finalAmount, finalFee, acqMer.currency);
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
        const after = new Map<number, bigint>();
        for (const x of finalPs) {
          after.set(x.from, (after.get(x.from) ?? 0n) - x.amount);
          after.set(x.to, (after.get(x.to) ?? 0n) + x.amount);
        }
        const change = pendingChange(before, after);
        const ferr = fundsError(r.planId, change);
        if (ferr) {
          results.push(ferr);
          continue;
        }
        for (const [id, c] of change) applyAcc(id, 0n, c.min, c.max);
        if (revert.length > 0) addBatchTo(p, p.lastBatch + 1, revert, r.hash, 'batch-internal');
        if (finalPs.length > 0) addBatchTo(p, p.lastBatch + 1, finalPs, r.hash, 'batch-internal');
      } else if (r.op === 'commit' && p.kind === 'payment') {
        p.finalAmount = p.amount;
        p.finalFee = p.fee;
      }
      const d = cumulative(p);
      for (const [id, v] of d) {
        if (v === 0n) continue;
        if (r.op === 'commit') applyAcc(id, v, -min0(v), -max0(v));
        else applyAcc(id, 0n, -min0(v), -max0(v));
      }
      p.state = target;
      p.closeHash = r.hash;
      p.lastStep += 1;
      p.dirty = true;
      insJournal.push({ planId: p.id, step: p.lastStep, op: r.op, batchId: null, hash: r.hash });
      results.push(closeResult(p));
    }

    // ── writes: one statement of data-modifying CTEs (multi-row unnest inserts and one balance update) ──
    const deltas = [...accDelta].filter(([, d]) => d.own !== 0n || d.min !== 0n || d.max !== 0n).sort((x, y) => x[0] - y[0]);
    if (insPlans.length + insPostings.length + insJournal.length + deltas.length + insRejections.length > 0) {
      await client.query({
        name: 'ledger_write',
        text: `with ip as (
            insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, acquirer, terminal, merchant, currency,
                                     amount, fee, pan_hash, pan_masked)
            select id, 'HOLD', kind, 1, 1, hh, acq, term, mer, cur, amt, fee, ph, pm
              from unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::smallint[],
                          $8::bigint[], $9::bigint[], $10::text[], $11::text[])
                as u(id, kind, hh, acq, term, mer, cur, amt, fee, ph, pm)),
          ipo as (
            insert into ledger_posting (plan_id, batch_id, seq, from_account, to_account, amount, currency)
            select * from unnest($12::text[], $13::int[], $14::int[], $15::bigint[], $16::bigint[], $17::bigint[], $18::smallint[])),
          ij as (
            insert into ledger_journal (plan_id, step, op, batch_id, request_hash)
            select * from unnest($19::text[], $20::int[], $21::text[], $22::int[], $23::bytea[])),
          ua as (
            update ledger_account a set own = a.own + u.d_own, min_acc = a.min_acc + u.d_min, max_acc = a.max_acc + u.d_max
              from unnest($24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[]) as u(id, d_own, d_min, d_max)
             where a.id = u.id),
          ir as (
            insert into ledger_rejection (request_key, request_hash, code, params)
            select * from unnest($28::text[], $29::bytea[], $30::text[], $31::jsonb[]))
        select 1`,
        values: [
          pgArray(insPlans, (x) => x.id),
          pgArray(insPlans, (x) => x.row.kind),
          pgArray(insPlans, (x) => x.hash),
          pgArray(insPlans, (x) => x.row.acquirer),
          pgArray(insPlans, (x) => x.row.terminal),
          pgArray(insPlans, (x) => x.row.merchant),
          pgArray(insPlans, (x) => x.row.currency),
          pgArray(insPlans, (x) => x.row.amount?.toString() ?? null),
          pgArray(insPlans, (x) => x.row.fee?.toString() ?? null),
          pgArray(insPlans, (x) => x.row.panHash),
          pgArray(insPlans, (x) => x.row.panMasked),
          pgArray(insPostings, (x) => x.planId),
          pgArray(insPostings, (x) => x.batchId),
          pgArray(insPostings, (x) => x.seq),
          pgArray(insPostings, (x) => x.from),
          pgArray(insPostings, (x) => x.to),
          pgArray(insPostings, (x) => x.amount.toString()),
          pgArray(insPostings, (x) => x.currency),
          pgArray(insJournal, (x) => x.planId),
          pgArray(insJournal, (x) => x.step),
          pgArray(insJournal, (x) => x.op),
          pgArray(insJournal, (x) => x.batchId),
          pgArray(insJournal, (x) => x.hash),
          pgArray(deltas, ([id]) => id),
          pgArray(deltas, ([, d]) => d.own.toString()),
          pgArray(deltas, ([, d]) => d.min.toString()),
          pgArray(deltas, ([, d]) => d.max.toString()),
          pgArray(insRejections, (x) => x.key),
          pgArray(insRejections, (x) => x.hash),
          pgArray(insRejections, (x) => x.code),
          pgArray(insRejections, (x) => JSON.stringify(x.params, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
        ],
      });
    }
    // State changes after the postings (a posting may only go into a plan in HOLD): a second statement.
    const dirty = [...plans.values()].filter((p) => p.dirty);
    if (dirty.length > 0) {
      await client.query({
        name: 'ledger_upd_plans',
        text: `update ledger_plan p set state = u.state, last_batch = u.lb, last_step = u.ls, close_hash = u.ch,
                      final_amount = u.fa, final_fee = u.ff, closed_at = case when u.state = 'HOLD' then null else now() end
                 from unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bytea[], $6::bigint[], $7::bigint[])
                   as u(id, state, lb, ls, ch, fa, ff)
                where p.id = u.id`,
        values: [
          pgArray(dirty, (p) => p.id),
          pgArray(dirty, (p) => p.state),
          pgArray(dirty, (p) => p.lastBatch),
          pgArray(dirty, (p) => p.lastStep),
          pgArray(dirty, (p) => p.closeHash),
          pgArray(dirty, (p) => p.finalAmount?.toString() ?? null),
          pgArray(dirty, (p) => p.finalFee?.toString() ?? null),
        ],
      });
    }
    return results;
  }

  function holdResult(p: WPlan): HoldResult {
    const r: HoldResult = { planId: p.id, state: 'HOLD', batchId: 1 };
    if (p.kind === 'payment') {
      r.amount = p.amount ?? 0n;
      r.fee = p.fee ?? 0n;
    }
    return r;
  }

  function closeResult(p: WPlan): CommitResult | RollbackResult {
    if (p.state === 'ROLLBACK') return { planId: p.id, state: 'ROLLBACK' };
    const r: CommitResult = { planId: p.id, state: 'COMMIT' };
    if (p.kind === 'payment') {
      r.amount = p.finalAmount ?? 0n;
      r.fee = p.finalFee ?? 0n;
    }
    return r;
  }

  const gc: GroupCommitter<Req, Res> = createGroupCommit<Req, Res>({
    pool,
    name: 'ledger',
    maxWaitMs: opts.maxWaitMs ?? 1,
    maxBatch: opts.maxBatch ?? 512,
    maxInFlight: opts.maxInFlight ?? 1,
    idempotent: true,
    // The statements are prepared and key lookups are per-key probes, so a generic plan is always right; custom
    // re-planning of the multi-CTE statements was most of the server cost of a small batch.
    begin: 'begin; set local plan_cache_mode = force_generic_plan',
    flush,
  });

  return {
    ensureAccount,
    accountCode,
    feesAccountCode,

    async hold(planId, spec, meta) {
      checkPlanId(planId);
      checkMeta(planId, meta);
      const panHash = meta?.panHash ?? null;
      const panMasked = meta?.panMasked ?? null;
      if (Array.isArray(spec)) {
        const postings = await resolvePostings(planId, spec as readonly Posting[]);
        const hash = hashOf(['hold', planId, (spec as readonly Posting[]).map((p) => [p.from, p.to, String(p.amount), p.currency]), panHash, panMasked]);
        const row: HoldRow = { kind: 'postings', acquirer: null, terminal: null, merchant: null, currency: null, amount: null, fee: null, panHash, panMasked };
        return (await gc.submit({ op: 'hold', planId, hash, postings, row })) as HoldResult;
      }
      if (!isPayment(spec)) throw bad(planId, 'hold needs postings or a payment');
      const p = spec;
      for (const k of ['acquirer', 'terminal', 'merchant'] as const) {
        if (typeof p[k] !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(p[k])) throw bad(planId, `${k} must be 1..64 of [A-Za-z0-9_.-]`);
      }
      checkAmount(planId, p.amount, 'amount');
      minorUnit(p.currency);
      const fee = fees.fee(p.acquirer, p.terminal, p.amount);
      const ids = await paymentAccounts(p);
      const postings = paymentPostings({ acq: ids.acq.id, mer: ids.mer.id, fee: ids.fee.id }, p.amount, fee, p.currency);
      const hash = hashOf(['hold', planId, [p.acquirer, p.terminal, p.merchant, p.currency, String(p.amount)], panHash, panMasked]);
      const row: HoldRow = {
        kind: 'payment',
        acquirer: p.acquirer,
        terminal: p.terminal,
        merchant: p.merchant,
        currency: p.currency,
        amount: p.amount,
        fee,
        panHash,
        panMasked,
      };
      return (await gc.submit({ op: 'hold', planId, hash, postings, row })) as HoldResult;
    },

    async addBatch(planId, batchId, postings) {
      checkPlanId(planId);
      if (!Number.isInteger(batchId) || batchId < 2 || batchId > 1_000_000) throw bad(planId, 'batch id must be an integer >= 2 (batch 1 is the hold)');
      const resolved = await resolvePostings(planId, postings);
      const hash = hashOf(['batch', planId, batchId, postings.map((p) => [p.from, p.to, String(p.amount), p.currency])]);
      return (await gc.submit({ op: 'batch', planId, batchId, hash, postings: resolved })) as BatchResult;
    },

    async commit(planId, final) {
      checkPlanId(planId);
      if (final === undefined) return (await gc.submit({ op: 'commit', planId, hash: hashOf(['commit', planId]) })) as CommitResult;
      if (typeof final !== 'object' || final === null) throw bad(planId, 'final must be { amount } or { postings }');
      if ('amount' in final) {
        checkAmount(planId, final.amount, 'final amount', true);
        const hash = hashOf(['commit', planId, 'amount', String(final.amount)]);
        return (await gc.submit({ op: 'commit', planId, hash, finalAmount: final.amount })) as CommitResult;
      }
      const finalPostings = await resolvePostings(planId, final.postings);
      const hash = hashOf(['commit', planId, 'postings', final.postings.map((p) => [p.from, p.to, String(p.amount), p.currency])]);
      return (await gc.submit({ op: 'commit', planId, hash, finalPostings })) as CommitResult;
    },

    async rollback(planId) {
      checkPlanId(planId);
      return (await gc.submit({ op: 'rollback', planId, hash: hashOf(['rollback', planId]) })) as RollbackResult;
    },

    async balances(account) {
      const { rows } = await query(
        `select id::text, code, currency, minor_unit, own::text, min_acc::text, max_acc::text from ledger_account
          where ${typeof account === 'number' ? 'id = $1' : 'code = $1'}`,
        [account],
      );
      const r = rows[0];
      if (!r) throw new SwitchError('SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', { account: String(account).slice(0, 64) });
      const own = BigInt(r.own);
      const mn = BigInt(r.min_acc);
      const mx = BigInt(r.max_acc);
      return {
        accountId: Number(r.id),
        code: r.code,
        currency: r.currency,
        minorUnit: r.minor_unit,
        posted: own,
        debitsPending: -mn,
        creditsPending: mx,
        minAvailable: own + mn,
        maxAvailable: own + mx,
      };
    },

    async plan(planId) {
      checkPlanId(planId);
      const { rows } = await query(
        `select id, state, kind, last_batch, acquirer, terminal, merchant, currency, amount::text, fee::text,
                final_amount::text, final_fee::text, pan_masked, created_at, closed_at from ledger_plan where id = $1`,
        [planId],
      );
      const r = rows[0];
      if (!r) return undefined;
      const ps = await query(
        `select batch_id, from_account::text, to_account::text, amount::text, currency from ledger_posting
          where plan_id = $1 order by batch_id, seq`,
        [planId],
      );
      return {
        planId: r.id,
        state: r.state,
        kind: r.kind,
        lastBatch: r.last_batch,
        acquirer: r.acquirer,
        terminal: r.terminal,
        merchant: r.merchant,
        currency: r.currency,
        amount: big(r.amount),
        fee: big(r.fee),
        finalAmount: big(r.final_amount),
        finalFee: big(r.final_fee),
        panMasked: r.pan_masked,
        createdAt: r.created_at,
        closedAt: r.closed_at,
        postings: ps.rows.map((x) => ({
          batchId: x.batch_id,
          from: Number(x.from_account),
          to: Number(x.to_account),
          amount: BigInt(x.amount),
          currency: x.currency,
        })),
      };
    },

    check: () => checkLedger(pool),
    reconcile: (range) => reconcile(pool, range),
    stats: () => gc.stats(),
    close: () => gc.close(),
  };
}
