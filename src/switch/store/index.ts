/**
 * The switch store: every statement on the switch's tables (switch_*), for the flows, the SAF worker and the
 * sweeper, which write no SQL of their own (docs/switch.md, "The durable record").
 *
 *   intents()      the intent write stream (one dedicated connection, one statement per batch)
 *   answer()       the outcome write stream (same; the ledger's hold CTEs ride in its statement)
 *   transact(fn)   a transaction on the shared pool for everything else (SwitchTx + the ledger's runInTx)
 *   reads          current state, duplicates, originals
 *   saf, sweep     the SAF queue and the sweeper's scans
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { createGroupCommit, type BatchInfo, type GroupCommitStats, type GroupCommitter } from '../../store/group-commit.js';
import { migrate } from '../../store/migrate.js';
import { inTransaction } from '../../store/tx.js';
import type { Ledger } from '../../ledger/index.js';
import { addDays, dayOf } from '../keys.js';
import { flushIntents, outcomeFlusher, type AnswerWrite } from './hot.js';
import type { Intent, IntentResult, TxnRow } from './rows.js';
import { SafQueue } from './saf.js';
import { SweepQueries } from './sweep.js';
import { SwitchTx } from './tx.js';

export * from './rows.js';
export type { AnswerWrite } from './hot.js';
export { SwitchTx } from './tx.js';
export { SafQueue, type SafRow } from './saf.js';
export { SweepQueries, txnIdAt, txnIdTime, type LostIntent, type OpenAuth, type StaleClaim } from './sweep.js';
export { SwitchSafQueries, SwitchTrafficQueries, SwitchTransactionQueries, acquirerReferences, switchPanKeyRows } from './queries.js';

export const SWITCH_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

/** Days of partitions kept ahead of today. */
export const PARTITION_DAYS_AHEAD = 7;

const TXN_COLUMNS = `id, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id, state, amount::text, currency,
  pan_hash, pan_masked, merchant, acquirer, terminal, acq_stan, acq_rrn, acq_dt, acq_tid, acq_mid, response_code, auth_code,
  approved_amount::text, captured_amount::text, seq, rules_version, explanation, created_at, updated_at, to_char(day, 'YYYY-MM-DD') as day, pan_key`;

export interface SwitchStoreOptions {
  /** The shared pool: reads, transact(), the SAF queue and the sweeper. */
  pool: pg.Pool;
  /** Dedicated one-connection pools of the two write streams (default: the shared pool). */
  intentPool?: pg.Pool;
  answerPool?: pg.Pool;
  ledger: Ledger;
  /** Longest wait of a batch's first write (default 0: a batch goes as soon as its stream is idle). */
  maxWaitMs?: number;
  migrate?: boolean;
  /** A duplicate key led by a window number matches for this long (config duplicateWindowMs; default 10 minutes). */
  duplicateWindowMs?: number;
  onBatch?: (info: BatchInfo & { stream: 'intent' | 'answer' }) => void;
}

export class SwitchStore {
  readonly pool: pg.Pool;
  readonly saf: SafQueue;
  readonly sweep: SweepQueries;
  private readonly intentStream: GroupCommitter<Intent, IntentResult>;
  private readonly answerStream: GroupCommitter<AnswerWrite, { written: boolean }>;
  private readonly windowMs: number | undefined;

  private constructor(o: SwitchStoreOptions) {
    this.pool = o.pool;
    this.windowMs = o.duplicateWindowMs;
    this.saf = new SafQueue(o.pool);
    this.sweep = new SweepQueries(o.pool);
    const common = { maxWaitMs: o.maxWaitMs ?? 0, maxInFlight: 1, maxBatch: 1024, begin: null };
    this.intentStream = createGroupCommit<Intent, IntentResult>({
      ...common,
      pool: o.intentPool ?? o.pool,
      name: 'switch-intent',
      flush: (client, reqs) => flushIntents(client, reqs, this.windowMs),
      ...(o.onBatch ? { onBatch: (i: BatchInfo) => o.onBatch!({ ...i, stream: 'intent' }) } : {}),
    });
    this.answerStream = createGroupCommit<AnswerWrite, { written: boolean }>({
      ...common,
      pool: o.answerPool ?? o.pool,
      name: 'switch-answer',
      flush: outcomeFlusher(o.ledger),
      ...(o.onBatch ? { onBatch: (i: BatchInfo) => o.onBatch!({ ...i, stream: 'answer' }) } : {}),
    });
  }

  static async open(o: SwitchStoreOptions): Promise<SwitchStore> {
    if (o.migrate !== false) await migrate(o.pool, { module: 'switch', dir: SWITCH_MIGRATIONS_DIR });
    const store = new SwitchStore(o);
    await store.ensurePartitions();
    return store;
  }

  /** Day partitions from yesterday to PARTITION_DAYS_AHEAD days ahead (idempotent; the runtime calls it hourly). */
  async ensurePartitions(now = Date.now()): Promise<number> {
    const today = dayOf(now);
    const { rows } = await this.pool.query<{ n: number }>('select switch_day_partitions($1::date, $2::date) as n', [
      addDays(today, -1),
      addDays(today, PARTITION_DAYS_AHEAD),
    ]);
    return rows[0]?.n ?? 0;
  }

  /** The intent (or a decision made without an acquirer): durable when this resolves. */
  intent(i: Intent): Promise<IntentResult> {
    return this.intentStream.submit(i);
  }

  /** An answer with its hold or queued reversal: all durable, or none (see hot.ts). */
  answer(w: AnswerWrite): Promise<{ written: boolean }> {
    return this.answerStream.submit(w);
  }

  transact<T>(fn: (tx: SwitchTx) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, (client) => fn(new SwitchTx(client, this.windowMs)));
  }

  stats(): { intent: GroupCommitStats; answer: GroupCommitStats } {
    return { intent: this.intentStream.stats(), answer: this.answerStream.stats() };
  }

  async close(): Promise<void> {
    await Promise.all([this.intentStream.close(), this.answerStream.close()]);
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────────────────

  async get(id: string, day?: string): Promise<TxnRow | undefined> {
    const { rows } = await this.pool.query<TxnRow>(
      `select ${TXN_COLUMNS} from switch_txn where id = $1 ${day ? 'and day = $2::date' : ''}`,
      day ? [id, day] : [id],
    );
    return rows[0];
  }

  /** The transaction filed under a duplicate key on one of `days`. */
  async byDupKey(psp: string, dupKeys: readonly string[], days: readonly string[]): Promise<TxnRow | undefined> {
    const { rows } = await this.pool.query<TxnRow>({
      name: 'switch_by_dup',
      text: `select ${TXN_COLUMNS} from switch_txn where psp = $1 and dup_key = any($2::text[]) and day = any($3::date[]) order by created_at desc limit 1`,
      values: [psp, dupKeys, days],
    });
    return rows[0];
  }

  /**
   * The authorization, financial request or refund a capture, refund or reversal names: DE90's MTI class, DE11 and DE7, with its
   * own DE41 and DE42, on one of `days` (index switch_intent_original).
   */
  async original(
    psp: string,
    o: { cls: string; stan: string; dt: string; terminal: string; merchant: string },
    days: readonly string[],
  ): Promise<TxnRow | undefined> {
    const { rows } = await this.pool.query<TxnRow>({
      name: 'switch_original',
      text: `select ${TXN_COLUMNS} from switch_txn where psp = $1 and psp_dt = $2 and psp_stan = $3 and psp_terminal = $4 and psp_merchant = $5
               and day = any($6::date[]) and kind in ('auth', 'financial', 'refund', 'balance') and left(mti, 3) = left($7, 3) order by created_at desc limit 1`,
      values: [psp, o.dt, o.stan, o.terminal, o.merchant, days, o.cls],
    });
    return rows[0];
  }

  /**
   * What the children of an original add up to (docs/switch.md, "Refunds"): `captured`, its captures answered
   * approved (each partial capture and the final one; a repeat of a capture already made is acknowledged, not
   * approved, so it does not count twice); `refunded`, its refunds approved or still in flight (a refund timed out
   * or failed is reversed at the acquirer; a reversed one gave its money back).
   */
  async childTotals(originalId: string): Promise<{ captured: bigint; refunded: bigint }> {
    const { rows } = await this.pool.query<{ captured: string; refunded: string }>({
      name: 'switch_child_totals',
      text: `select coalesce(sum(amount) filter (where kind = 'capture' and state = 'approved'), 0)::text as captured,
                    coalesce(sum(amount) filter (where kind = 'refund' and state in ('sent', 'approved')), 0)::text as refunded
               from switch_txn where original_id = $1`,
      values: [originalId],
    });
    return { captured: BigInt(rows[0]?.captured ?? '0'), refunded: BigInt(rows[0]?.refunded ?? '0') };
  }

  /** A note on a transaction outside any flow (a late answer): best effort, on the shared pool. */
  async note(txnId: string, day: string, event: 'late_response', data: Record<string, unknown>): Promise<void> {
    await this.pool.query('insert into switch_note (txn_id, day, event, data) values ($1, $2, $3, $4)', [txnId, day, event, JSON.stringify(data)]);
  }
}
