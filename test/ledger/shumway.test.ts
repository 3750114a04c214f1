import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createLedger } from '../../src/ledger/ledger.js';

t.test('shumway worked example: +100, -35, +5, -100, -10, +50 then commit', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  await ledger.ensureAccount({ code: 'A', kind: 'system', currency: 978 });
  await ledger.ensureAccount({ code: 'B', kind: 'system', currency: 978 });
  const diffs = [100n, -35n, 5n, -100n, -10n, 50n];
  const expMin = [0n, 0n, 0n, -30n, -40n, 0n];
  const expMax = [100n, 65n, 70n, 0n, 0n, 10n];
  const posting = (d: bigint) => (d > 0n ? { from: 'B', to: 'A', amount: d, currency: 978 } : { from: 'A', to: 'B', amount: -d, currency: 978 });
  for (let i = 0; i < diffs.length; i++) {
    if (i === 0) t.same(await ledger.hold('plan-1', [posting(diffs[0]!)]), { planId: 'plan-1', state: 'HOLD', batchId: 1 });
    else t.same(await ledger.addBatch('plan-1', i + 1, [posting(diffs[i]!)]), { planId: 'plan-1', batchId: i + 1 });
    const a = await ledger.balances('A');
    t.equal(a.minAvailable, expMin[i], `batch ${i + 1} min available`);
    t.equal(a.maxAvailable, expMax[i], `batch ${i + 1} max available`);
    t.equal(a.posted, 0n);
    const b = await ledger.balances('B');
    t.equal(b.minAvailable, -expMax[i]!, 'counterparty mirrors');
    t.equal(b.maxAvailable, -expMin[i]!);
    t.ok((await ledger.check()).ok);
  }
  t.same(await ledger.commit('plan-1'), { planId: 'plan-1', state: 'COMMIT' });
  const a = await ledger.balances('A');
  t.equal(a.posted, 10n);
  t.equal(a.minAvailable, 10n);
  t.equal(a.maxAvailable, 10n);
  t.equal(a.debitsPending, 0n);
  t.equal(a.creditsPending, 0n);
  t.equal((await ledger.balances('B')).posted, -10n);
  const report = await ledger.check();
  t.same(report.violations, []);
  t.equal(report.stats.postings, 6);
});
