/**
 * The ledger's write path (docs/ledger.md, "Write path and growth") on real PostgreSQL:
 * - holds written by a caller's statement commit exactly when the caller's gate row does;
 * - they take no lock on the accounts they move (a transaction holding the merchant's row lock does not stop them);
 * - balances are row + deltas; folding moves whole transactions and changes no balance, one folder at a time;
 * - no-negative accounts take the locked path, and concurrent debits never overdraw them;
 * - release() rolls a hold back or moves committed money back, once;
 * - the database refuses deltas that do not conserve money.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createLedger, utcDay, type Ledger, type PreparedHold } from '../../src/ledger/ledger.js';
import { loadFeeSchedule } from '../../src/ledger/fees.js';
import type pg from 'pg';

const pay = (amount: bigint, merchant = 'm1') => ({ acquirer: 'acq-a', terminal: 'a-eur-2', merchant, currency: 978, amount });

/** The caller's statement: a gate CTE naming the plan ids that may commit, then the ledger's CTEs. */
async function writeGated(l: Ledger, client: pg.Pool | pg.PoolClient, holds: PreparedHold[], allowed: string[]): Promise<string[]> {
  const f = l.holdSql(holds, 'gate', 2);
  const { rows } = await client.query<{ id: string }>(`with gate as (select unnest($1::text[]) as id), ${f.ctes} select id from lh_plan`, [
    allowed,
    ...f.values,
  ]);
  return rows.map((r) => r.id).sort();
}

async function bal(l: Ledger, code: string) {
  const b = await l.balances(code);
  return { posted: b.posted, debits: b.debitsPending, credits: b.creditsPending };
}

t.test('hot holds: gated on the caller, no lock, deltas folded whole', async (t) => {
  const db = await testDb(t);
  const l = await createLedger({ pool: db.pool, fees: loadFeeSchedule(), foldEveryMs: 0 });
  t.teardown(() => l.close());
  const day = utcDay();
  const h1 = await l.prepareHold('hp-1', pay(10_000n), undefined, { day });
  const h2 = await l.prepareHold('hp-2', pay(5_000n), undefined, { day });
  const h3 = await l.prepareHold('hp-3', pay(700n), undefined, { day, commit: true });
  t.equal(h1.locked, false, 'payment accounts are not no-negative: no lock needed');
  t.same(await writeGated(l, db.pool, [h1, h2, h3], ['hp-1', 'hp-3']), ['hp-1', 'hp-3'], 'only the gated plans are written');
  t.equal(await l.plan('hp-2'), undefined, 'hp-2 left out, postings and all');
  t.equal((await l.plan('hp-1'))?.state, 'HOLD');
  const p3 = await l.plan('hp-3');
  t.equal(p3?.state, 'COMMIT', 'a hold committed in the same statement (a financial request)');
  t.equal(p3?.finalAmount, 700n);
  t.equal(p3?.day, day);
  // fee 1.2% + 5: hp-1 holds 10,000 (fee 125); hp-3 posted 700 (fee 13)
  t.same(await bal(l, 'acquirer:acq-a:978'), { posted: -700n, debits: 10_000n, credits: 0n });
  t.same(await bal(l, 'merchant:m1:978'), { posted: 700n - 13n, debits: 0n, credits: 10_000n - 125n }, 'a plan counts its net diff per account');
  t.same(await bal(l, 'fees:978'), { posted: 13n, debits: 0n, credits: 125n });
  const { rows: d } = await db.pool.query<{ n: number }>('select count(*)::int as n from ledger_balance_delta');
  t.equal(d[0]!.n, 3, 'one delta row per account for the whole statement (summed per account)');
  t.ok((await l.check()).ok, 'audit passes with deltas unfolded');

  // a transaction holding the merchant's row lock does not block the hot path
  const locker = await db.pool.connect();
  t.teardown(() => locker.release());
  await locker.query('begin');
  await locker.query(`select 1 from ledger_account where code = 'merchant:m1:978' for update`);
  const h4 = await l.prepareHold('hp-4', pay(1_000n), undefined, { day });
  // Waiting for that lock would never end (it is held until the rollback below), so a write that waited would
  // lose this race; the 30 s only bound the test (the write takes milliseconds).
  const written = await Promise.race([
    writeGated(l, db.pool, [h4], ['hp-4']),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 30_000).unref()),
  ]);
  t.same(written, ['hp-4'], 'written while the account row is locked elsewhere: it did not wait for that lock');
  await locker.query('rollback');

  // one folder at a time: while another instance's fold holds the lock, this one folds nothing and leaves
  // the lock as it found it
  await locker.query('begin');
  await locker.query(`select pg_advisory_xact_lock(${0x4c47}, hashtext(current_schema() || ':fold'))`);
  t.equal(await l.fold(), 0, 'the lock is held elsewhere: nothing folded');
  const { rows: d1 } = await db.pool.query<{ n: number }>('select count(*)::int as n from ledger_balance_delta');
  t.equal(d1[0]!.n, 6, 'every delta row still there');
  await locker.query('commit');

  const before = await Promise.all(['acquirer:acq-a:978', 'merchant:m1:978', 'fees:978'].map((c) => bal(l, c)));
  const folded = await l.fold();
  t.equal(folded, 6, 'every delta row folded');
  const { rows: d2 } = await db.pool.query<{ n: number }>('select count(*)::int as n from ledger_balance_delta');
  t.equal(d2[0]!.n, 0);
  t.same(await Promise.all(['acquirer:acq-a:978', 'merchant:m1:978', 'fees:978'].map((c) => bal(l, c))), before, 'folding changes no balance');
  const { rows: acc } = await db.pool.query<{ own: string }>(`select own::text from ledger_account where code = 'fees:978'`);
  t.equal(acc[0]!.own, '13', 'the row now holds it');
  t.equal(await l.fold(), 0, 'nothing left to fold');
  t.ok((await l.check()).ok);
});

t.test('no-negative accounts take the locked path; concurrent debits never overdraw', async (t) => {
  const db = await testDb(t);
  const l = await createLedger({ pool: db.pool, foldEveryMs: 0 });
  t.teardown(() => l.close());
  // an acquirer account that may not go negative (a prepaid or pre-funded settlement account)
  await l.ensureAccount({ code: 'acquirer:acq-a:978', kind: 'acquirer', currency: 978, noNegative: true });
  await l.ensureAccount({ code: 'funding', kind: 'system', currency: 978 });
  await l.hold('fund', [{ from: 'funding', to: 'acquirer:acq-a:978', amount: 100n, currency: 978 }]);
  await l.commit('fund');
  const day = utcDay();
  const a = await l.prepareHold('nn-a', pay(60n), undefined, { day });
  const b = await l.prepareHold('nn-b', pay(60n), undefined, { day });
  t.equal(a.locked, true, 'a debit of a no-negative account needs the locked path');
  const run = async (h: PreparedHold) => {
    const c = await db.pool.connect();
    try {
      await c.query('begin');
      const [r] = await l.runInTx(c, [l.ops.hold(h)]);
      await c.query('commit');
      return r;
    } finally {
      c.release();
    }
  };
  const [ra, rb] = await Promise.all([run(a), run(b)]);
  const ok = [ra, rb].filter((r) => !(r instanceof Error));
  const refused = [ra, rb].filter((r): r is Error => r instanceof Error);
  t.equal(ok.length, 1, 'one of the two debits of 60 against 100 goes through');
  t.equal((refused[0] as Error & { code?: string })?.code, 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS', 'the other is refused');
  const acq = await l.balances('acquirer:acq-a:978');
  t.equal(acq.minAvailable, 40n, 'never below zero');
  t.ok((await l.check()).ok);
});

t.test('release: a hold is rolled back, committed money moved back, once', async (t) => {
  const db = await testDb(t);
  const l = await createLedger({ pool: db.pool, fees: loadFeeSchedule() });
  t.teardown(() => l.close());
  await l.hold('r-held', pay(2_000n));
  t.same(await l.release('r-held'), { planId: 'r-held', released: 'rollback' });
  t.equal((await l.plan('r-held'))?.state, 'ROLLBACK');
  t.same(await l.release('r-held'), { planId: 'r-held', released: 'nothing' }, 'again: nothing to do');
  await l.hold('r-posted', pay(3_000n));
  await l.commit('r-posted', { amount: 2_500n });
  t.same(await l.release('r-posted'), { planId: 'r-posted', released: 'compensated' });
  t.same(await l.release('r-posted'), { planId: 'r-posted', released: 'compensated' }, 'idempotent');
  const comp = await l.plan('r-posted:reversal');
  t.equal(comp?.state, 'COMMIT');
  t.same(
    comp?.postings.map((p) => p.amount),
    [2_500n, 35n],
    'the captured amount and its fee (1.2% + 5) go back',
  );
  t.same(await l.release('nobody'), { planId: 'nobody', released: 'nothing' });
  const m = await l.balances('merchant:m1:978');
  t.equal(m.posted, 0n, 'the merchant is back where it started');
  t.ok((await l.check()).ok);
});

t.test('the database refuses balance changes that do not conserve money', async (t) => {
  const db = await testDb(t);
  const l = await createLedger({ pool: db.pool });
  t.teardown(() => l.close());
  const a = await l.ensureAccount({ code: 'x', kind: 'system', currency: 978 });
  const b = await l.ensureAccount({ code: 'y', kind: 'system', currency: 978 });
  const usd = await l.ensureAccount({ code: 'z', kind: 'system', currency: 840 });
  await t.rejects(db.pool.query('insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max) values ($1, 978, 5, 0, 0)', [a.id]), {
    message: /conserve/,
  });
  await t.rejects(
    db.pool.query('insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max) values ($1, 978, 0, -5, 0), ($2, 978, 0, 0, 4)', [a.id, b.id]),
    { message: /conserve/ },
  );
  await t.rejects(
    db.pool.query('insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max) values ($1, 978, 5, 0, 0), ($2, 978, -5, 0, 0)', [
      a.id,
      usd.id,
    ]),
    { message: /mixes currencies/ },
  );
  await t.rejects(db.pool.query('update ledger_balance_delta set d_own = 0'), { message: /append-only/ });
  t.ok((await l.check()).ok);
});
