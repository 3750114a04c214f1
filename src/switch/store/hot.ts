/**
 * The authorization's two durable writes (docs/switch.md, "The durable record"), each a write stream of its
 * own: one dedicated connection, one statement per batch with typed array parameters, no BEGIN/COMMIT.
 *
 *   intent stream   ─ insert switch_intent rows, refusing duplicates (also in the neighbouring days' partitions)
 *                     and originals whose reversal came first (switch_orphan_reversal), in the same statement;
 *   outcome stream  ─ insert the answer (switch_outcome step 1) and, gated on that row being new, the ledger's
 *                     hold CTEs (src/ledger/store.ts holdSql) and the reversal owed (switch_saf): the answer
 *                     commits with its hold or its queued reversal, or none of them does.
 *
 * A step-1 outcome already written by someone else (the sweeper's recovery, after a long stall) wins: the
 * later writer's row, hold and reversal are all left out, and it is told so.
 */
import type pg from 'pg';
import { pgArray } from '../../store/pg-array.js';
import type { Ledger, PreparedHold } from '../../ledger/index.js';
import type { Intent, IntentResult, Outcome, SafEntry } from './rows.js';

const json = (v: unknown): string => JSON.stringify(v);

const INTENT_COLUMNS = `txn_id, attempt, day, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id, original_day,
  amount, currency, pan_hash, pan_masked, acquirer, terminal, acq_stan, acq_rrn, acq_dt, acq_tid, acq_mid, rules_version,
  explanation, state, response_code, auth_code, reason`;

const INTENT_SQL = `with x as (
    select * from unnest($1::text[], $2::smallint[], $3::date[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                         $10::text[], $11::text[], $12::text[], $13::date[], $14::bigint[], $15::text[], $16::text[], $17::text[],
                         $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::int[],
                         $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[])
      as x(${INTENT_COLUMNS}, orphan_key)),
  ins as (
    insert into switch_intent (${INTENT_COLUMNS})
    select ${INTENT_COLUMNS} from x
     where not (x.orphan_key is not null
                and exists (select 1 from switch_orphan_reversal o where o.psp = x.psp and o.orig_key = x.orphan_key))
       and not (x.attempt = 1
                and exists (select 1 from switch_intent y where y.day in (x.day - 1, x.day + 1) and y.psp = x.psp
                               and y.dup_key = x.dup_key and y.attempt = 1))
    on conflict (day, psp, dup_key) where attempt = 1 do nothing
    returning txn_id, attempt)
  -- only the refused ones come back (usually none: nothing to parse)
  select x.txn_id, x.attempt from x where not exists (select 1 from ins where ins.txn_id = x.txn_id and ins.attempt = x.attempt)`;

function intentValues(rows: readonly Intent[]): string[] {
  return [
    pgArray(rows, (r) => r.txnId),
    pgArray(rows, (r) => r.attempt),
    pgArray(rows, (r) => r.day),
    pgArray(rows, (r) => r.kind),
    pgArray(rows, (r) => r.psp),
    pgArray(rows, (r) => r.mti),
    pgArray(rows, (r) => r.pspStan),
    pgArray(rows, (r) => r.pspTerminal),
    pgArray(rows, (r) => r.pspMerchant),
    pgArray(rows, (r) => r.pspDt),
    pgArray(rows, (r) => r.dupKey),
    pgArray(rows, (r) => r.originalId),
    pgArray(rows, (r) => r.originalDay),
    pgArray(rows, (r) => r.amount?.toString() ?? null),
    pgArray(rows, (r) => r.currency),
    pgArray(rows, (r) => r.panHash),
    pgArray(rows, (r) => r.panMasked),
    pgArray(rows, (r) => r.acquirer),
    pgArray(rows, (r) => r.terminal),
    pgArray(rows, (r) => r.acqStan),
    pgArray(rows, (r) => r.acqRrn),
    pgArray(rows, (r) => r.acqDt),
    pgArray(rows, (r) => r.acqTid),
    pgArray(rows, (r) => r.acqMid),
    pgArray(rows, (r) => r.rulesVersion),
    pgArray(rows, (r) => r.explanation),
    pgArray(rows, (r) => r.answer?.state ?? null),
    pgArray(rows, (r) => r.answer?.code ?? null),
    pgArray(rows, (r) => r.answer?.authCode ?? null),
    pgArray(rows, (r) => r.answer?.reason ?? null),
    pgArray(rows, (r) => r.orphanKey),
  ];
}

const INSERTED: IntentResult = { inserted: true };
const WRITTEN = { written: true };
const NOT_WRITTEN = { written: false };

/** Writes intents: one statement; the ones refused say why (a duplicate, or an orphan reversal came first). */
export async function flushIntents(client: pg.PoolClient, reqs: readonly Intent[]): Promise<IntentResult[]> {
  const { rows } = await client.query<{ txn_id: string; attempt: number }>({ name: 'switch_intent', text: INTENT_SQL, values: intentValues(reqs) });
  if (rows.length === 0) return reqs.map(() => INSERTED);
  const refusedKeys = new Set(rows.map((r) => `${r.txn_id}\u0000${r.attempt}`));
  const refused = reqs.filter((r) => refusedKeys.has(`${r.txnId}\u0000${r.attempt}`));
  const orphans = new Set<string>();
  const withKey = refused.filter((r) => r.orphanKey !== null);
  if (withKey.length > 0) {
    // after the fact, read-only: which of the refused ones an orphan reversal refused
    const { rows: o } = await client.query<{ psp: string; orig_key: string }>({
      name: 'switch_intent_orphans',
      text: 'select o.psp, o.orig_key from unnest($1::text[], $2::text[]) as u(psp, k) join switch_orphan_reversal o on o.psp = u.psp and o.orig_key = u.k',
      values: [pgArray(withKey, (r) => r.psp), pgArray(withKey, (r) => r.orphanKey)],
    });
    for (const r of o) orphans.add(`${r.psp}\u0000${r.orig_key}`);
  }
  return reqs.map((r) =>
    !refusedKeys.has(`${r.txnId}\u0000${r.attempt}`) ? INSERTED : { inserted: false, reason: r.orphanKey !== null && orphans.has(`${r.psp}\u0000${r.orphanKey}`) ? 'orphan' : 'duplicate' },
  );
}

/** An answer (outcome step 1) with what must commit with it: the hold of an approval, or the reversal owed. */
export interface AnswerWrite {
  outcome: Outcome;
  hold?: PreparedHold;
  saf?: SafEntry;
}

const OUTCOME_CTE = `o as (
    insert into switch_outcome (txn_id, seq, day, state, response_code, auth_code, amount, ref, reason)
    select * from unnest($1::text[], $2::smallint[], $3::date[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[])
    on conflict do nothing
    returning txn_id as id)`;

const safCte = (p0: number) => `s as (
    insert into switch_saf (txn_id, txn_day, acquirer, mti, fields, expires_at)
    select u.txn_id, u.txn_day, u.acquirer, u.mti, u.fields, u.expires_at
      from unnest($${p0}::text[], $${p0 + 1}::date[], $${p0 + 2}::text[], $${p0 + 3}::text[], $${p0 + 4}::jsonb[], $${p0 + 5}::timestamptz[])
        as u(txn_id, txn_day, acquirer, mti, fields, expires_at)
     where u.txn_id in (select id from o)
    on conflict (txn_id, mti) do nothing)`;

export function safValues(safs: readonly SafEntry[]): string[] {
  return [
    pgArray(safs, (s) => s.txn_id),
    pgArray(safs, (s) => s.txn_day),
    pgArray(safs, (s) => s.acquirer),
    pgArray(safs, (s) => s.mti),
    pgArray(safs, (s) => json(s.fields)),
    pgArray(safs, (s) => s.expires_at.toISOString()),
  ];
}

function outcomeValues(rows: readonly Outcome[]): string[] {
  return [
    pgArray(rows, (r) => r.txnId),
    pgArray(rows, (r) => r.seq),
    pgArray(rows, (r) => r.day),
    pgArray(rows, (r) => r.state),
    pgArray(rows, (r) => r.code ?? null),
    pgArray(rows, (r) => r.authCode ?? null),
    pgArray(rows, (r) => r.amount?.toString() ?? null),
    pgArray(rows, (r) => r.ref ?? null),
    pgArray(rows, (r) => r.reason ?? null),
  ];
}

/**
 * Writes answers: one statement of data-modifying CTEs. Four prepared shapes, by whether the batch has holds
 * and reversals, so a batch of declines pays for no ledger CTE (nor its statement-level checks).
 */
export function outcomeFlusher(ledger: Ledger): (client: pg.PoolClient, reqs: readonly AnswerWrite[]) => Promise<Array<{ written: boolean }>> {
  return async (client, reqs) => {
    const holds: PreparedHold[] = [];
    const safs: SafEntry[] = [];
    for (const r of reqs) {
      if (r.hold) holds.push(r.hold);
      if (r.saf) safs.push(r.saf);
    }
    const values: unknown[] = outcomeValues(reqs.map((r) => r.outcome));
    const ctes = [OUTCOME_CTE];
    if (holds.length > 0) {
      const f = ledger.holdSql(holds, 'o', values.length + 1);
      ctes.push(f.ctes);
      values.push(...f.values);
    }
    if (safs.length > 0) {
      ctes.push(safCte(values.length + 1));
      values.push(...safValues(safs));
    }
    const name = `switch_answer${holds.length > 0 ? '_h' : ''}${safs.length > 0 ? '_s' : ''}`;
    // only the answers left out come back (another writer took their step first: usually none)
    const { rows } = await client.query<{ id: string }>({
      name, text: `with ${ctes.join(',\n')}\nselect u.id from unnest($1::text[]) as u(id) where u.id not in (select id from o)`, values,
    });
    if (rows.length === 0) return reqs.map(() => WRITTEN);
    const left = new Set(rows.map((r) => r.id));
    return reqs.map((r) => (left.has(r.outcome.txnId) ? NOT_WRITTEN : WRITTEN));
  };
}
