/**
 * F19 for refunds (docs/faults.md): kill -9 at each crash point of a refund naming its original (after the
 * intent, after the send, after the answer, after the outcome write). The switch is a child process killing
 * itself at the point (SWITCH_TEST_CRASH_AT); the acquirer simulators live in this process. After a restart:
 * a refund recorded with its plan stands, its repeat replays it and is not sent again, and nothing more can be
 * refunded than what is left; anything sent but not recorded is reversed at the acquirer with no plan, and its
 * amount may be refunded again; ledger:check passes.
 */
import t from 'tap';
import { IsoMessage } from '../../src/iso8583/message.js';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { startChildSwitch, startSimulators, rulesFor, auth, capture, rc, txnOf, eventually, ledgerOn, refundOf } from '../helpers/switch.js';

const POINTS = ['after-intent', 'after-send', 'after-answer', 'after-outcome'] as const;

t.test('kill -9 at each crash point of a refund', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  const overrides = { rulesDir, expiry: { sweepIntervalMs: 300 } };

  // one captured original of 5,000 per crash point, made by a switch that does not crash
  const setup = await startChildSwitch(t, db.url, overrides);
  const ledger = await ledgerOn(t, db.pool);
  const c0 = await PspClient.connect({ port: setup.pspPort, timeoutMs: 10_000 });
  const originals: IsoMessage[] = [];
  for (let i = 0; i < POINTS.length; i++) {
    const orig = auth({ amount: 5_000 });
    t.equal(rc(await c0.send(orig)), '00');
    t.equal(rc(await c0.send(capture(orig, 5_000))), '00');
    originals.push(orig);
  }
  await c0.close();
  t.equal(await setup.stop(), 0);

  for (const [i, point] of POINTS.entries()) {
    await t.test(point, async (t) => {
      const orig = originals[i]!;
      const child = await startChildSwitch(t, db.url, overrides, { SWITCH_TEST_CRASH_AT: point });
      const client = await PspClient.connect({ port: child.pspPort, timeoutMs: 10_000 });
      const req = refundOf(orig, 3_000);
      const answer = await client.send(req).then(
        () => 'answered',
        (e: unknown) => (e as { code?: string }).code ?? 'error',
      );
      t.not(answer, 'answered', 'the PSP got no answer: the switch died first');
      await child.kill9();
      await client.close().catch(() => undefined);
      const row = (await txnOf(db.pool, req))!;
      t.ok(row, "the refund's intent was durable before it left");
      t.equal(row.kind, 'refund');
      const sim = sims.get(row.acquirer!)!;
      t.equal(
        sim.journal.count({ direction: 'in', mti: '0200', rrn: row.acq_rrn! }),
        point === 'after-intent' ? 0 : 1,
        point === 'after-intent' ? 'never sent' : 'sent once',
      );

      const again = await startChildSwitch(t, db.url, overrides);
      const c2 = await PspClient.connect({ port: again.pspPort, timeoutMs: 10_000 });
      if (point === 'after-outcome') {
        t.equal(row.state, 'approved');
        const plan = await ledger.plan(row.id);
        t.equal(plan?.kind, 'refund');
        t.equal(plan?.state, 'COMMIT', 'booked with its answer');
        const repeat = req.clone();
        repeat.mti = '0201';
        t.equal(rc(await c2.send(repeat)), '00', 'the repeat replays the approval');
        t.equal(sim.journal.count({ direction: 'in', mti: ['0200', '0201'], rrn: row.acq_rrn! }), 1, 'not sent again');
        t.equal(rc(await c2.send(refundOf(orig, 2_001))), '13', '3,000 of 5,000 refunded: 2,001 is too much');
        t.equal(rc(await c2.send(refundOf(orig, 2_000))), '00', 'the rest');
      } else {
        t.equal(row.state, 'sent', 'no answer recorded');
        await eventually(async () => (await txnOf(db.pool, req))!.state === 'reversed', 'recovered and reversed', 60_000, 200);
        if (point !== 'after-intent') t.ok(sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }) >= 1, 'the acquirer answered the reversal');
        t.equal(await ledger.plan(row.id), undefined, 'nothing booked');
        t.equal(rc(await c2.send(refundOf(orig, 5_000))), '00', 'the reversed refund does not count: all 5,000 may be refunded');
      }
      await c2.close();
      const check = await ledger.check();
      t.ok(check.ok, JSON.stringify(check.violations).slice(0, 300));
      t.equal(await again.stop(), 0);
    });
  }
});
