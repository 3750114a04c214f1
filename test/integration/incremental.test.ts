/**
 * Incremental authorizations (docs/switch.md, "Incremental authorizations"), end to end on real sockets, the
 * built-in simulators and PostgreSQL: a 0100 naming an open authorization by DE90 goes to that authorization's
 * acquirer and raises its hold; its repeat replays without a second raise; declined, it leaves the original as it
 * was; approved in part, it is reversed; an original captured, reversed or unknown is refused before sending; a
 * capture may then take the raised amount; ledger:check passes.
 */
import t from 'tap';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { startTestSwitch, auth, capture, de90, rc, txnOf, eventually, nextStan, setRules, reversal } from '../helpers/switch.js';

function incrementOf(orig: IsoMessage, amount: number): IsoMessage {
  return new IsoMessage('0100', {
    2: orig.getString(2)!,
    3: '000000',
    4: String(amount).padStart(12, '0'),
    7: transmissionDateTime(),
    11: nextStan(),
    41: orig.getString(41)!,
    42: orig.getString(42)!,
    49: '978',
    90: de90(orig),
  });
}

t.test('incremental authorization', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });

  t.test('raises the hold at the original acquirer; the capture takes the raised amount', async (t) => {
    const orig = auth({ amount: 5_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    const sim = s.sim(o.acquirer!);
    const inc = incrementOf(orig, 2_000);
    t.equal(rc(await s.client.send(inc)), '00');
    const row = (await txnOf(s.db.pool, inc))!;
    t.equal(row.kind, 'incremental');
    t.equal(row.acquirer, o.acquirer, "the original's acquirer");
    t.equal(row.terminal, o.terminal, 'and terminal');
    const got = sim.journal.find({ direction: 'in', mti: '0100', rrn: row.acq_rrn! })[0]!;
    t.equal(got.original?.slice(4, 10), o.acq_stan, 'DE90 names the original as the acquirer knows it');
    t.equal(got.amount, '000000002000', 'DE4 is the amount added');
    const plan = (await s.h.ledger.plan(o.id))!;
    t.equal(plan.state, 'HOLD');
    t.equal(plan.finalAmount, 7_000n, 'the hold raised');

    const repeat = inc.clone();
    repeat.mti = '0101';
    t.equal(rc(await s.client.send(repeat)), '00', 'the repeat replays');
    t.equal(sim.journal.count({ direction: 'in', mti: ['0100', '0101'], rrn: row.acq_rrn! }), 1, 'not sent again');
    t.equal((await s.h.ledger.plan(o.id))!.finalAmount, 7_000n, 'not raised twice');

    t.equal(rc(await s.client.send(capture(orig, 7_000))), '00', 'the capture takes the raised amount');
    const captured = (await s.h.ledger.plan(o.id))!;
    t.equal(captured.state, 'COMMIT');
    t.equal(captured.finalAmount, 7_000n);
    t.equal(rc(await s.client.send(incrementOf(orig, 100))), '12', 'a captured authorization is not raised');
  });

  t.test('declined, approved in part, unknown, reversed: the original as it was', async (t) => {
    const orig = auth({ amount: 3_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    const sim = s.sim(o.acquirer!);
    setRules(sim, [
      { when: { amountMin: 333, amountMax: 333 }, respond: '51' },
      { when: { amountMin: 444, amountMax: 444 }, respond: '10', approveAmount: 200 },
    ]);
    t.teardown(() => setRules(sim, []));
    t.equal(rc(await s.client.send(incrementOf(orig, 333))), '51', 'declined: the acquirer code');
    t.equal((await s.h.ledger.plan(o.id))!.finalAmount ?? (await s.h.ledger.plan(o.id))!.amount, 3_000n, 'nothing raised');
    const part = incrementOf(orig, 444);
    t.equal(rc(await s.client.send(part)), '91', 'approved in part: not taken');
    const prow = (await txnOf(s.db.pool, part))!;
    await eventually(() => sim.journal.count({ direction: 'out', mti: '0430', rrn: prow.acq_rrn! }) >= 1, 'its reversal delivered');
    t.equal((await s.h.ledger.plan(o.id))!.finalAmount ?? (await s.h.ledger.plan(o.id))!.amount, 3_000n, 'nothing raised');
    t.equal((await txnOf(s.db.pool, orig))!.state, 'approved', 'the original still open');
    t.equal(rc(await s.client.send(incrementOf(auth(), 100))), '25', 'an original never seen');
    t.equal(rc(await s.client.send(reversal(orig))), '00');
    const sent = sim.journal.count({ direction: 'in', mti: '0100' });
    t.equal(rc(await s.client.send(incrementOf(orig, 100))), '12', 'a reversed authorization is not raised');
    t.equal(sim.journal.count({ direction: 'in', mti: '0100' }), sent, 'nothing sent');
  });

  t.test('the books balance', async (t) => {
    const check = await s.h.ledger.check();
    t.ok(check.ok, JSON.stringify(check.violations).slice(0, 400));
  });
});
