/**
 * Audit and reconciliation, straight from the tables (no in-memory state). An account's balance is its row
 * plus the deltas not folded yet (docs/ledger.md); days archived away are counted from ledger_archived_balance.
 *  - per currency Σposted = 0 and Σdebits pending = Σcredits pending;
 *  - every batch sums to zero per currency, with each posting in its accounts' currency;
 *  - every account's balance equals what its journal implies: for each plan, D = net of its postings on the
 *    account; COMMIT adds D to posted, HOLD adds min(D,0) / max(D,0) to pending, ROLLBACK nothing;
 *  - plans agree with their journal (a hold at step 1, last batch, closing op matches the state);
 *  - plans of a kind (docs/ledger.md, "Plan kinds") carry what the kind needs: payments, refunds and compensations
 *    their owners, currency, amount and fee, a negative fee only on refunds and compensations, a compensation is
 *    committed and matches the plan it moved back (its owners, captured amount and fee);
 *  - no-negative accounts are not below zero; no masked PAN keeps more than 10 digits.
 */
import type pg from 'pg';
import { SwitchError } from '../errors.js';

export interface Violation {
  rule: string;
  detail: string;
}

export interface CheckReport {
  ok: boolean;
  violations: Violation[];
  stats: { accounts: number; plans: number; postings: number; currencies: number };
}

const LIMIT = 20;

const BAL = `with bal as (
  select a.id, a.code, a.currency, a.no_negative, a.own + coalesce(d.o, 0) as own, a.min_acc + coalesce(d.mi, 0) as min_acc,
         a.max_acc + coalesce(d.ma, 0) as max_acc, coalesce(x.own, 0) as archived_own
    from ledger_account a
    left join (select account_id, sum(d_own) as o, sum(d_min) as mi, sum(d_max) as ma from ledger_balance_delta group by account_id) d on d.account_id = a.id
    left join ledger_archived_balance x on x.account_id = a.id)`;

export async function checkLedger(pool: pg.Pool | pg.PoolClient): Promise<CheckReport> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await checkOnce(pool);
    } catch (e) {
      // read-only: safe to retry when the connection was lost
      const lost = e instanceof Error && /Connection terminated|terminating connection|ECONNRESET/i.test(e.message);
      if (!lost || attempt >= 3 || 'release' in pool) throw e;
    }
  }
}

async function checkOnce(pool: pg.Pool | pg.PoolClient): Promise<CheckReport> {
  const violations: Violation[] = [];
  const add = (rule: string, rows: Array<Record<string, unknown>>, fmt: (r: Record<string, unknown>) => string) => {
    for (const r of rows) violations.push({ rule, detail: fmt(r) });
  };
  // One repeatable-read snapshot so the rules are checked against the same state.
  const client = 'release' in pool ? pool : await (pool as pg.Pool).connect();
  const own = client !== pool;
  const onError = () => undefined;
  if (own) client.on('error', onError);
  try {
    await client.query('begin isolation level repeatable read read only');
    const q = async (sql: string) => (await client.query(sql)).rows as Array<Record<string, unknown>>;

    add(
      'currency-posted-zero',
      await q(`${BAL} select currency, sum(own)::text as s from bal group by currency having sum(own) <> 0 limit ${LIMIT}`),
      (r) => `currency ${r.currency}: sum of posted balances is ${r.s}, not 0`,
    );

    add(
      'currency-pending-balanced',
      await q(
        `${BAL} select currency, (-sum(min_acc))::text as debits, sum(max_acc)::text as credits from bal
        group by currency having -sum(min_acc) <> sum(max_acc) limit ${LIMIT}`,
      ),
      (r) => `currency ${r.currency}: debits pending ${r.debits} <> credits pending ${r.credits}`,
    );

    add(
      'batch-zero-sum',
      await q(
        `select x.plan_id, x.batch_id, a.currency, sum(x.d)::text as s from (
          select plan_id, batch_id, to_account as acc, amount as d from ledger_posting
          union all select plan_id, batch_id, from_account, -amount from ledger_posting) x
        join ledger_account a on a.id = x.acc
        group by x.plan_id, x.batch_id, a.currency having sum(x.d) <> 0 limit ${LIMIT}`,
      ),
      (r) => `plan ${r.plan_id} batch ${r.batch_id}: currency ${r.currency} sums to ${r.s}`,
    );

    add(
      'posting-currency',
      await q(
        `select p.plan_id, p.batch_id, p.seq from ledger_posting p
         left join ledger_account a on a.id = p.from_account left join ledger_account b on b.id = p.to_account
        where a.id is null or b.id is null or a.currency <> p.currency or b.currency <> p.currency limit ${LIMIT}`,
      ),
      (r) => `plan ${r.plan_id} batch ${r.batch_id} posting ${r.seq}: missing account or currency differs from its accounts`,
    );

    add(
      'posting-orphan',
      await q(
        `select distinct p.plan_id from ledger_posting p left join ledger_plan l on l.id = p.plan_id and l.day = p.day where l.id is null limit ${LIMIT}`,
      ),
      (r) => `postings of unknown plan ${r.plan_id}`,
    );

    add(
      'account-balance',
      await q(
        `${BAL}, d as (
          select plan_id, day, acc, sum(v) as v from (
            select plan_id, day, to_account as acc, amount as v from ledger_posting
            union all select plan_id, day, from_account, -amount from ledger_posting) x group by plan_id, day, acc),
        e as (
          select d.acc, sum(case when l.state = 'COMMIT' then d.v else 0 end) as own,
                 sum(case when l.state = 'HOLD' then least(d.v, 0) else 0 end) as mn,
                 sum(case when l.state = 'HOLD' then greatest(d.v, 0) else 0 end) as mx
            from d join ledger_plan l on l.id = d.plan_id and l.day = d.day group by d.acc)
        select a.id, a.code, a.own::text, a.min_acc::text, a.max_acc::text,
               (coalesce(e.own, 0) + a.archived_own)::text as e_own, coalesce(e.mn, 0)::text as e_min, coalesce(e.mx, 0)::text as e_max
          from bal a left join e on e.acc = a.id
         where a.own <> coalesce(e.own, 0) + a.archived_own or a.min_acc <> coalesce(e.mn, 0) or a.max_acc <> coalesce(e.mx, 0)
         limit ${LIMIT}`,
      ),
      (r) => `account ${r.id} (${r.code}): stored posted/min/max ${r.own}/${r.min_acc}/${r.max_acc}, journal gives ${r.e_own}/${r.e_min}/${r.e_max}`,
    );

    // The plan row records the hold (step 1); journal rows carry steps 2.. (databases migrated before 002 may
    // also hold a step-1 'hold' row). Steps are contiguous up to the plan's last step, and the closing
    // operation matches the state.
    add(
      'plan-journal',
      await q(
        `with j as (select plan_id, day, min(step) as first_step, max(step) as last_step, max(batch_id) as last_batch,
                         bool_or(step = 1 and op <> 'hold') as bad_first,
                         (array_agg(op order by step desc))[1] as last_op, count(*) as n
                    from ledger_journal group by plan_id, day),
            pb as (select plan_id, day, max(batch_id) as last_batch, min(batch_id) as first_batch from ledger_posting group by plan_id, day)
       select l.id, l.state, l.last_batch, l.last_step, j.last_step as j_step, j.last_batch as j_batch, j.last_op,
              pb.last_batch as p_batch
         from ledger_plan l left join j on j.plan_id = l.id and j.day = l.day left join pb on pb.plan_id = l.id and pb.day = l.day
        where pb.plan_id is null or pb.first_batch <> 1 or pb.last_batch <> l.last_batch
           or (j.plan_id is null and (l.last_step <> 1 or l.last_batch <> 1 or l.state <> 'HOLD'))
           or (j.plan_id is not null and (j.bad_first or j.first_step > 2 or j.last_step <> l.last_step
               or j.n <> j.last_step - j.first_step + 1 or greatest(coalesce(j.last_batch, 1), 1) <> l.last_batch
               or (l.state = 'HOLD' and j.last_op not in ('hold', 'batch'))
               or (l.state = 'COMMIT' and j.last_op <> 'commit')
               or (l.state = 'ROLLBACK' and j.last_op <> 'rollback')))
        limit ${LIMIT}`,
      ),
      (r) =>
        `plan ${r.id} (${r.state}): journal disagrees (steps ${r.j_step ?? 'none'} vs ${r.last_step}, batches ${r.j_batch ?? 'none'}/${r.p_batch ?? 'none'} vs ${r.last_batch}, last op ${r.last_op ?? 'none'})`,
    );

    add(
      'posting-into-closed-plan',
      await q(
        `select distinct p.plan_id from ledger_posting p join ledger_plan l on l.id = p.plan_id and l.day = p.day where p.batch_id > l.last_batch limit ${LIMIT}`,
      ),
      (r) => `plan ${r.plan_id}: postings beyond its last batch`,
    );

    add(
      'journal-orphan',
      await q(
        `select distinct j.plan_id from ledger_journal j left join ledger_plan l on l.id = j.plan_id and l.day = j.day where l.id is null limit ${LIMIT}`,
      ),
      (r) => `journal entries of unknown plan ${r.plan_id}`,
    );

    add(
      'plan-kind',
      await q(
        `select id, kind, state from ledger_plan
          where (kind in ('payment', 'capture', 'refund', 'compensation')
                 and (acquirer is null or terminal is null or merchant is null or currency is null or amount is null or fee is null))
             or (kind not in ('refund', 'compensation') and (fee < 0 or final_fee < 0))
             or (kind = 'compensation' and (state <> 'COMMIT' or right(id, 9) <> ':reversal'))
          limit ${LIMIT}`,
      ),
      (r) => `plan ${r.id} (${r.kind}, ${r.state}): lacks what its kind needs, or a negative fee, or a compensation not committed`,
    );

    // The original of a compensation may be archived away with its day (docs/retention.md): then nothing to compare.
    add(
      'compensation-original',
      await q(
        `select c.id, o.id as original from ledger_plan c
           left join lateral (select * from ledger_plan o where o.id = left(c.id, -9) order by o.day desc limit 1) o on true
          where c.kind = 'compensation'
            and ((o.id is null and not exists (select 1 from ledger_archived_day))
              or (o.id is not null and (o.state <> 'COMMIT' or o.kind not in ('payment', 'capture', 'refund')
                  or o.acquirer is distinct from c.acquirer or o.terminal is distinct from c.terminal or o.merchant is distinct from c.merchant
                  or o.currency is distinct from c.currency or coalesce(o.final_amount, o.amount) <> c.amount
                  or coalesce(o.final_fee, o.fee) <> c.fee)))
          limit ${LIMIT}`,
      ),
      (r) => `compensation ${r.id}: ${r.original === null ? 'its original plan is missing' : 'differs from the committed payment or refund it moved back'}`,
    );

    add(
      'no-negative',
      await q(`${BAL} select id, code, (own + min_acc)::text as avail from bal where no_negative and own + min_acc < 0 limit ${LIMIT}`),
      (r) => `account ${r.id} (${r.code}) may not go negative but min available is ${r.avail}`,
    );

    add(
      'no-pan',
      await q(`select id from ledger_plan where length(regexp_replace(coalesce(pan_masked, ''), '[^0-9]', '', 'g')) > 10 limit ${LIMIT}`),
      (r) => `plan ${r.id}: masked PAN keeps more than 10 digits`,
    );

    const s = (
      await q(
        `select (select count(*) from ledger_account)::int as accounts, (select count(*) from ledger_plan)::int as plans,
              (select count(*) from ledger_posting)::int as postings, (select count(distinct currency) from ledger_account)::int as currencies`,
      )
    )[0] as CheckReport['stats'];
    await client.query('commit');
    return { ok: violations.length === 0, violations, stats: s };
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  } finally {
    if (own) {
      client.removeListener('error', onError);
      (client as pg.PoolClient).release(true);
    }
  }
}

/** Throws SW_ERR_LEDGER_CHECK_FAILED (count and first violation) unless the report is clean. */
export function assertLedgerOk(report: CheckReport): void {
  if (report.ok) return;
  const first = report.violations[0];
  throw new SwitchError('SW_ERR_LEDGER_CHECK_FAILED', {
    count: report.violations.length,
    first: first ? `[${first.rule}] ${first.detail}`.slice(0, 300) : 'unknown',
  });
}
