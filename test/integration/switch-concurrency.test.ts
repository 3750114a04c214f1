/**
 * Work on one transaction is serialized: a capture racing a reversal of the same authorization, on one
 * instance and on two instances sharing the database, ends in one consistent state. The expiry sweeper rolls
 * back old holds, also with two sweepers running at once, and is wired to the config (expiry.holdAgeMs).
 */
import t, { type Test } from 'tap';
import pino from 'pino';
import { Sweeper } from '../../src/switch/sweeper.js';
import type { PspClient } from '../../simulators/psp/client.js';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventsOf, eventually, type TestSwitch } from '../helpers/switch.js';
import { clockPast } from '../helpers/wait.js';
import { txnIdTime } from '../../src/switch/store/sweep.js';

async function race(t: Test, a: TestSwitch, ca: PspClient, b: TestSwitch, cb: PspClient, rounds: number): Promise<{ captured: number; refused: number }> {
  const pool = a.db.pool;
  let captured = 0;
  let refused = 0;
  for (let i = 0; i < rounds; i++) {
    const req = auth({ amount: 5_000 + i });
    t.equal(rc(await ca.send(req)), '00');
    const row = (await txnOf(pool, req))!;
    const amount = i % 2 ? 5_000 + i : 3_000; // full and partial captures
    const [cap, rev] = await Promise.all([ca.send(capture(req, amount)), cb.send(reversal(req))]);
    t.equal(rc(rev), '00', 'the reversal is always acknowledged');
    const after = (await txnOf(pool, req))!;
    t.equal(after.state, 'reversed', 'ends reversed either way');
    const plan = await a.h.ledger.plan(row.id);
    const comp = await a.h.ledger.plan(`${row.id}:reversal`);
    if (rc(cap) === '00') {
      captured++;
      t.equal(plan?.state, 'COMMIT', 'captured first: committed…');
      t.equal(plan?.finalAmount ?? plan?.amount, BigInt(amount));
      t.equal(comp?.state, 'COMMIT', '…then moved back by the reversal');
      t.equal(comp?.kind, 'compensation');
      t.equal(comp?.amount, BigInt(amount), 'of what was captured (the books net it out, docs/ledger.md "Reconciliation")');
    } else {
      refused++;
      t.equal(rc(cap), '12', 'reversed first: the capture is refused');
      t.equal(plan?.state, 'ROLLBACK');
      t.equal(comp, undefined, 'no compensation needed');
      const sims = [...a.sims(), ...b.sims()];
      t.equal(
        sims.reduce((n, s) => n + s.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 0),
        0,
        'no completion sent',
      );
    }
    const evs = await eventsOf(pool, row.id);
    t.equal(evs.filter((e) => e === 'reversed').length, 1, 'reversed once');
  }
  return { captured, refused };
}

t.test('capture racing a reversal', async (t) => {
  const a = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const b = await startTestSwitch(t, { db: a.db, overrides: { acquirerTimeoutMs: 3_000 } });
  const ca2 = await a.connect();

  t.test('one instance, two PSP connections', async (t) => {
    const r = await race(t, a, a.client, a, ca2, 6);
    t.comment(`captured first ${r.captured}, reversed first ${r.refused}`);
  });
  t.test('two instances on one database (row lock)', async (t) => {
    const r = await race(t, a, a.client, b, b.client, 6);
    t.comment(`captured first ${r.captured}, reversed first ${r.refused}`);
  });
  t.test('orphan reversal on one instance, the original on another: declined there too, never sent', async (t) => {
    const orig = auth({ amount: 3_300 });
    t.equal(rc(await a.client.send(reversal(orig))), '00', 'orphan acknowledged by instance A');
    const before = [...a.sims(), ...b.sims()].reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0);
    const res = await b.client.send(orig);
    t.equal(rc(res), '05', 'instance B declines the original');
    t.equal(
      [...a.sims(), ...b.sims()].reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0),
      before,
      'not sent to an acquirer',
    );
    const row = (await txnOf(a.db.pool, orig))!;
    t.equal(row.state, 'declined');
    t.equal(await a.h.ledger.plan(row.id), undefined);
    t.equal(rc(await b.client.send(orig)), '05', 'a duplicate replays the decline');
  });

  t.test('ledger check', async (t) => {
    const report = await a.h.ledger.check();
    t.ok(report.ok, JSON.stringify(report.violations));
  });

  t.test('expiry: two sweepers at once roll back each old hold exactly once; captures are left alone', async (t) => {
    const reqs = Array.from({ length: 8 }, (_, i) => auth({ amount: 700 + i }));
    for (const r of reqs) t.equal(rc(await a.client.send(r)), '00');
    const keep = reqs.pop()!;
    t.equal(rc(await a.client.send(capture(keep, 700))), '00');
    const ids = await Promise.all(reqs.map(async (r) => (await txnOf(a.db.pool, r))!.id));
    const { rows: open } = await a.db.pool.query<{ n: number }>(`select count(*)::int as n from switch_txn where state = 'approved' and kind = 'auth'`);
    t.equal(open[0]!.n, reqs.length);
    const mk = (s: TestSwitch) =>
      new Sweeper(
        s.h.store,
        s.h.ledger,
        s.h.acquirers,
        { holdAgeMs: 1, intervalMs: 60_000, staleSentMs: 60_000, safExpireMs: 60_000, kickSaf: () => undefined },
        pino({ level: 'silent' }),
      );
    // every hold older than the sweepers' holdAgeMs (1 ms), judged as they judge it: by the time in the id
    await clockPast(Math.max(...ids.map(txnIdTime)) + 1);
    const [x, y, z] = await Promise.all([mk(a).expire(), mk(b).expire(), mk(b).expire()]);
    t.equal(x + y + z, reqs.length, `expired once in total (${x} + ${y} + ${z})`);
    for (const id of ids) {
      t.equal((await a.h.ledger.plan(id))?.state, 'ROLLBACK');
      t.equal((await eventsOf(a.db.pool, id)).filter((e) => e === 'expired').length, 1);
      t.equal((await a.h.store.get(id))?.state, 'expired');
    }
    const kept = (await txnOf(a.db.pool, keep))!;
    t.equal(kept.state, 'captured');
    t.equal((await a.h.ledger.plan(kept.id))?.state, 'COMMIT');
    // a capture or reversal of an expired authorization moves no money
    t.equal(rc(await a.client.send(capture(reqs[0]!, 700))), '12');
    t.equal((await a.h.ledger.plan(ids[0]!))?.state, 'ROLLBACK');
    t.ok((await a.h.ledger.check()).ok);
  });
});

t.test('expiry from the config: holds older than expiry.holdAgeMs are rolled back by the running sweeper', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, expiry: { holdAgeMs: 300, sweepIntervalMs: 100 } } });
  const req = auth({ amount: 1_234 });
  t.equal(rc(await s.client.send(req)), '00');
  const row = (await txnOf(s.db.pool, req))!;
  await eventually(async () => (await s.h.ledger.plan(row.id))?.state === 'ROLLBACK', 'hold rolled back by the sweeper');
  await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'expired', 'state expired');
  t.ok((await eventsOf(s.db.pool, row.id)).includes('expired'));
  t.ok((await s.h.ledger.check()).ok);
});
