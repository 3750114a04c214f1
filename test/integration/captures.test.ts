/**
 * Several captures of one authorization (split shipments; docs/switch.md, "Captures"), end to end on real
 * sockets, the built-in simulators and PostgreSQL, with exact balances and ledger:check:
 * - capture SS of CC (DE63 `SSCC`) with SS < CC captures its amount as a plan of its own and keeps the rest
 *   held and open; the final one (SS = CC, or no DE63) commits the rest at its amount and releases what is left;
 * - never above what is left; a repeat of a capture replays its answer and is not sent again; a malformed
 *   sequence is 30;
 * - a partial capture the acquirer does not answer is captured all the same, its advice queued under the
 *   capture's own id and delivered (0221) once the acquirer answers;
 * - refunds count every capture; recon counts each capture on its own.
 */
import t from 'tap';
import { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, capture, rc, txnOf, eventually, setRules, refundOf, shippedFee } from '../helpers/switch.js';

const nth = (orig: IsoMessage, amount: number, seq?: string): IsoMessage => {
  const m = capture(orig, amount);
  if (seq !== undefined) m.set(63, seq);
  return m;
};

t.test('split shipments: partial captures, then the final one', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 1_500, saf: { pollMs: 100, retryInitialMs: 200, timeoutMs: 1_500 } } });
  const MER = 'merchant:SHOP00000000001:978';

  t.test('three captures of 10,000: 3,000 and 2,000 partial, 4,000 final, 1,000 released', async (t) => {
    const orig = auth({ amount: 10_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    const f = (a: bigint) => shippedFee(o.acquirer!, a, o.terminal!);
    const mer0 = await s.h.ledger.balances(MER);
    const sim = s.sim(o.acquirer!);
    const sent0 = sim.journal.count({ direction: 'in', mti: '0220' });

    const c1 = nth(orig, 3_000, '0103');
    t.equal(rc(await s.client.send(c1)), '00', 'capture 1 of 3');
    const r1 = (await txnOf(s.db.pool, c1))!;
    let row = (await txnOf(s.db.pool, orig))!;
    t.equal(row.state, 'approved', 'still open');
    const p1 = (await s.h.ledger.plan(r1.id))!;
    t.equal(p1.kind, 'capture');
    t.equal(p1.state, 'COMMIT');
    t.equal(p1.amount, 3_000n);
    t.equal(p1.fee, f(3_000n));
    let hold = (await s.h.ledger.plan(o.id))!;
    t.equal(hold.state, 'HOLD');
    t.equal(hold.finalAmount, 7_000n, 'the rest held');
    let mer = await s.h.ledger.balances(MER);
    t.equal(mer.posted - mer0.posted, 3_000n - f(3_000n), 'the merchant has the first shipment, less its fee');
    t.equal(mer.creditsPending - mer0.creditsPending, 7_000n - f(7_000n) - (10_000n - f(10_000n)), 'and 7,000 still pending instead of 10,000');

    t.equal(rc(await s.client.send(nth(orig, 7_001, '0203'))), '13', 'above what is left');
    t.equal(rc(await s.client.send(nth(orig, 1_000, '0003'))), '30', 'capture 0 of 3: malformed');
    t.equal(rc(await s.client.send(nth(orig, 1_000, '0402'))), '30', 'capture 4 of 2: malformed');

    const c2 = nth(orig, 2_000, '0203');
    t.equal(rc(await s.client.send(c2)), '00', 'capture 2 of 3');
    const repeat = c2.clone();
    repeat.mti = '0221';
    t.equal(rc(await s.client.send(repeat)), '00', 'its repeat replays 00');
    hold = (await s.h.ledger.plan(o.id))!;
    t.equal(hold.finalAmount, 5_000n, 'not captured twice');

    const c3 = nth(orig, 4_000, '0303');
    t.equal(rc(await s.client.send(c3)), '00', 'capture 3 of 3, the final');
    row = (await txnOf(s.db.pool, orig))!;
    t.equal(row.state, 'captured');
    hold = (await s.h.ledger.plan(o.id))!;
    t.equal(hold.state, 'COMMIT');
    t.equal(hold.finalAmount, 4_000n, 'the final capture commits at its amount, the last 1,000 released');
    t.equal(sim.journal.count({ direction: 'in', mti: '0220' }) - sent0, 3, 'three captures reached the acquirer, the repeat did not');
    mer = await s.h.ledger.balances(MER);
    t.equal(mer.posted - mer0.posted, 9_000n - f(3_000n) - f(2_000n) - f(4_000n), 'the merchant has all three, each less its fee');
    t.equal(mer.creditsPending, mer0.creditsPending - (10_000n - f(10_000n)), 'nothing of it pending any more');

    t.equal(rc(await s.client.send(refundOf(orig, 9_001))), '13', 'refunds count every capture: 9,001 is too much');
    t.equal(rc(await s.client.send(refundOf(orig, 9_000))), '00', 'all 9,000 refunded');

    const recon = await s.h.ledger.reconcile();
    const line = recon.find((r) => r.acquirer === o.acquirer && r.terminal === o.terminal)!;
    t.ok(line.capturedCount >= 3, 'each capture counted on its own in the books');
  });

  t.test('a capture without a sequence is the final one: the rest released at once', async (t) => {
    const orig = auth({ amount: 6_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    t.equal(rc(await s.client.send(nth(orig, 2_500))), '00');
    const hold = (await s.h.ledger.plan(o.id))!;
    t.equal(hold.state, 'COMMIT');
    t.equal(hold.finalAmount, 2_500n);
    t.equal(rc(await s.client.send(nth(orig, 1_000, '0202'))), '12', 'nothing left to capture after the final one');
  });

  t.test('a partial capture the acquirer does not answer: captured, its advice queued and delivered', async (t) => {
    const orig = auth({ amount: 8_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    const sim = s.sim(o.acquirer!);
    const answered = () => sim.journal.count({ direction: 'out', mti: '0230' }) + sim.journal.count({ direction: 'out', mti: '0231' });
    const answered0 = answered();
    setRules(sim, [{ when: { mti: ['0220', '0221'] }, action: 'drop' }]);
    const c1 = nth(orig, 1_000, '0102');
    t.equal(rc(await s.client.send(c1)), '00', 'the advice is the PSP word: captured');
    const r1 = (await txnOf(s.db.pool, c1))!;
    t.equal((await s.h.ledger.plan(r1.id))?.state, 'COMMIT');
    t.equal((await s.h.ledger.plan(o.id))?.finalAmount, 7_000n);
    const { rows } = await s.db.pool.query<{ n: string }>('select count(*) as n from switch_saf where txn_id = $1', [r1.id]);
    t.equal(rows[0]!.n, '1', "queued under the capture's own id");
    setRules(sim, []);
    t.equal(answered(), answered0, 'nothing answered while the acquirer drops captures');
    await eventually(() => answered() > answered0, 'delivered once the acquirer answers');
    await eventually(
      async () =>
        (await s.db.pool.query<{ done: boolean }>('select done_at is not null as done from switch_saf where txn_id = $1', [r1.id])).rows[0]?.done === true,
      'and done in the queue',
    );
    const c2 = nth(orig, 7_000, '0202');
    t.equal(rc(await s.client.send(c2)), '00', 'then the final one');
    t.equal((await txnOf(s.db.pool, orig))!.state, 'captured');
  });

  t.test('the books balance', async (t) => {
    const check = await s.h.ledger.check();
    t.ok(check.ok, JSON.stringify(check.violations).slice(0, 400));
  });
});
