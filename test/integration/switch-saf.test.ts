/**
 * Timeouts, store-and-forward reversals, late approvals, duplicates and repeats, acquirer links down.
 * Real sockets, real Postgres; the built-in acquirer simulators are scripted through setBehaviour.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/message.js';
import type { AcquirerSimulator, Rule } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, reversal, rc, txnOf, eventsOf, eventually, type TestSwitch } from '../helpers/switch.js';
import { quietFor } from '../helpers/wait.js';

const DECLINE_0002: Rule = { when: { panSuffix: '0002' }, respond: '05' };

function script(s: TestSwitch, rules: Rule[]): void {
  for (const sim of s.sims()) sim.setBehaviour({ rules: [...rules, DECLINE_0002] });
}

const reversalsIn = (sim: AcquirerSimulator, rrn: string) => sim.journal.count({ direction: 'in', mti: ['0420', '0421', '0400', '0401'], rrn });
const reversalsAnswered = (sim: AcquirerSimulator, rrn: string) => sim.journal.count({ direction: 'out', mti: ['0430', '0431', '0410', '0411'], rrn });

async function safRow(s: TestSwitch, txnId: string) {
  const { rows } = await s.db.pool.query<{ done_at: Date | null; attempts: number; response_code: string | null }>(
    'select done_at, attempts, response_code from switch_saf where txn_id = $1',
    [txnId],
  );
  return rows;
}

t.test('timeouts, SAF, late answers, duplicates, repeats', async (t) => {
  // 1 s acquirer timeout: short for the tests that wait for it, long enough for a loaded machine's approvals
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 1_000 } });
  const { h, client, db } = s;
  const unmatched: IsoMessage[] = [];
  client.on('unmatched', (m) => unmatched.push(m));
  t.afterEach(() => script(s, []));

  t.test('timeout → 91; 0420 queued first, repeated as 0421, exactly one reversal delivered; no hold', async (t) => {
    // the authorization is never answered, and the first reversals are lost too
    script(s, [
      { when: { panSuffix: '0091' }, action: 'drop' },
      { when: { mti: ['0420', '0421'] }, action: 'drop' },
    ]);
    const req = auth({ pan: '4111111111110091', amount: 4_200 });
    const res = await client.send(req);
    t.equal(res.mti, '0110');
    t.equal(rc(res), '91');
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.state, 'timed_out');
    t.equal(res.getString(37), row.acq_rrn);
    // durable before the answer: the SAF row exists as soon as the PSP has its 91
    const queued = await safRow(s, row.id);
    t.equal(queued.length, 1, 'reversal queued durably before the PSP answer');
    const sim = s.sim(row.acquirer!);
    await eventually(() => reversalsIn(sim, row.acq_rrn!) >= 3, 'three reversal attempts reached the acquirer (dropped)');
    const attempts = sim.journal.find({ direction: 'in', mti: ['0420', '0421'], rrn: row.acq_rrn! });
    t.equal(attempts[0]!.mti, '0420', 'first attempt is 0420');
    t.ok(
      attempts.slice(1).every((a) => a.mti === '0421'),
      'repeats are 0421',
    );
    // the acquirer comes back
    script(s, []);
    await eventually(async () => (await safRow(s, row.id))[0]?.done_at, 'SAF entry done');
    const answered = reversalsAnswered(sim, row.acq_rrn!);
    t.equal(answered, 1, 'exactly one reversal answered by the acquirer');
    const inAfter = reversalsIn(sim, row.acq_rrn!);
    // A check that nothing happens: a repeat would go out within saf.retryMaxMs (400 ms) of the last attempt, and
    // nothing marks its absence. On a loaded machine this only checks less, it cannot fail wrongly.
    await quietFor(400);
    t.equal(reversalsIn(sim, row.acq_rrn!), inAfter, 'no repeat after the answer');
    t.equal(reversalsAnswered(sim, row.acq_rrn!), 1);
    t.equal(await h.ledger.plan(row.id), undefined, 'no hold was ever made');
    t.equal((await txnOf(db.pool, req))!.state, 'reversed');
    const evs = await eventsOf(db.pool, row.id);
    t.same(evs.slice(0, 5), ['received', 'routed', 'sent', 'timed_out', 'reversal_queued']);
    t.equal(evs.filter((e) => e === 'reversal_sent').length, 1);
  });

  t.test('late approval: not forwarded, not posted, logged; the reversal still goes out', async (t) => {
    script(s, [{ when: { panSuffix: '0093' }, delayMs: 2_000 }]);
    const req = auth({ pan: '4111111111110093', amount: 9_300 });
    const res = await client.send(req);
    t.equal(rc(res), '91');
    const row = (await txnOf(db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    await eventually(() => sim.journal.count({ direction: 'out', mti: '0110', rrn: row.acq_rrn!, responseCode: '00' }) === 1, 'the acquirer approved late');
    await eventually(async () => (await eventsOf(db.pool, row.id)).includes('late_response'), 'late answer recorded');
    await eventually(() => reversalsAnswered(sim, row.acq_rrn!) === 1, 'reversal delivered');
    t.equal(reversalsIn(sim, row.acq_rrn!), 1, 'one reversal');
    t.equal(await h.ledger.plan(row.id), undefined, 'the late approval was not posted');
    t.equal(unmatched.length, 0, 'nothing was forwarded to the PSP');
    t.not((await txnOf(db.pool, req))!.state, 'approved');
  });

  t.test('duplicate after the answer: replayed (same code, RRN, auth code), no second message, no second posting', async (t) => {
    const req = auth({ amount: 1_111 });
    const first = await client.send(req);
    t.equal(rc(first), '00');
    const again = await client.send(req);
    t.equal(rc(again), '00');
    t.equal(again.getString(37), first.getString(37));
    t.equal(again.getString(38), first.getString(38));
    const row = (await txnOf(db.pool, req))!;
    t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }), 1);
    const { rows } = await db.pool.query('select count(*)::int as n from switch_txn where psp_stan = $1 and psp_terminal = $2 and psp_dt = $3', [
      req.getString(11),
      req.getString(41),
      req.getString(7),
    ]);
    t.equal(rows[0].n, 1, 'one transaction row');
    const { rows: plans } = await db.pool.query(`select count(*)::int as n from ledger_plan where id like $1`, [`${row.id}%`]);
    t.equal(plans[0].n, 1, 'one plan');
    t.equal((await h.ledger.plan(row.id))?.amount, 1_111n);
    // a repeat (0101) of the same authorization is the same request
    const repeat = auth({ mti: '0101', amount: 1_111, pan: req.getString(2)!, stan: req.getString(11)!, dt: req.getString(7)! });
    const r3 = await client.send(repeat);
    t.equal(r3.mti, '0110');
    t.equal(rc(r3), '00');
    t.equal(r3.getString(38), first.getString(38));
    t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: ['0100', '0101'], rrn: row.acq_rrn! }), 1);
  });

  t.test('duplicate while the original is in flight: both answered alike, one message to the acquirer', async (t) => {
    script(s, [{ when: { panSuffix: '0094' }, delayMs: 150 }]);
    const other = await s.connect();
    const req = auth({ pan: '4111111111110094', amount: 9_400 });
    const [a, b] = await Promise.all([client.send(req), other.send(req)]);
    t.equal(rc(a), '00');
    t.equal(rc(b), '00');
    t.equal(a.getString(38), b.getString(38));
    const row = (await txnOf(db.pool, req))!;
    t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }), 1);
    t.equal((await h.ledger.plan(row.id))?.state, 'HOLD');
    // and a duplicate of a timed-out request: 91 again, still exactly one reversal
    script(s, [{ when: { panSuffix: '0095' }, action: 'drop' }]);
    const lost = auth({ pan: '4111111111110095', amount: 9_500 });
    const [c, d] = await Promise.all([client.send(lost), other.send(lost)]);
    t.equal(rc(c), '91');
    t.equal(rc(d), '91');
    const lrow = (await txnOf(db.pool, lost))!;
    const sim = s.sim(lrow.acquirer!);
    t.equal(sim.journal.count({ direction: 'in', mti: '0100', rrn: lrow.acq_rrn! }), 1);
    await eventually(() => reversalsAnswered(sim, lrow.acq_rrn!) === 1, 'reversal delivered');
    t.equal(rc(await client.send(lost)), '91', 'a later duplicate replays 91');
    t.equal(sim.journal.count({ direction: 'in', mti: '0100', rrn: lrow.acq_rrn! }), 1);
    t.equal(reversalsIn(sim, lrow.acq_rrn!), 1);
  });

  t.test('repeats of a reversal (0401, 0421): replayed, one reversal at the acquirer, one rollback', async (t) => {
    for (const [mti, repeatMti] of [
      ['0400', '0401'],
      ['0420', '0421'],
    ] as const) {
      const req = auth({ amount: 4_000 });
      t.equal(rc(await client.send(req)), '00');
      const row = (await txnOf(db.pool, req))!;
      const rev = reversal(req, { mti });
      const r1 = await client.send(rev);
      t.equal(rc(r1), '00', `${mti} acknowledged`);
      const rep = reversal(req, { mti: repeatMti, stan: rev.getString(11)!, dt: rev.getString(7)! });
      const r2 = await client.send(rep);
      t.equal(rc(r2), '00', `${repeatMti} replayed`);
      t.equal(r2.mti, mti === '0400' ? '0410' : '0430');
      // and the same reversal sent again as-is
      t.equal(rc(await client.send(rev)), '00');
      const sim = s.sim(row.acquirer!);
      // nothing more can go out once the queue says so: one reversal queued in all (the replays queued none), done
      const queued = async () =>
        (
          await db.pool.query<{ n: number; open: number }>(
            `select count(*)::int as n, (count(*) filter (where done_at is null))::int as open from switch_saf
          where txn_id = $1 or txn_id in (select id from switch_txn where original_id = $1)`,
            [row.id],
          )
        ).rows[0]!;
      await eventually(async () => {
        const q = await queued();
        return q.n > 0 && q.open === 0 && reversalsAnswered(sim, row.acq_rrn!) >= 1;
      }, 'reversal delivered and its queue entry done');
      t.same(await queued(), { n: 1, open: 0 }, 'one reversal queued, delivered: nothing left to send again');
      t.equal(reversalsIn(sim, row.acq_rrn!), 1, `one ${mti} at the acquirer`);
      t.equal((await h.ledger.plan(row.id))?.state, 'ROLLBACK');
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from switch_txn where original_id = $1 and kind = 'reversal'`, [row.id]);
      t.equal(rows[0]!.n, 1, 'one reversal row');
    }
  });

  t.test('acquirer links down → 91, never a crash; approvals again once they are back', async (t) => {
    for (const sim of s.sims()) sim.startOutage(6_000, 'down');
    await eventually(() => h.acquirers.all().every((a) => a.link.readyCount === 0), 'links down', 10_000).catch(() => undefined);
    const res = await client.send(auth({ amount: 100 }));
    t.equal(res.mti, '0110');
    t.equal(rc(res), '91', 'acquirer unavailable');
    const back = await eventually(
      async () => {
        const r = await client.send(auth({ amount: 101 }));
        return rc(r) === '00' ? r : undefined;
      },
      'approvals once the acquirers are back',
      30_000,
      200,
    );
    t.equal(rc(back), '00');
  });

  t.test('ledger check passes; no reversal left undelivered', async (t) => {
    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from switch_saf where done_at is null');
      return rows[0]!.n === 0;
    }, 'SAF queue drained');
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from switch_dead_letter');
    t.equal(rows[0]!.n, 0, 'no dead letters');
    const report = await h.ledger.check();
    t.ok(report.ok, JSON.stringify(report.violations));
  });
});
