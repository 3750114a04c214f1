/**
 * F11 (docs/faults.md): an authorization and its reversal arrive at the same moment on two instances sharing
 * one database. Exactly one outcome, for each of 60 pairs: the original declined (the reversal came first), or
 * the original approved and then reversed (its hold released). Never a reversal acknowledged while its
 * original stands approved and held. A reversal answered 91 (its original still in flight) is repeated as the
 * PSP would, with 0401, once the original has its answer.
 */
import t from 'tap';
import { startTestSwitch, auth, reversal, rc, txnOf, eventually, ledgerOn } from '../helpers/switch.js';

const PAIRS = 60;

t.test('F11: a reversal and its original at once on two instances', async (t) => {
  const a = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const b = await startTestSwitch(t, { db: a.db, overrides: { acquirerTimeoutMs: 3_000 } });
  const ledger = await ledgerOn(t, a.db.pool);
  const outcomes = { declined: 0, reversed: 0, repeated: 0 };

  await Promise.all(
    Array.from({ length: PAIRS }, async (_, i) => {
      const orig = auth({ amount: 1_100 + i });
      const rev = reversal(orig);
      // alternate which instance gets which, and which is written first
      const [onA, onB] = i % 2 ? [orig, rev] : [rev, orig];
      // the original held back 0-3 ms (by pair): the two writes overlap at every offset, both ways round (a deliberate
      // offset that varies the race, not a wait for anything: every outcome it leads to is checked below)
      const lag = (m: typeof orig) => (m === orig ? new Promise((r) => setTimeout(r, i % 4)) : Promise.resolve());
      const [ra, rb] = await Promise.all([lag(onA).then(() => a.client.send(onA)), lag(onB).then(() => b.client.send(onB))]);
      const [origAnswer, revAnswer] = i % 2 ? [ra, rb] : [rb, ra];
      let revCode = rc(revAnswer);
      if (revCode === '91') {
        // the original was still in flight: the PSP repeats its reversal
        outcomes.repeated++;
        const repeat = rev.clone();
        repeat.mti = '0401';
        revCode = rc(await a.client.send(repeat));
      }
      t.equal(revCode, '00', `pair ${i}: the reversal is acknowledged`);
      const row = (await txnOf(a.db.pool, orig))!;
      const plan = await ledger.plan(row.id);
      if (rc(origAnswer) === '00') {
        outcomes.reversed++;
        t.equal(row.state, 'reversed', `pair ${i}: approved, then reversed`);
        t.equal(plan?.state, 'ROLLBACK', `pair ${i}: its hold released`);
        await eventually(
          () => [...a.sims(), ...b.sims()].some((s) => s.journal.count({ direction: 'in', mti: ['0400', '0401'], rrn: row.acq_rrn! }) > 0),
          `pair ${i}: reversal at the acquirer`,
        );
      } else {
        outcomes.declined++;
        t.equal(rc(origAnswer), '05', `pair ${i}: the original declined, reversed before it arrived`);
        t.not(row.state, 'approved');
        t.equal(plan, undefined, `pair ${i}: nothing held`);
        t.equal(
          [...a.sims(), ...b.sims()].reduce((n, s) => n + s.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn ?? '-' }), 0),
          0,
          `pair ${i}: never sent`,
        );
      }
    }),
  );
  t.comment(`declined ${outcomes.declined}, approved then reversed ${outcomes.reversed}, reversal repeated ${outcomes.repeated}`);
  t.equal(outcomes.declined + outcomes.reversed, PAIRS);
  const { rows } = await a.db.pool.query<{ n: number }>(
    `select count(*)::int as n from switch_txn where kind = 'auth' and state = 'approved' and psp_merchant = 'SHOP00000000001' and amount between 1100 and ${1_100 + PAIRS}`,
  );
  t.equal(rows[0]!.n, 0, 'no original left approved');
  t.ok((await ledger.check()).ok);
});
