/**
 * F09 (docs/faults.md): an acquirer connection is reset with requests in flight. Those requests were written:
 * the acquirer may have approved them, so they take the timeout path (91, reversal queued to the same
 * acquirer) and are never sent to another one. Only a request that was never written (the link down, a
 * breaker open) fails over to the next candidate.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, rc, txnOf, eventually, ledgerOn, type TestSwitch } from '../helpers/switch.js';

/** The routes a request was tried on, in order, and whether each reached its acquirer (its simulator's journal). */
async function attempts(s: TestSwitch, txnId: string): Promise<{ acquirer: string; reached: boolean }[]> {
  const { rows } = await s.db.pool.query<{ acquirer: string; acq_rrn: string }>(
    'select acquirer, acq_rrn from switch_intent where txn_id = $1 order by attempt',
    [txnId],
  );
  return rows.map((r) => ({ acquirer: r.acquirer, reached: s.sim(r.acquirer).journal.count({ direction: 'in', mti: '0100', rrn: r.acq_rrn }) > 0 }));
}

t.test('F09: a link reset with requests in flight', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const ledger = await ledgerOn(t, s.db.pool);

  t.test('in flight when the connection resets: 91, reversed at the same acquirer, never sent elsewhere', async (t) => {
    for (const sim of s.sims())
      sim.setBehaviour({
        rules: [
          { when: { panSuffix: '0009' }, action: 'reset' },
          { when: { panSuffix: '0019' }, delayMs: 600 },
        ],
      });
    const slow = Array.from({ length: 20 }, (_, i) => auth({ pan: `41111100${String(i).padStart(4, '0')}0019`, amount: 900 + i }));
    const pending = slow.map((m) => s.client.send(m));
    // the slow ones are at the acquirer now: reset their connections
    await eventually(() => s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0) >= 20, 'all at the acquirers');
    const resets: IsoMessage[] = [];
    for (let i = 0; i < 4; i++) resets.push(auth({ pan: `41111199${String(i).padStart(4, '0')}0009`, amount: 990 + i }));
    const resetAnswers = await Promise.all(resets.map((m) => s.client.send(m)));
    t.same(resetAnswers.map(rc), ['91', '91', '91', '91'], 'the requests that met the reset: 91');
    const answers = await Promise.all(pending);
    let lost = 0;
    for (const [i, req] of [...slow, ...resets].entries()) {
      const code = rc(i < slow.length ? answers[i]! : resetAnswers[i - slow.length]!);
      const row = (await txnOf(s.db.pool, req))!;
      const tried = await attempts(s, row.id);
      const reached = tried.filter((a) => a.reached);
      // (a request can be written and still never be read: the reset can cut it off on the way)
      t.ok(
        reached.length <= 1,
        `request ${i} reached one acquirer at most (tried ${tried.map((a) => `${a.acquirer}${a.reached ? ' (read)' : ''}`).join(', ')})`,
      );
      if (reached.length) t.equal(reached[0]!.acquirer, row.acquirer, 'the last one tried: nothing was tried after a request reached an acquirer');
      if (code === '00') {
        t.equal((await ledger.plan(row.id))?.state, 'HOLD');
        continue;
      }
      lost++;
      t.equal(code, '91');
      await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', `request ${i} reversed`);
      const { rows } = await s.db.pool.query<{ acquirer: string }>('select acquirer from switch_saf where txn_id = $1', [row.id]);
      t.same(
        rows.map((r) => r.acquirer),
        [row.acquirer],
        'its reversal went to the acquirer that had it',
      );
      t.equal(await ledger.plan(row.id), undefined, 'nothing held');
    }
    t.ok(lost > resets.length, `${lost - resets.length} slow requests were on a connection that reset, and were reversed`);
  });

  t.test('never written (the first choice is down): failed over, approved elsewhere', async (t) => {
    for (const sim of s.sims()) sim.setBehaviour({ rules: [] });
    const probe = auth({ amount: 1_000 });
    t.equal(rc(await s.client.send(probe)), '00');
    const first = (await txnOf(s.db.pool, probe))!.acquirer!;
    // the resets above closed connections on every acquirer: wait until each has all of its connections back,
    // so the fail-over below has somewhere to go (under load the reconnect can lag the first subtest's end)
    for (const a of s.h.acquirers.all()) await eventually(() => a.link.readyCount === a.link.options.connections, `${a.def.id} reconnected`);
    s.sim(first).startOutage(3_600_000, 'down');
    await eventually(() => s.h.acquirers.get(first).link.readyCount === 0, `${first} down`);
    const req = auth({ amount: 1_000 });
    t.equal(rc(await s.client.send(req)), '00', 'approved');
    const row = (await txnOf(s.db.pool, req))!;
    t.not(row.acquirer, first, `by another acquirer (${row.acquirer})`);
    t.equal(s.sim(first).journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }), 0, 'nothing reached the one that is down');
    s.sim(first).startOutage(0, 'down');
  });

  t.test('ledger check', async (t) => {
    t.ok((await ledger.check()).ok);
  });
});
