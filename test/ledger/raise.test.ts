/**
 * An incremental authorization raises a hold (ops.raise; docs/ledger.md, "Plan kinds"): the plan still HOLD at
 * the new amount with its fee recomputed, the merchant's pending credit raised by the difference; a raise to
 * what it holds does nothing, a raise below it or of a closed plan is refused; ledger:check passes.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { loadFeeSchedule } from '../../src/ledger/fees.js';
import { isSwitchError } from '../../src/errors.js';

t.test('raise a hold', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool, fees: loadFeeSchedule() });
  t.teardown(() => ledger.close());
  const day = new Date().toISOString().slice(0, 10);
  const fee = (a: bigint) => (a * 15n + 500n) / 1000n + 10n; // acq-a default: 1.5 % + 10
  const run = async (op: ReturnType<typeof ledger.ops.raise>) => {
    const c = await db.pool.connect();
    try {
      await c.query('begin');
      const [r] = await ledger.runInTx(c, [op]);
      await c.query(r instanceof Error ? 'rollback' : 'commit');
      return r;
    } finally {
      c.release();
    }
  };
  await ledger.hold('p1', { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'm1', currency: 978, amount: 1_000n });
  const before = await ledger.balances('merchant:m1:978');
  t.same(await run(ledger.ops.raise('p1', day, 1_500n)), { planId: 'p1', raised: 'raised' });
  const p = (await ledger.plan('p1'))!;
  t.equal(p.state, 'HOLD');
  t.equal(p.finalAmount, 1_500n);
  t.equal(p.finalFee, fee(1_500n));
  const after = await ledger.balances('merchant:m1:978');
  t.equal(after.creditsPending - before.creditsPending, 1_500n - fee(1_500n) - (1_000n - fee(1_000n)), 'pending credit raised by the difference, net of fees');
  t.same(await run(ledger.ops.raise('p1', day, 1_500n)), { planId: 'p1', raised: 'nothing' }, 'the same raise again: nothing');
  const lower = await run(ledger.ops.raise('p1', day, 900n));
  t.ok(isSwitchError(lower, 'SW_ERR_LEDGER_BAD_REQUEST'), 'a raise cannot lower a hold');
  await ledger.commit('p1');
  t.equal((await ledger.plan('p1'))!.finalAmount, 1_500n, 'a commit takes the raised amount');
  t.ok(isSwitchError(await run(ledger.ops.raise('p1', day, 2_000n)), 'SW_ERR_LEDGER_PLAN_STATE'), 'a committed plan is not raised');
  t.ok(isSwitchError(await run(ledger.ops.raise('nope', day, 2_000n)), 'SW_ERR_LEDGER_PLAN_NOT_FOUND'));
  t.ok((await ledger.check()).ok);
});
