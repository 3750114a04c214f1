/**
 * Every SQL statement on the ledger's tables (docs/ledger.md, "Write path and growth"):
 *  - load(): lock the plans a batch names (id order), read their postings, batch hashes and recorded
 *    rejections; account metadata; and, only for no-negative accounts, their balance under a row lock;
 *  - write(): one statement of data-modifying CTEs for everything decide() produced (plans, postings, journal,
 *    rejections, plan state changes, one balance delta row per account);
 *  - holdSql(): the same inserts for holds prepared for a caller's statement, gated on the caller's rows;
 *  - fold(): moves committed balance deltas into the account rows (whole transactions at a time);
 *  - reads: balances (row + Σ deltas + archived), plans, accounts; day partitions.
 * No other module writes these tables.
 */
import type pg from 'pg';
import { pgArray, pgRecords } from '../store/pg-array.js';
import { inTransaction } from '../store/tx.js';
import { compensationId } from './decide.js';
import type { LedgerOp, LoadedState, PreparedHold, Rejection, SqlFragment, WAccount, WPlan, Writes } from './types.js';
import { big } from './validate.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

const LOCK_NAMESPACE = 0x4c47; // 'LG'

/** Reads and locks what decide() needs for `reqs`, inside the caller's transaction. */
export async function load(client: Queryable, reqs: readonly LedgerOp[], reqAccounts: ReadonlySet<number>): Promise<LoadedState> {
  const ids = new Set<string>();
  const holdIds: string[] = [];
  const rejKeys: string[] = [];
  for (const r of reqs) {
    ids.add(r.planId);
    if (r.op === 'release') ids.add(compensationId(r.planId));
    if (r.op === 'hold') {
      holdIds.push(r.planId);
      rejKeys.push(`hold:${r.planId}`);
    } else if (r.op === 'batch') rejKeys.push(`batch:${r.planId}:${r.batchId}:${r.hash.slice(2)}`);
  }
  if (holdIds.length > 0) {
    // A new plan has no row to lock yet: two instances creating the same id take turns on its advisory lock
    // (a plan id is unique across days, and the primary key only covers one day's partition).
    await client.query({
      name: 'ledger_lock_new',
      text: `select count(pg_advisory_xact_lock($1::int, k)) from (select distinct hashtext(x) as k from unnest($2::text[]) as x order by 1) s`,
      values: [LOCK_NAMESPACE, pgArray(holdIds, (x) => x)],
    });
  }
  const planIds = [...ids].sort();
  // Per-key lateral lookups: always index probes, whatever the statistics say. Postings and journal are read in
  // the plan's own partition (its day, from the plan row).
  const q1 = await client.query<{ t: string; j: string }>({
    name: 'ledger_load',
    text: `with pl as (
        select l.* from unnest($1::text[]) with ordinality as u(id, o)
        cross join lateral (
          select id, to_char(day, 'YYYY-MM-DD') as day, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal,
                 merchant, currency, amount::text, fee::text, final_amount::text, final_fee::text
            from ledger_plan where id = u.id order by day desc limit 1 for update) l),
      po as (select x.* from pl cross join lateral (
               select plan_id, batch_id, seq, from_account, to_account, amount::text, currency from ledger_posting
                where plan_id = pl.id and day = pl.day::date) x),
      jo as (select x.* from pl cross join lateral (
               select plan_id, batch_id, request_hash from ledger_journal
                where plan_id = pl.id and day = pl.day::date and batch_id is not null) x),
      rj as (select x.* from unnest($2::text[]) as u(k)
               cross join lateral (select request_key, request_hash, code, params from ledger_rejection where request_key = u.k) x),
      ac as (select id, currency, no_negative from ledger_account
              where id = any($3::bigint[]) or id in (select from_account from po union select to_account from po))
      select 'p' as t, row_to_json(pl)::text as j from pl
      union all select 'o', row_to_json(po)::text from po
      union all select 'j', row_to_json(jo)::text from jo
      union all select 'r', row_to_json(rj)::text from rj
      union all select 'a', row_to_json(ac)::text from ac`,
    values: [
      pgArray(planIds, (x) => x),
      pgArray(rejKeys, (x) => x),
      pgArray(
        [...reqAccounts].sort((a, b) => a - b),
        (x) => x,
      ),
    ],
  });
  const state: LoadedState = { plans: new Map(), accounts: new Map(), rejections: new Map() };
  const later: Array<{ t: string; v: Record<string, unknown> }> = [];
  const guarded: number[] = [];
  for (const row of q1.rows) {
    const v = JSON.parse(row.j) as Record<string, unknown>;
    if (row.t === 'p') state.plans.set(v.id as string, planFromRow(v));
    else if (row.t === 'r')
      state.rejections.set(v.request_key as string, { hash: v.request_hash as string, code: v.code as string, params: v.params as Rejection['params'] });
    else if (row.t === 'a') {
      const a: WAccount = { id: Number(v.id), currency: v.currency as number, noNegative: v.no_negative as boolean, own: 0n, min: 0n, max: 0n };
      state.accounts.set(a.id, a);
      if (a.noNegative) guarded.push(a.id);
    } else later.push({ t: row.t, v });
  }
  for (const { t, v } of later) {
    const p = state.plans.get(v.plan_id as string);
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
  for (const p of state.plans.values()) p.postings.sort((a, b) => a.batchId - b.batchId);
  if (guarded.length > 0) {
    // The locked path: no-negative accounts are locked in id order, then read (row + pending deltas) in a
    // statement that starts after the locks are held, so a fold cannot fall between the two reads.
    guarded.sort((a, b) => a - b);
    await client.query({
      name: 'ledger_lock_guarded',
      text: 'select id from ledger_account where id = any($1::bigint[]) order by id for update',
      values: [pgArray(guarded, (x) => x)],
    });
    const { rows } = await client.query<{ id: string; own: string; mn: string; mx: string }>({
      name: 'ledger_read_guarded',
      text: `select a.id, (a.own + coalesce(d.o, 0))::text as own, (a.min_acc + coalesce(d.mi, 0))::text as mn, (a.max_acc + coalesce(d.ma, 0))::text as mx
               from ledger_account a left join lateral (select sum(d_own) o, sum(d_min) mi, sum(d_max) ma from ledger_balance_delta where account_id = a.id) d on true
              where a.id = any($1::bigint[])`,
      values: [pgArray(guarded, (x) => x)],
    });
    for (const r of rows) {
      const a = state.accounts.get(Number(r.id))!;
      a.own = BigInt(r.own);
      a.min = BigInt(r.mn);
      a.max = BigInt(r.mx);
    }
  }
  return state;
}

function planFromRow(v: Record<string, unknown>): WPlan {
  return {
    id: v.id as string,
    day: v.day as string,
    isNew: false,
    state: v.state as WPlan['state'],
    kind: v.kind as WPlan['kind'],
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
    merchant: (v.merchant as string | null) ?? null,
    currency: (v.currency as number | null) ?? null,
    postings: [],
    batchHashes: new Map(),
    dirty: false,
  };
}

const jsonParams = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

/** Writes what decide() produced: one statement. */
export async function write(client: Queryable, w: Writes): Promise<void> {
  const deltas = [...w.deltas.values()].filter((d) => d.own !== 0n || d.min !== 0n || d.max !== 0n).sort((a, b) => a.account - b.account);
  if (w.plans.length + w.postings.length + w.journal.length + w.rejections.length + deltas.length + w.dirty.length === 0) return;
  await client.query({
    name: 'ledger_write',
    text: `with ip as (
        insert into ledger_plan (id, day, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant,
                                 currency, amount, fee, final_amount, final_fee, pan_hash, pan_masked, pan_key, closed_at)
        select id, day, st, kind, 1, ls, hh, ch, acq, term, mer, cur, amt, fee, fa, ff, ph, pm, pk, case when st = 'HOLD' then null else now() end
          from unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::int[], $6::bytea[], $7::bytea[], $8::text[], $9::text[],
                      $10::text[], $11::smallint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $49::text[])
            as u(id, day, st, kind, ls, hh, ch, acq, term, mer, cur, amt, fee, fa, ff, ph, pm, pk)),
      ipo as (
        insert into ledger_posting (plan_id, day, batch_id, seq, from_account, to_account, amount, currency)
        select * from unnest($18::text[], $19::date[], $20::int[], $21::int[], $22::bigint[], $23::bigint[], $24::bigint[], $25::smallint[])),
      ij as (
        insert into ledger_journal (plan_id, day, step, op, batch_id, request_hash)
        select * from unnest($26::text[], $27::date[], $28::int[], $29::text[], $30::int[], $31::bytea[])),
      ir as (
        insert into ledger_rejection (request_key, request_hash, code, params)
        select * from unnest($32::text[], $33::bytea[], $34::text[], $35::jsonb[])),
      id as (
        insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max)
        select * from unnest($36::bigint[], $37::smallint[], $38::bigint[], $39::bigint[], $40::bigint[])),
      up as (
        update ledger_plan p set state = u.state, last_batch = u.lb, last_step = u.ls, close_hash = u.ch,
               final_amount = u.fa, final_fee = u.ff, closed_at = case when u.state = 'HOLD' then null else now() end
          from unnest($41::text[], $42::date[], $43::text[], $44::int[], $45::int[], $46::bytea[], $47::bigint[], $48::bigint[])
            as u(id, day, state, lb, ls, ch, fa, ff)
         where p.id = u.id and p.day = u.day)
      select 1`,
    values: [
      pgArray(w.plans, (x) => x.plan.id),
      pgArray(w.plans, (x) => x.plan.day),
      pgArray(w.plans, (x) => x.plan.state),
      pgArray(w.plans, (x) => x.row.kind),
      pgArray(w.plans, (x) => x.plan.lastStep),
      pgArray(w.plans, (x) => x.hash),
      pgArray(w.plans, (x) => x.plan.closeHash),
      pgArray(w.plans, (x) => x.row.acquirer),
      pgArray(w.plans, (x) => x.row.terminal),
      pgArray(w.plans, (x) => x.row.merchant),
      pgArray(w.plans, (x) => x.row.currency),
      pgArray(w.plans, (x) => x.row.amount?.toString() ?? null),
      pgArray(w.plans, (x) => x.row.fee?.toString() ?? null),
      pgArray(w.plans, (x) => (x.plan.state === 'HOLD' ? null : (x.plan.finalAmount?.toString() ?? null))),
      pgArray(w.plans, (x) => (x.plan.state === 'HOLD' ? null : (x.plan.finalFee?.toString() ?? null))),
      pgArray(w.plans, (x) => x.row.panHash),
      pgArray(w.plans, (x) => x.row.panMasked),
      pgArray(w.postings, (x) => x.planId),
      pgArray(w.postings, (x) => x.day),
      pgArray(w.postings, (x) => x.batchId),
      pgArray(w.postings, (x) => x.seq),
      pgArray(w.postings, (x) => x.from),
      pgArray(w.postings, (x) => x.to),
      pgArray(w.postings, (x) => x.amount.toString()),
      pgArray(w.postings, (x) => x.currency),
      pgArray(w.journal, (x) => x.planId),
      pgArray(w.journal, (x) => x.day),
      pgArray(w.journal, (x) => x.step),
      pgArray(w.journal, (x) => x.op),
      pgArray(w.journal, (x) => x.batchId),
      pgArray(w.journal, (x) => x.hash),
      pgArray(w.rejections, (x) => x.key),
      pgArray(w.rejections, (x) => x.hash),
      pgArray(w.rejections, (x) => x.code),
      pgArray(w.rejections, (x) => jsonParams(x.params)),
      pgArray(deltas, (d) => d.account),
      pgArray(deltas, (d) => d.currency),
      pgArray(deltas, (d) => d.own.toString()),
      pgArray(deltas, (d) => d.min.toString()),
      pgArray(deltas, (d) => d.max.toString()),
      pgArray(w.dirty, (p) => p.id),
      pgArray(w.dirty, (p) => p.day),
      pgArray(w.dirty, (p) => p.state),
      pgArray(w.dirty, (p) => p.lastBatch),
      pgArray(w.dirty, (p) => p.lastStep),
      pgArray(w.dirty, (p) => p.closeHash),
      pgArray(w.dirty, (p) => p.finalAmount?.toString() ?? null),
      pgArray(w.dirty, (p) => p.finalFee?.toString() ?? null),
      pgArray(w.plans, (x) => (x.row.panHash === null ? null : (x.row.panKeyId ?? null))),
    ],
  });
}

/**
 * The hot path's holds as CTEs of the caller's statement: a payment or refund plan (with its hold hash, and
 * committed at once for a financial request or a refund), its batch-1 postings, the commit's journal step, and the balance changes summed
 * per account. Only holds whose plan id appears in the caller's CTE `gate` are written, so a hold commits
 * exactly when the caller's row does. No lock is taken: `prepareHold` sent holds that debit a no-negative
 * account to the locked path instead.
 */
export function holdSql(holds: readonly PreparedHold[], gate: string, p0: number): SqlFragment {
  const postings: Array<{ h: PreparedHold; seq: number; p: PreparedHold['postings'][number] }> = [];
  const deltas: Array<{ h: PreparedHold; d: PreparedHold['deltas'][number] }> = [];
  const commits: PreparedHold[] = [];
  for (const h of holds) {
    h.postings.forEach((p, seq) => postings.push({ h, seq, p }));
    for (const d of h.deltas) deltas.push({ h, d });
    if (h.commit) commits.push(h);
  }
  const ctes = holdCtes(gate, p0, commits.length > 0);
  const values: unknown[] = [
    pgRecords(holds, [
      (h) => h.planId,
      (h) => h.day,
      (h) => h.hash,
      (h) => h.commitHash,
      (h) => h.row.acquirer,
      (h) => h.row.terminal,
      (h) => h.row.merchant,
      (h) => h.row.currency,
      (h) => h.row.amount,
      (h) => h.row.fee,
      (h) => h.row.panHash,
      (h) => h.row.panMasked,
      (h) => (h.row.panHash === null ? null : (h.row.panKeyId ?? null)),
      (h) => h.row.kind,
    ]),
    pgRecords(postings, [(x) => x.h.planId, (x) => x.h.day, (x) => x.seq, (x) => x.p.from, (x) => x.p.to, (x) => x.p.amount, (x) => x.p.currency]),
    pgRecords(deltas, [(x) => x.h.planId, (x) => x.d.account, (x) => x.d.currency, (x) => x.d.own, (x) => x.d.min, (x) => x.d.max]),
  ];
  if (commits.length > 0) values.push(pgRecords(commits, [(h) => h.planId, (h) => h.day, (h) => h.commitHash]));
  return { ctes, values };
}

const holdCteCache = new Map<string, string>();

/** The hold CTEs' text for a gate, a first parameter number and whether a commit journal is written (built once). */
function holdCtes(gate: string, p0: number, withCommits: boolean): string {
  const key = `${gate}|${p0}|${withCommits}`;
  let text = holdCteCache.get(key);
  if (text !== undefined) return text;
  const $ = (i: number) => `$${p0 + i}`;
  text = `lh_plan as (
      insert into ledger_plan (id, day, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant,
                               currency, amount, fee, final_amount, final_fee, pan_hash, pan_masked, pan_key, closed_at)
      select u.id, u.day, case when u.ch is null then 'HOLD' else 'COMMIT' end, coalesce(u.kd, 'payment'), 1, case when u.ch is null then 1 else 2 end,
             u.hh, u.ch, u.acq, u.term, u.mer, u.cur, u.amt, u.fee,
             case when u.ch is null then null else u.amt end, case when u.ch is null then null else u.fee end, u.ph, u.pm, u.pk,
             case when u.ch is null then null else now() end
        from unnest(${$(0)}::ledger_hold_in[]) as u
       where u.id in (select id from ${gate})
      returning id),
    lh_posting as (
      insert into ledger_posting (plan_id, day, batch_id, seq, from_account, to_account, amount, currency)
      select u.pid, u.day, 1, u.seq, u.fr, u.tt, u.amt, u.cur from unnest(${$(1)}::ledger_hold_posting_in[]) as u
       where u.pid in (select id from lh_plan)),${
         withCommits
           ? `
    lh_journal as (
      insert into ledger_journal (plan_id, day, step, op, batch_id, request_hash)
      select u.pid, u.day, 2, 'commit', null, u.h from unnest(${$(3)}::ledger_hold_commit_in[]) as u
       where u.pid in (select id from lh_plan)),`
           : ''
       }
    lh_delta as (
      insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max)
      select u.acc, u.cur, sum(u.o), sum(u.mi), sum(u.ma) from unnest(${$(2)}::ledger_hold_delta_in[]) as u
       where u.pid in (select id from lh_plan)
       group by u.acc, u.cur)`;
  holdCteCache.set(key, text);
  return text;
}

/**
 * Moves committed balance deltas into the account rows: the transactions visible now, whole, with their
 * accounts locked in id order (the order the locked path takes them too). One folder at a time across
 * instances (a transaction advisory lock). Returns the number of delta rows folded.
 */
export async function fold(pool: pg.Pool): Promise<number> {
  // Nothing is written before either early return: committing the empty transaction releases the lock as a
  // rollback would.
  return inTransaction(pool, async (client) => {
    const { rows: lock } = await client.query<{ ok: boolean }>(`select pg_try_advisory_xact_lock($1::int, hashtext(current_schema() || ':fold')) as ok`, [
      LOCK_NAMESPACE,
    ]);
    if (!lock[0]?.ok) return 0;
    const { rows } = await client.query<{ xs: string | null; accs: string | null }>(
      `select array_agg(distinct xact)::text as xs, array_agg(distinct account_id)::text as accs from ledger_balance_delta`,
    );
    const xs = rows[0]?.xs;
    if (!xs || !rows[0]?.accs) return 0;
    await client.query(`select id from ledger_account where id = any($1::bigint[]) order by id for update`, [rows[0].accs]);
    const r = await client.query(
      `with d as (delete from ledger_balance_delta where xact = any($1::bigint[]) returning account_id, d_own, d_min, d_max),
            s as (select account_id, sum(d_own) as o, sum(d_min) as mi, sum(d_max) as ma, count(*) as n from d group by account_id)
       update ledger_account a set own = a.own + s.o, min_acc = a.min_acc + s.mi, max_acc = a.max_acc + s.ma
         from s where a.id = s.account_id
       returning s.n`,
      [xs],
    );
    return r.rows.reduce((n, x: { n: string }) => n + Number(x.n), 0);
  });
}

/** Balances as of now: the folded row plus the deltas not folded yet. */
export const BALANCE_SQL = `select a.id::text, a.code, a.currency, a.minor_unit,
    (a.own + coalesce(d.o, 0))::text as own, (a.min_acc + coalesce(d.mi, 0))::text as min_acc, (a.max_acc + coalesce(d.ma, 0))::text as max_acc
  from ledger_account a
  left join lateral (select sum(d_own) o, sum(d_min) mi, sum(d_max) ma from ledger_balance_delta where account_id = a.id) d on true`;

export async function readBalances(pool: pg.Pool, account: string | number): Promise<Record<string, string> | undefined> {
  const { rows } = await pool.query(`${BALANCE_SQL} where ${typeof account === 'number' ? 'a.id = $1' : 'a.code = $1'}`, [account]);
  return rows[0] as Record<string, string> | undefined;
}

export async function readPlan(
  pool: pg.Pool,
  planId: string,
): Promise<{ plan: Record<string, unknown>; postings: Array<Record<string, unknown>> } | undefined> {
  const { rows } = await pool.query(
    `select id, state, kind, last_batch, acquirer, terminal, merchant, currency, amount::text, fee::text,
            final_amount::text, final_fee::text, pan_masked, to_char(day, 'YYYY-MM-DD') as day, created_at, closed_at
       from ledger_plan where id = $1 order by day desc limit 1`,
    [planId],
  );
  const r = rows[0] as Record<string, unknown> | undefined;
  if (!r) return undefined;
  const ps = await pool.query(
    `select batch_id, from_account::text, to_account::text, amount::text, currency from ledger_posting
      where plan_id = $1 and day = $2::date order by batch_id, seq`,
    [planId, r.day],
  );
  return { plan: r, postings: ps.rows as Array<Record<string, unknown>> };
}

export async function insertAccount(pool: pg.Pool, a: { code: string; kind: string; currency: number; minorUnit: number; noNegative: boolean }): Promise<void> {
  await pool.query(`insert into ledger_account (code, kind, currency, minor_unit, no_negative) values ($1, $2, $3, $4, $5) on conflict (code) do nothing`, [
    a.code,
    a.kind,
    a.currency,
    a.minorUnit,
    a.noNegative,
  ]);
}

export interface AccountRow {
  id: string;
  code: string;
  kind: string;
  currency: number;
  minor_unit: number;
  no_negative: boolean;
}

export async function selectAccounts(pool: pg.Pool, codes: readonly string[]): Promise<AccountRow[]> {
  const { rows } = await pool.query<AccountRow>(
    'select id::text, code, kind, currency, minor_unit, no_negative from ledger_account where code = any($1::text[])',
    [codes],
  );
  return rows;
}

/** Day partitions [from, to] of the ledger's partitioned tables (idempotent); returns how many were created. */
export async function ensurePartitions(pool: pg.Pool, from: string, to: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('select ledger_day_partitions($1::date, $2::date) as n', [from, to]);
  return rows[0]?.n ?? 0;
}

/**
 * Plans that carry a PAN hash, counted per stored key id (null: written before key ids, the legacy key): how
 * many plans each PAN hash key still covers (src/switch/pan-key.ts, `npm run pan-keys -- report`). A scan of
 * the table, never on the hot path.
 */
export async function panKeyRows(q: Queryable): Promise<Array<{ key: string | null; rows: number }>> {
  const { rows } = await q.query<{ key: string | null; rows: string }>(
    'select pan_key as key, count(*)::text as rows from ledger_plan where pan_hash is not null group by pan_key order by pan_key nulls first',
  );
  return rows.map((r) => ({ key: r.key, rows: Number(r.rows) }));
}
