/**
 * The authorization's two durable writes (docs/switch.md, "The durable record"), each a write stream of its
 * own: one dedicated connection, one statement per batch with typed array parameters, no BEGIN/COMMIT.
 *
 *   intent stream   ─ insert switch_intent rows, refusing duplicates, also in the neighbouring days' partitions
 *                     (an original whose reversal came first is one: the reversal filed its decline under its key);
 *   outcome stream  ─ insert the answer (switch_outcome step 1) and, gated on that row being new, the ledger's
 *                     hold CTEs (src/ledger/store.ts holdSql) and the reversal owed (switch_saf): the answer
 *                     commits with its hold or its queued reversal, or none of them does.
 *
 * A step-1 outcome already written by someone else (the sweeper's recovery, after a long stall) wins: the
 * later writer's row, hold and reversal are all left out, and it is told so.
 */
import type pg from 'pg';
import { pgRecords } from '../../store/pg-array.js';
import type { Ledger, PreparedHold } from '../../ledger/index.js';
import type { Intent, IntentResult, Outcome, SafEntry } from './rows.js';
import { addDays } from '../keys.js';
import { DEFAULT_CONFIG } from '../config.js';

const json = (v: unknown): string => JSON.stringify(v);

const INTENT_COLUMNS = `txn_id, attempt, day, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id, original_day,
  amount, currency, pan_hash, pan_masked, acquirer, terminal, acq_stan, acq_rrn, acq_dt, acq_tid, acq_mid, rules_version,
  explanation, state, response_code, auth_code, reason, pan_key`;

const INTENT_SQL = `with x as (select * from unnest($1::switch_intent_in[]) as x),
  ins as (
    insert into switch_intent (${INTENT_COLUMNS})
    select ${INTENT_COLUMNS.split(', ')
      .map((c) => `x.${c.trim()}`)
      .join(', ')} from x
    -- per-row index probes (lateral, limit 1), whatever the planner thinks of the tables' sizes: never a scan
    left join lateral (select 1 as hit from switch_intent y
                        where x.attempt = 1 and y.day = any(array[$2::date, $3::date])
                          and y.psp = x.psp and y.dup_key = x.dup_key and y.attempt = 1 limit 1) twin on true
    -- a key led by a window number: the previous window's key, within the window exactly
    left join lateral (select 1 as hit from switch_intent y
                        where x.prev_key is not null and y.day = any(array[$2::date, $4::date, $3::date])
                          and y.psp = x.psp and y.dup_key = x.prev_key and y.attempt = 1
                          and y.created_at > now() - make_interval(secs => $5) limit 1) prev on true
    where twin.hit is null and prev.hit is null
    -- either unique index: the duplicate key, or the original's DE7, DE11, DE41, DE42 (a reversal's filed decline)
    on conflict do nothing
    returning txn_id, attempt)
  -- only the refused ones come back (usually none: nothing to parse)
  select x.txn_id, x.attempt from x where not exists (select 1 from ins where ins.txn_id = x.txn_id and ins.attempt = x.attempt)`;

/** The intent rows as one parameter (type switch_intent_in), then the neighbouring days as plain parameters. */
const INTENT_FIELDS: ReadonlyArray<(r: Intent) => string | number | bigint | null | undefined> = [
  (r) => r.txnId,
  (r) => r.attempt,
  (r) => r.day,
  (r) => r.kind,
  (r) => r.psp,
  (r) => r.mti,
  (r) => r.pspStan,
  (r) => r.pspTerminal,
  (r) => r.pspMerchant,
  (r) => r.pspDt,
  (r) => r.dupKey,
  (r) => r.originalId,
  (r) => r.originalDay,
  (r) => r.amount,
  (r) => r.currency,
  (r) => r.panHash,
  (r) => r.panMasked,
  (r) => r.acquirer,
  (r) => r.terminal,
  (r) => r.acqStan,
  (r) => r.acqRrn,
  (r) => r.acqDt,
  (r) => r.acqTid,
  (r) => r.acqMid,
  (r) => r.rulesVersion,
  (r) => r.explanation,
  (r) => r.answer?.state,
  (r) => r.answer?.code,
  // the type's last column, orphan_key, is no longer read (docs/faults.md F11)
  (r) => r.answer?.authCode,
  (r) => r.answer?.reason,
  () => null,
  (r) => r.prevKey,
  (r) => (r.panHash === null ? null : (r.panKeyId ?? null)),
];

function intentValues(rows: readonly Intent[], windowMs: number): Array<string | number> {
  return [
    pgRecords(rows, INTENT_FIELDS),
    // the neighbouring days, as plain parameters: the executor prunes to their partitions when the statement
    // starts (instead of opening every day's index to prune per row), and each is an equality the index seeks
    // (a range on the index's first column would scan it)
    addDays(minDay(rows), -1),
    addDays(maxDay(rows), 1),
    minDay(rows),
    windowMs / 1000,
  ];
}

function minDay(rows: readonly Intent[]): string {
  let d = rows[0]!.day;
  for (const r of rows) if (r.day < d) d = r.day;
  return d;
}

function maxDay(rows: readonly Intent[]): string {
  let d = rows[0]!.day;
  for (const r of rows) if (r.day > d) d = r.day;
  return d;
}

const INSERTED: IntentResult = { inserted: true };
const DUPLICATE: IntentResult = { inserted: false, reason: 'duplicate' };
const WRITTEN = { written: true };
const NOT_WRITTEN = { written: false };

/** Writes intents: one statement; the ones refused (duplicates) come back so. */
export async function flushIntents(
  client: pg.PoolClient,
  reqs: readonly Intent[],
  windowMs: number = DEFAULT_CONFIG.duplicateWindowMs,
): Promise<IntentResult[]> {
  const { rows } = await client.query<{ txn_id: string; attempt: number }>({ name: 'switch_intent', text: INTENT_SQL, values: intentValues(reqs, windowMs) });
  if (rows.length === 0) return reqs.map(() => INSERTED);
  const refusedKeys = new Set(rows.map((r) => `${r.txn_id}\u0000${r.attempt}`));
  return reqs.map((r) => (refusedKeys.has(`${r.txnId}\u0000${r.attempt}`) ? DUPLICATE : INSERTED));
}

/** An answer (outcome step 1) with what must commit with it: the hold of an approval, or the reversal owed. */
export interface AnswerWrite {
  outcome: Outcome;
  hold?: PreparedHold;
  saf?: SafEntry;
}

const OUTCOME_CTE = `o as (
    insert into switch_outcome (txn_id, seq, day, state, response_code, auth_code, amount, ref, reason)
    select * from unnest($1::switch_outcome_in[])
    on conflict do nothing
    returning txn_id as id)`;

const safCte = (p: number) => `s as (
    insert into switch_saf (txn_id, txn_day, acquirer, mti, fields, expires_at)
    select u.txn_id, u.txn_day, u.acquirer, u.mti, u.fields, u.expires_at from unnest($${p}::switch_saf_in[]) as u
     where u.txn_id in (select id from o)
    on conflict (txn_id, mti) do nothing)`;

/** Reversals owed, as one parameter (type switch_saf_in). */
export function safValues(safs: readonly SafEntry[]): string {
  return pgRecords(safs, [(s) => s.txn_id, (s) => s.txn_day, (s) => s.acquirer, (s) => s.mti, (s) => json(s.fields), (s) => s.expires_at.toISOString()]);
}

/** Outcome rows, as one parameter (type switch_outcome_in). */
export function outcomeValues(rows: readonly Outcome[]): string {
  return pgRecords(rows, [
    (r) => r.txnId,
    (r) => r.seq,
    (r) => r.day,
    (r) => r.state,
    (r) => r.code,
    (r) => r.authCode,
    (r) => r.amount,
    (r) => r.ref,
    (r) => r.reason,
  ]);
}

/**
 * Writes answers: one statement of data-modifying CTEs. Six prepared shapes, by whether the batch has holds
 * (committed at once or not) and reversals, so a batch of declines pays for no ledger CTE (nor its
 * statement-level checks).
 */
export function outcomeFlusher(ledger: Ledger): (client: pg.PoolClient, reqs: readonly AnswerWrite[]) => Promise<Array<{ written: boolean }>> {
  const texts = new Map<string, string>();
  return async (client, reqs) => {
    const holds: PreparedHold[] = [];
    const safs: SafEntry[] = [];
    for (const r of reqs) {
      if (r.hold) holds.push(r.hold);
      if (r.saf) safs.push(r.saf);
    }
    const values: unknown[] = [outcomeValues(reqs.map((r) => r.outcome))];
    const ctes = [OUTCOME_CTE];
    if (holds.length > 0) {
      const f = ledger.holdSql(holds, 'o', values.length + 1);
      ctes.push(f.ctes);
      values.push(...f.values);
    }
    if (safs.length > 0) {
      ctes.push(safCte(values.length + 1));
      values.push(safValues(safs));
    }
    // one prepared statement per shape: the ledger's CTEs differ when a hold is committed at once (a 0200)
    const name = `switch_answer${holds.length > 0 ? (holds.some((h) => h.commit) ? '_hc' : '_h') : ''}${safs.length > 0 ? '_s' : ''}`;
    // only the answers left out come back (another writer took their step first: usually none)
    let text = texts.get(name);
    if (text === undefined) {
      text = `with ${ctes.join(',\n')}\nselect u.txn_id as id from unnest($1::switch_outcome_in[]) as u where u.txn_id not in (select id from o)`;
      texts.set(name, text);
    }
    const { rows } = await client.query<{ id: string }>({ name, text, values });
    if (rows.length === 0) return reqs.map(() => WRITTEN);
    const left = new Set(rows.map((r) => r.id));
    return reqs.map((r) => (left.has(r.outcome.txnId) ? NOT_WRITTEN : WRITTEN));
  };
}
