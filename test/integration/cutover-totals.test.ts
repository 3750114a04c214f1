/**
 * Cut-over totals (docs/switch.md, "Cut-over totals"), through the switch and its acquirer simulators: the 0500
 * carries the closed day's counts and amounts from the books (DE74-DE89), the simulator answers its own totals
 * from its journal, and the switch records the verdict, once across instances, with the fields that differ and
 * the metric the CutoverTotalsOutOfBalance alert reads.
 */
import t from 'tap';
import { businessDay } from '../../src/ledger/business-day.js';
import { registry } from '../../src/metrics/index.js';
import { startTestSwitch, auth, capture, refundOf, rc, txnOf } from '../helpers/switch.js';
import { clockPast } from '../helpers/wait.js';

async function gauge(acquirer: string): Promise<number | undefined> {
  const m = await registry.getSingleMetric('switch_cutover_totals_out_of_balance')!.get();
  return m.values.find((v) => v.labels.acquirer === acquirer && v.labels.currency === '978')?.value;
}

t.test('0500/0510 totals: in balance, out of balance, unanswered', async (t) => {
  // every event of this test on one UTC day (the shipped acquirers name no cut-over)
  const midnight = Date.parse(`${businessDay(new Date(Date.now() + 60_000))}T00:00:00Z`);
  if (midnight > Date.now()) await clockPast(midnight);
  const s = await startTestSwitch(t, { overrides: { cutoverTotals: { enabled: false, delayMs: 0, timeoutMs: 1_000 } } });
  const pool = s.db.pool;
  const day = businessDay(new Date());
  const sale = auth({ mti: '0200', amount: 1_000 });
  t.equal(rc(await s.client.send(sale)), '00');
  const held = auth({ amount: 2_000 });
  t.equal(rc(await s.client.send(held)), '00');
  t.equal(rc(await s.client.send(capture(held, 2_000))), '00');
  t.equal(rc(await s.client.send(refundOf(held, 500))), '00');
  t.equal(rc(await s.client.send(auth({ amount: 700 }))), '00', 'an authorization never captured: not a debit');
  const rows = await Promise.all([sale, held].map((m) => txnOf(pool, m)));
  const used = [...new Set(rows.map((r) => r!.acquirer!))];

  t.test('in balance: the books and the acquirer agree', async (t) => {
    let debits = 0;
    for (const acq of used) {
      const results = await s.h.cutoverTotals.run(acq, day);
      t.same(
        results.map((r) => [r.currency, r.verdict, r.settlementCode, r.differences]),
        [[978, 'in_balance', '1', []]],
        `${acq}: in balance, and the 0510 says so (DE66 1)`,
      );
      t.equal(await gauge(acq), 0);
      const row = (await pool.query('select ours, theirs, state from switch_cutover_totals where acquirer = $1 and day = $2', [acq, day])).rows[0];
      t.same(row.ours, { ...row.theirs, authorizations: row.ours.authorizations }, 'both sides recorded, equal');
      debits += Number(row.ours.debits);
      const journal = s.sim(acq).journal.find({ direction: 'in', mti: '0500' });
      t.equal(journal.length, 1, 'one 0500 reached it');
      t.same(
        (await s.h.cutoverTotals.run(acq, day)).map((r) => r.verdict),
        ['already_sent'],
        'sent once: a second run (another instance) sends nothing',
      );
      t.equal(s.sim(acq).journal.count({ direction: 'in', mti: '0500' }), 1);
    }
    t.equal(debits, 2, 'the sale and the capture are the debits; the refund a credit; the open authorization neither');
    const sums = await pool.query<{ d: string; c: string }>(
      "select sum((ours->>'debitsAmount')::bigint)::text as d, sum((ours->>'creditsAmount')::bigint)::text as c from switch_cutover_totals where day = $1",
      [day],
    );
    t.same(sums.rows[0], { d: '3000', c: '500' });
  });

  t.test('out of balance: the acquirer lost a record', async (t) => {
    const acq = rows[0]!.acquirer!;
    await pool.query('delete from switch_cutover_totals where acquirer = $1', [acq]);
    s.sim(acq).journal.clear(); // what it had settled is gone from its side
    const [r] = await s.h.cutoverTotals.run(acq, day);
    t.equal(r!.verdict, 'out_of_balance');
    t.equal(r!.settlementCode, '2', 'the 0510 says out of balance too (DE66 2)');
    t.ok(r!.differences.includes('debits') && r!.differences.includes('debitsAmount'), `the differing fields: ${r!.differences.join(', ')}`);
    t.equal(await gauge(acq), 1, 'the gauge the alert reads');
    const row = (await pool.query('select state, differences from switch_cutover_totals where acquirer = $1', [acq])).rows[0];
    t.same([row.state, row.differences], ['out_of_balance', r!.differences]);
  });

  t.test('unanswered: failed, and alerted like a mismatch', async (t) => {
    const acq = rows[0]!.acquirer!;
    await pool.query('delete from switch_cutover_totals where acquirer = $1', [acq]);
    s.sim(acq).startOutage(60_000, 'silent');
    t.teardown(() => s.sim(acq).startOutage(0, 'silent'));
    const [r] = await s.h.cutoverTotals.run(acq, day);
    t.same([r!.verdict, r!.error], ['failed', 'SW_ERR_LINK_TIMEOUT']);
    t.equal(await gauge(acq), 1);
  });
});
