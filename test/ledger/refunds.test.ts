/**
 * Refunds and compensations (docs/ledger.md, "Plan kinds"), on real PostgreSQL:
 * - a refund plan (kind 'refund') posts merchant → acquirer its amount and its signed fee (fees.refundFee):
 *   < 0 the fee given back (fees → merchant), > 0 a refund fee (merchant → fees);
 * - refunds go through hold(), prepareHold({ commit: true }) + holdSql, and ops.hold / runInTx (the locked path
 *   when the merchant account may not go negative);
 * - release() of a committed payment or refund writes a compensation `<id>:reversal` (kind 'compensation')
 *   carrying the original's owners, amount and fee;
 * - exact balances of the acquirer, merchant and fees accounts after each step, and ledger:check ok after each;
 *   ledger:check finds a compensation that does not match its original.
 */
import t, { type Test } from 'tap';
import type pg from 'pg';
import { testDb } from '../helpers/db.js';
import { createLedger, utcDay, type Ledger, type Payment, type PreparedHold } from '../../src/ledger/ledger.js';
import { loadFeeSchedule, type FeeSchedule } from '../../src/ledger/fees.js';

const ACQ = 'acquirer:acq-a:978';
const MER = 'merchant:m1:978';
const FEES = 'fees:978';

const pay = (amount: bigint, direction?: Payment['direction']): Payment => ({
  acquirer: 'acq-a',
  terminal: 'a-eur-2',
  merchant: 'm1',
  currency: 978,
  amount,
  ...(direction ? { direction } : {}),
});

/** The repository's fee schedule (1.2% + 5 on acq-a/a-eur-2), with a refund fee of its own when `refundFee` is given. */
function schedule(refundFee?: bigint): FeeSchedule {
  const base = loadFeeSchedule();
  if (refundFee === undefined) return base;
  return { doc: base.doc, fee: (a, tm, amt) => base.fee(a, tm, amt), refundFee: () => refundFee };
}

async function setup(t: Parameters<typeof testDb>[0], fees: FeeSchedule) {
  const db = await testDb(t);
  const l = await createLedger({ pool: db.pool, fees, foldEveryMs: 0 });
  t.teardown(() => l.close());
  return { db, l };
}

async function posted(l: Ledger): Promise<[bigint, bigint, bigint]> {
  const [a, m, f] = await Promise.all([ACQ, MER, FEES].map((c) => l.balances(c)));
  return [a!.posted, m!.posted, f!.posted];
}

async function checkOk(t: Test, l: Ledger, what: string) {
  const r = await l.check();
  t.same(r.violations, [], `ledger:check ok ${what}`);
}

/** The caller's statement: a gate CTE naming the plan ids that may commit, then the ledger's CTEs. */
async function writeGated(l: Ledger, client: pg.Pool | pg.PoolClient, holds: PreparedHold[]): Promise<string[]> {
  const f = l.holdSql(holds, 'gate', 2);
  const { rows } = await client.query<{ id: string }>(`with gate as (select unnest($1::text[]) as id), ${f.ctes} select id from lh_plan`, [
    holds.map((h) => h.planId),
    ...f.values,
  ]);
  return rows.map((r) => r.id);
}

t.test('payment, capture, refund giving the fee back, its compensation, the payment compensated', async (t) => {
  const { l } = await setup(t, schedule());
  await l.hold('p1', pay(10_000n));
  await checkOk(t, l, 'after the hold');
  await l.commit('p1');
  t.same(await posted(l), [-10_000n, 9_875n, 125n], 'captured: fee 1.2% + 5 = 125');
  await checkOk(t, l, 'after the capture');

  const h = await l.hold('r1', pay(4_000n, 'refund'));
  t.same(h, { planId: 'r1', state: 'HOLD', batchId: 1, amount: 4_000n, fee: -53n }, 'refund fee signed: the fee of 4000 (48 + 5) given back');
  const held = await l.balances(MER);
  t.equal(held.debitsPending, 3_947n, 'held: the plan nets on the merchant, 4000 owed less the 53 given back');
  t.equal(held.creditsPending, 0n);
  t.equal((await l.balances(FEES)).debitsPending, 53n, 'the fees account gives the 53 back');
  await checkOk(t, l, 'with the refund held');
  t.same(await l.commit('r1'), { planId: 'r1', state: 'COMMIT', amount: 4_000n, fee: -53n });
  t.same(await posted(l), [-6_000n, 9_875n - 4_000n + 53n, 72n], 'merchant → acquirer 4000, fees → merchant 53');
  const rv = await l.plan('r1');
  t.equal(rv?.kind, 'refund');
  t.same(
    rv?.postings.map((p) => p.amount),
    [4_000n, 53n],
  );
  t.equal(rv?.fee, -53n, 'the fee stored signed');
  await checkOk(t, l, 'after the refund');

  t.same(await l.release('r1'), { planId: 'r1', released: 'compensated' }, 'a committed refund is compensated');
  t.same(await l.release('r1'), { planId: 'r1', released: 'compensated' }, 'once');
  const rc = await l.plan('r1:reversal');
  t.match(rc, { kind: 'compensation', state: 'COMMIT', acquirer: 'acq-a', terminal: 'a-eur-2', merchant: 'm1', currency: 978, amount: 4_000n, fee: -53n });
  t.same(await posted(l), [-10_000n, 9_875n, 125n], 'the refund moved back: as after the capture');
  await checkOk(t, l, 'after the refund compensated');

  t.same(await l.release('p1'), { planId: 'p1', released: 'compensated' });
  const pc = await l.plan('p1:reversal');
  t.match(pc, { kind: 'compensation', state: 'COMMIT', acquirer: 'acq-a', merchant: 'm1', amount: 10_000n, fee: 125n });
  t.same(await posted(l), [0n, 0n, 0n], 'everything moved back');
  t.same(await l.release('r1:reversal'), { planId: 'r1:reversal', released: 'nothing' }, 'a compensation is not compensated');
  await checkOk(t, l, 'after the payment compensated');
});

t.test('a refund fee the merchant pays (refundFee > 0), and a partial refund capture', async (t) => {
  const { l } = await setup(t, schedule(30n));
  await l.hold('p2', pay(10_000n));
  await l.commit('p2');
  const h = await l.hold('r2', pay(2_000n, 'refund'));
  t.equal(h.fee, 30n, 'a positive refund fee');
  await l.commit('r2');
  t.same(await posted(l), [-8_000n, 9_875n - 2_000n - 30n, 155n], 'merchant → acquirer 2000, merchant → fees 30');
  const v = await l.plan('r2');
  t.same(
    v?.postings.map((p) => [p.amount, p.from === v.postings[0]!.from]),
    [
      [2_000n, true],
      [30n, true],
    ],
    'both postings from the merchant',
  );
  await checkOk(t, l, 'after a refund with a fee charged');
  t.same(await l.release('r2'), { planId: 'r2', released: 'compensated' });
  t.same(await posted(l), [-10_000n, 9_875n, 125n], 'compensated: the refund fee goes back to the merchant');
  t.equal((await l.plan('r2:reversal'))?.fee, 30n);
  await checkOk(t, l, 'after its compensation');

  await l.hold('r3', pay(1_000n, 'refund'));
  t.same(await l.commit('r3', { amount: 600n }), { planId: 'r3', state: 'COMMIT', amount: 600n, fee: 30n }, 'partial: the fee recomputed');
  t.same(await posted(l), [-9_400n, 9_875n - 630n, 155n]);
  await checkOk(t, l, 'after a partial refund');
  await l.hold('r4', pay(1_000n, 'refund'));
  t.same(await l.release('r4'), { planId: 'r4', released: 'rollback' }, 'a refund hold released is rolled back');
  t.same(await posted(l), [-9_400n, 9_875n - 630n, 155n]);
  await checkOk(t, l, 'after a refund rolled back');
});

t.test('refund hold replays: the same answer; the same id as a payment is refused', async (t) => {
  const { l } = await setup(t, schedule());
  const first = await l.hold('r5', pay(1_000n, 'refund'));
  t.same(await l.hold('r5', pay(1_000n, 'refund')), first, 'a replay answers the same');
  await t.rejects(l.hold('r5', pay(1_000n)), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' }, 'a payment under a refund id');
  await t.rejects(l.hold('r5', pay(1_001n, 'refund')), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await l.hold('p5', pay(1_000n));
  await t.rejects(l.hold('p5', pay(1_000n, 'refund')), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' }, 'a refund under a payment id');
  t.same(await l.hold('p5', pay(1_000n, 'payment')), await l.hold('p5', pay(1_000n)), "direction 'payment' is the default");
  await t.rejects(l.hold('bad', { ...pay(1n), direction: 'sideways' as 'refund' }), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  t.same((await l.plan('r5'))?.postings.length, 2, 'replays wrote nothing more');
  await checkOk(t, l, 'after the replays');
});

t.test('a refund committed in the caller statement (prepareHold commit + holdSql), replayed', async (t) => {
  const { db, l } = await setup(t, schedule());
  await l.hold('p6', pay(5_000n));
  await l.commit('p6');
  const day = utcDay();
  const r = await l.prepareHold('r6', pay(5_000n, 'refund'), undefined, { day, commit: true });
  t.equal(r.locked, false);
  t.equal(r.row.kind, 'refund');
  t.same(await writeGated(l, db.pool, [r]), ['r6']);
  const v = await l.plan('r6');
  t.match(v, { kind: 'refund', state: 'COMMIT', finalAmount: 5_000n, finalFee: -65n });
  t.same(await posted(l), [0n, 0n, 0n], 'refunded in full with its fee: back to zero');
  await checkOk(t, l, 'after a hot-path refund');
  // the switch answers a duplicate by replaying the hold through the ledger: the same answer
  t.same(await l.hold('r6', pay(5_000n, 'refund')), { planId: 'r6', state: 'HOLD', batchId: 1, amount: 5_000n, fee: -65n });
  t.same(await l.commit('r6'), { planId: 'r6', state: 'COMMIT', amount: 5_000n, fee: -65n }, 'its commit replays');
  t.same(await l.release('r6'), { planId: 'r6', released: 'compensated' });
  t.same(await posted(l), [-5_000n, 4_935n, 65n], 'as after the capture');
  await checkOk(t, l, 'after the hot-path refund compensated');
});

t.test('a refund debiting a no-negative merchant takes the locked path and cannot overdraw it', async (t) => {
  const { db, l } = await setup(t, schedule());
  await l.ensureAccount({ code: MER, kind: 'merchant', currency: 978, noNegative: true });
  await l.hold('p7', pay(1_000n));
  await l.commit('p7'); // merchant posted 1000 - 17 = 983
  const day = utcDay();
  const run = async (h: PreparedHold) => {
    const c = await db.pool.connect();
    try {
      await c.query('begin');
      const [res] = await l.runInTx(c, [l.ops.hold(h)]);
      await c.query('commit');
      return res;
    } finally {
      c.release();
    }
  };
  const big = await l.prepareHold('r7', pay(2_000n, 'refund'), undefined, { day, commit: true });
  t.equal(big.locked, true, 'a refund debits the merchant: the locked path');
  t.match(await run(big), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'more than the merchant has');
  t.match(await run(big), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'stays refused on replay');
  await t.rejects(l.hold('r8', pay(2_000n, 'refund')), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'the API path too');
  const ok = await l.prepareHold('r9', pay(900n, 'refund'), undefined, { day, commit: true });
  t.match(await run(ok), { planId: 'r9', state: 'COMMIT', amount: 900n, fee: -16n });
  t.equal((await l.balances(MER)).posted, 983n - 900n + 16n);
  await checkOk(t, l, 'after the locked refunds');
});

t.test('ledger:check: a compensation that does not match its original, a negative payment fee', async (t) => {
  const { db, l } = await setup(t, schedule());
  await l.hold('p8', pay(1_000n));
  await l.commit('p8');
  await l.release('p8');
  await checkOk(t, l, 'before tampering');
  // a compensation row claiming another amount (the insert trigger allows a plan committed at step 2)
  await db.pool.query(
    `insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant, currency, amount, fee,
                              final_amount, final_fee, closed_at)
     values ('p9:reversal', 'COMMIT', 'compensation', 1, 2, '\\x00', '\\x00', 'acq-a', 'a-eur-2', 'm1', 978, 5, 0, 5, 0, now()),
            ('p8x:reversal', 'COMMIT', 'compensation', 1, 2, '\\x00', '\\x00', 'acq-a', 'a-eur-2', 'm1', 978, 5, 0, 5, 0, now())`,
  );
  await db.pool.query(
    `insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant, currency, amount, fee, closed_at)
     values ('p9', 'COMMIT', 'payment', 1, 2, '\\x00', '\\x00', 'acq-a', 'a-eur-2', 'm1', 978, 7, 0, now())`,
  );
  const r = await l.check();
  const rules = r.violations.filter((v) => v.rule === 'compensation-original').map((v) => v.detail);
  t.match(rules.sort(), [/p8x:reversal: its original plan is missing/, /p9:reversal: differs/]);
  await t.rejects(
    db.pool.query(
      `insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, acquirer, terminal, merchant, currency, amount, fee)
       values ('neg', 'HOLD', 'payment', 1, 1, '\\x00', 'acq-a', 'T', 'm1', 978, 7, -1)`,
    ),
    { message: /ledger_plan_fee_sign/ },
    'a payment plan may not carry a negative fee',
  );
});
