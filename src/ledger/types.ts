/**
 * The ledger's types: the public API (accounts, postings, payments, plans, results) and the internal shapes
 * that flow from load (SQL) through decide (pure) to write (SQL). docs/ledger.md describes the model.
 */
import type { SettlementRunView } from './settlement.js';
import type pg from 'pg';
import type { GroupCommitStats } from '../store/group-commit.js';
import type { CheckReport } from './audit.js';
import type { ReconOptions, ReconRow } from './recon.js';
import type { FeeSchedule } from './fees.js';

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

/**
 * A card payment: the ledger derives the postings (acquirer → merchant amount, merchant → fees fee). A refund
 * (`direction: 'refund'`) goes the other way: merchant → acquirer amount, and its signed fee from
 * `fees.refundFee`: > 0 merchant → fees (a refund fee), < 0 fees → merchant (the fee given back).
 */
export interface Payment {
  acquirer: string;
  terminal: string;
  merchant: string;
  currency: number;
  amount: bigint;
  /**
   * The plan's kind (docs/ledger.md, "Plan kinds"), default 'payment'. 'capture': a part of a payment's hold
   * captured on its own (a partial capture), its postings a payment's; 'refund': the other way.
   */
  direction?: 'payment' | 'capture' | 'refund';
}

/**
 * What a plan is (docs/ledger.md, "Plan kinds"): a card payment, a refund, the compensation `<id>:reversal` of a
 * committed payment or refund, or free postings.
 */
export type PlanKind = 'payment' | 'capture' | 'refund' | 'compensation' | 'postings';

export interface PlanMeta {
  /** Keyed hash of the PAN (hex), see protectPan(). */
  panHash?: string;
  /** Id of the key that made panHash (src/ledger/pan.ts PanKeyRing); absent: the legacy key. */
  panKeyId?: string;
  /** Masked PAN, at most 10 digits kept. */
  panMasked?: string;
}

export type PlanState = 'HOLD' | 'COMMIT' | 'ROLLBACK';

export interface HoldResult {
  planId: string;
  state: 'HOLD';
  batchId: 1;
  /** Payment and refund plans: held amount and fee (a refund's fee is signed, see Payment). */
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
  /** Payment and refund plans: captured amount and its fee (signed for a refund). */
  amount?: bigint;
  fee?: bigint;
}
export interface RollbackResult {
  planId: string;
  state: 'ROLLBACK';
}
/** What release() did: rolled a hold back, moved committed money back by the compensation `<id>:reversal`, or nothing. */
export interface ReleaseResult {
  planId: string;
  released: 'rollback' | 'compensated' | 'nothing' | 'partial';
}

/** An incremental authorization's raise of a hold (`ops.raise`): 'nothing' when it holds that much already. */
export interface RaiseResult {
  planId: string;
  raised: 'raised' | 'nothing';
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
  kind: PlanKind;
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
  /** UTC day of the plan's partition (YYYY-MM-DD). */
  day: string;
  createdAt: Date;
  closedAt: Date | null;
  postings: Array<{ batchId: number; from: number; to: number; amount: bigint; currency: number }>;
}

export interface LedgerOptions {
  pool: pg.Pool;
  fees?: FeeSchedule;
  /** Group commit: longest wait of the first request of a batch (default 0: a batch goes as soon as the committer is idle). */
  maxWaitMs?: number;
  maxBatch?: number;
  maxInFlight?: number;
  /** Run the ledger migrations first (default true). */
  migrate?: boolean;
  /** Fold balance deltas into account rows every this many ms (default 500; 0: never, e.g. a read-only tool). */
  foldEveryMs?: number;
  /** Told of each call of the public write API (hold, addBatch, commit, rollback, release) when it settles, for metrics. */
  onOperation?: (o: { op: LedgerWriteOp; ok: boolean; ms: number }) => void;
}

/** The ledger's public write operations, as `LedgerOptions.onOperation` names them. */
export type LedgerWriteOp = 'hold' | 'addBatch' | 'commit' | 'rollback' | 'release';

/**
 * A hold prepared for a caller's own statement (the switch's outcome write): validated, accounts resolved,
 * fee and postings computed. Written by `holdSql` gated on the caller's rows, so it commits with them or not at all.
 */
export interface PreparedHold {
  planId: string;
  /** Partition day (YYYY-MM-DD), the caller's transaction day. */
  day: string;
  /** Hold and commit at once (a financial 0200). */
  commit: boolean;
  hash: string;
  commitHash: string | null;
  row: HoldRow;
  postings: RPosting[];
  /** Per account: change of posted, pending debits (≤ 0) and pending credits (≥ 0). */
  deltas: AccountDelta[];
  /** A no-negative account is debited: this hold needs the locked path (`runInTx`), not `holdSql`. */
  locked: boolean;
}

/** An SQL fragment: CTE definitions (`name as (…), …`) and their parameters, numbered from the caller's offset. */
export interface SqlFragment {
  ctes: string;
  values: unknown[];
}

/** Requests the ledger decides; the group committer and `runInTx` take the same shapes. */
export type LedgerOp =
  | { op: 'hold'; planId: string; day: string; hash: string; postings: RPosting[]; row: HoldRow; commitHash?: string }
  | { op: 'batch'; planId: string; batchId: number; hash: string; postings: RPosting[] }
  | { op: 'commit'; planId: string; hash: string; finalAmount?: bigint; finalPostings?: RPosting[] }
  | { op: 'rollback'; planId: string; hash: string }
  /** `keep`: a partial release of a hold, down to this amount (a partial reversal); absent: everything. */
  | { op: 'release'; planId: string; day: string; keep?: bigint }
  /** An incremental authorization: the hold of a payment plan raised to `amount` (its fee recomputed). */
  | { op: 'raise'; planId: string; day: string; amount: bigint };

export type LedgerResult = HoldResult | BatchResult | CommitResult | RollbackResult | ReleaseResult | RaiseResult;

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
  /** Gives the money of a plan back: a hold is rolled back; a committed payment or refund is moved back by the compensation `<id>:reversal`. Idempotent. */
  release(planId: string): Promise<ReleaseResult>;
  balances(account: string | number): Promise<Balances>;
  plan(planId: string): Promise<PlanView | undefined>;
  check(): Promise<CheckReport>;
  /** The books per settlement business day (docs/ledger.md, "Reconciliation"). */
  reconcile(o?: ReconOptions): Promise<ReconRow[]>;
  /** The last settlement reconciliation per acquirer, newest first (docs/ledger.md, "Settlement files"). */
  settlementRuns(): Promise<SettlementRunView[]>;
  stats(): GroupCommitStats;

  /** A payment or refund hold for the caller's own statement (see PreparedHold). */
  prepareHold(planId: string, payment: Payment, meta: PlanMeta | undefined, o: { day: string; commit?: boolean }): Promise<PreparedHold>;
  /** CTEs writing `holds` whose plan id is in `gate` (a CTE of the caller with a text column `id`); `$` parameters from `firstParam`. */
  holdSql(holds: readonly PreparedHold[], gate: string, firstParam: number): SqlFragment;
  /** Requests for `runInTx` (validated; accounts resolved). */
  ops: {
    hold(h: PreparedHold): LedgerOp;
    commit(planId: string, final?: { amount: bigint }): LedgerOp;
    rollback(planId: string): LedgerOp;
    release(planId: string, day: string, keep?: bigint): LedgerOp;
    raise(planId: string, day: string, amount: bigint): LedgerOp;
  };
  /** Decide and write `ops` on the caller's client, inside the caller's open transaction. One result or Error per op. */
  runInTx(client: pg.PoolClient, ops: readonly LedgerOp[]): Promise<Array<LedgerResult | Error>>;
  /** Fold pending balance deltas into account rows now (the folder does this on its own every foldEveryMs). */
  fold(): Promise<number>;
  /** Day partitions from yesterday to a week ahead (idempotent); returns how many were created. */
  ensurePartitions(): Promise<number>;
  /** Finish queued requests and stop accepting new ones (the pool is the caller's). */
  close(): Promise<void>;
}

// ── internal shapes ──────────────────────────────────────────────────────────────────────────────────

export interface RPosting {
  from: number;
  to: number;
  amount: bigint;
  currency: number;
}

export interface HoldRow {
  kind: PlanKind;
  acquirer: string | null;
  terminal: string | null;
  merchant: string | null;
  currency: number | null;
  amount: bigint | null;
  fee: bigint | null;
  panHash: string | null;
  panMasked: string | null;
  /** Id of the key that made panHash (null or absent: the legacy key). */
  panKeyId?: string | null;
}

export interface AccountDelta {
  account: number;
  currency: number;
  own: bigint;
  min: bigint;
  max: bigint;
}

/** A plan as decide() sees and changes it. */
export interface WPlan {
  id: string;
  day: string;
  isNew: boolean;
  state: PlanState;
  kind: PlanKind;
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
  merchant: string | null;
  currency: number | null;
  postings: Array<RPosting & { batchId: number }>;
  batchHashes: Map<number, string>;
  dirty: boolean;
}

/** An account as decide() sees it: balances are only loaded (under lock) for no-negative accounts. */
export interface WAccount {
  id: number;
  currency: number;
  noNegative: boolean;
  own: bigint;
  min: bigint;
  max: bigint;
}

export interface Rejection {
  hash: string;
  code: string;
  params: Record<string, unknown>;
}

/** Everything decide() needs, as load() read it. */
export interface LoadedState {
  plans: Map<string, WPlan>;
  accounts: Map<number, WAccount>;
  rejections: Map<string, Rejection>;
}

/** Everything write() must do, as decide() left it. */
export interface Writes {
  plans: Array<{ plan: WPlan; hash: string; row: HoldRow }>;
  postings: Array<RPosting & { planId: string; day: string; batchId: number; seq: number }>;
  journal: Array<{ planId: string; day: string; step: number; op: string; batchId: number | null; hash: string }>;
  rejections: Array<{ key: string; hash: string; code: string; params: Record<string, unknown> }>;
  deltas: Map<number, AccountDelta>;
  /** Existing plans whose state, batches or steps changed. */
  dirty: WPlan[];
}
