/**
 * F21 (docs/faults.md): two refunds of one original at the same moment on two instances, sharing one database,
 * together above what was captured. Each instance serializes only its own requests; across instances the
 * refund's intent and its step on the original are one transaction, so the second collides, looks again and
 * counts the first (still at the acquirer) against the captured amount. The total refunded never exceeds the
 * capture, whichever instance wins; ledger:check passes.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { startTestSwitch, auth, capture, rc, txnOf, eventually, refundOf } from '../helpers/switch.js';

t.test('F21: two refunds of one original at once on two instances never exceed the capture', async (t) => {
  const db = await testDb(t, { max: 8 });
  const a = await startTestSwitch(t, { db, overrides: { acquirerTimeoutMs: 3_000 } });
  const b = await startTestSwitch(t, { db, overrides: { acquirerTimeoutMs: 3_000 } });
  // the refunds stay at the acquirer a while, so the two overlap there
  for (const sim of [...a.sims(), ...b.sims()]) sim.setBehaviour({ rules: [{ when: { processingCode: '20' }, delayMs: 150 }] });

  const ROUNDS = 6;
  let approvedTotal = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const orig = auth({ amount: 5_000 });
    t.equal(rc(await a.client.send(orig)), '00');
    t.equal(rc(await a.client.send(capture(orig, 5_000))), '00');
    await eventually(async () => (await txnOf(db.pool, orig))!.state === 'captured', 'captured');
    const [ra, rb] = await Promise.all([a.client.send(refundOf(orig, 3_000)), b.client.send(refundOf(orig, 3_000))]);
    const codes = [rc(ra), rc(rb)].sort();
    t.same(codes, ['00', '13'], `round ${i}: one refund approved, the other above what is left (got ${codes.join(', ')})`);
    const row = (await txnOf(db.pool, orig))!;
    const { rows } = await db.pool.query<{ n: string; total: string | null }>(
      "select count(*) as n, sum(amount)::text as total from switch_txn where original_id = $1 and kind = 'refund' and state = 'approved'",
      [row.id],
    );
    t.equal(rows[0]!.total, '3000', 'one refund of 3,000 booked');
    approvedTotal += Number(rows[0]!.total ?? 0);
  }
  t.equal(approvedTotal, ROUNDS * 3_000);
  const { rows } = await db.pool.query<{ n: string }>("select count(*) as n from ledger_plan where kind = 'refund' and state = 'COMMIT'");
  t.equal(rows[0]!.n, String(ROUNDS), 'one committed refund plan per round');
  const check = await a.h.ledger.check();
  t.ok(check.ok, JSON.stringify(check.violations).slice(0, 400));
});
