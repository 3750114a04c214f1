/**
 * F07 (docs/faults.md): 200 captures (0220) and reversals (0400) at once on one PSP connection, against a
 * database pool of 2 connections and an acquirer that takes 1 s per capture. No deadlock, all 200
 * answered; and no flow holds a database connection across its acquirer round trip: were it so, at most 2
 * captures could be at the acquirer at once, where here nearly all of them are.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventually, ledgerOn } from '../helpers/switch.js';

t.test('F07: 200 concurrent captures and reversals on one connection', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 5_000, database: { poolSize: 2 } } });
  const ledger = await ledgerOn(t, s.db.pool);
  const auths: IsoMessage[] = [];
  for (let i = 0; i < 200; i++) {
    const req = auth({ amount: 700 + i });
    t.equal(rc(await s.client.send(req)), '00');
    auths.push(req);
  }
  for (const sim of s.sims()) sim.setBehaviour({ rules: [{ when: { mti: ['0220'] }, delayMs: 1_000 }] });

  // even ones captured, odd ones reversed: all sent at once, pipelined on the one connection
  const answers = await Promise.all(auths.map((req, i) => s.client.send(i % 2 === 0 ? capture(req, 700 + i) : reversal(req))));
  t.equal(answers.length, 200);
  t.same([...new Set(answers.map(rc))], ['00'], 'all 200 answered 00');

  const firstAnswer = (sim: ReturnType<typeof s.sims>[number]) => {
    const all = sim.journal.find({ mti: ['0220', '0230'] });
    const i = all.findIndex((e) => e.direction === 'out');
    return { before: all.slice(0, i < 0 ? all.length : i).filter((e) => e.direction === 'in').length, total: all.filter((e) => e.direction === 'in').length };
  };
  let atOnce = 0;
  let captures = 0;
  for (const sim of s.sims()) {
    const f = firstAnswer(sim);
    atOnce += f.before;
    captures += f.total;
  }
  t.equal(captures, 100, 'each capture reached its acquirer once');
  // Holding a connection across the round trip would cap this at the pool's 2. How many more get there within
  // the acquirer's 1 s depends on the machine (~100 quiet, 43 seen with both cores busy): 10 is far from both.
  t.ok(
    atOnce >= 10,
    `${atOnce} captures were at the acquirers before the first was answered (a pool of 2 could not allow more than 2 if a flow held its connection)`,
  );

  for (const [i, req] of auths.entries()) {
    const row = (await txnOf(s.db.pool, req))!;
    const want = i % 2 === 0 ? 'captured' : 'reversed';
    if (row.state !== want) t.fail(`authorization ${i} is ${row.state}, not ${want}`);
  }
  await eventually(async () => {
    const { rows } = await s.db.pool.query<{ n: number }>('select count(*)::int as n from switch_saf where done_at is null');
    return rows[0]!.n === 0;
  }, 'every reversal delivered');
  t.ok((await ledger.check()).ok, 'ledger check');
});
