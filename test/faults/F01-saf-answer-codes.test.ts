/**
 * F01 (docs/faults.md): the acquirer answers a queued reversal (0420/0421, or a PSP's 0400) with 91, 96 or 06.
 * The entry stays queued and is repeated as 0421/0401 with back-off; only a code the acquirer's map classes as
 * done (default 00, and 25 "original not found") closes it. acq-a's map turns its own Q1 into 91: still open.
 */
import t from 'tap';
import type { AcquirerSimulator, Rule } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, reversal, rc, txnOf, eventually, type TestSwitch } from '../helpers/switch.js';

const DECLINE_0002: Rule = { when: { panSuffix: '0002' }, respond: '05' };

function script(s: TestSwitch, rules: Rule[]): void {
  for (const sim of s.sims()) sim.setBehaviour({ rules: [...rules, DECLINE_0002] });
}

const sentAt = (sim: AcquirerSimulator, rrn: string, mtis: string[]) => sim.journal.find({ direction: 'in', mti: mtis, rrn }).map((e) => e.at);

async function saf(s: TestSwitch, txnId: string) {
  const { rows } = await s.db.pool.query<{ done_at: Date | null; attempts: number; response_code: string | null; last_error: string | null }>(
    'select done_at, attempts, response_code, last_error from switch_saf where txn_id = $1',
    [txnId],
  );
  return rows[0];
}

t.test('F01: answers that do not close a queued reversal', async (t) => {
  // back-off 100 ms doubling to 800 ms: a few repeats within seconds, each gap at least the one before
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 600, saf: { retryInitialMs: 100, retryMaxMs: 800 } } });

  t.test('a timed-out authorization: 91, 96, 06 (and Q1 mapped to 91) keep it queued; 25 closes it', async (t) => {
    script(s, [
      { when: { panSuffix: '0093' }, action: 'drop' },
      { when: { mti: ['0420', '0421'] }, respond: '91' },
    ]);
    const req = auth({ pan: '4111111111110093', amount: 9_300 });
    t.equal(rc(await s.client.send(req)), '91');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    for (const code of row.acquirer === 'acq-a' ? ['91', '96', '06', 'Q1'] : ['91', '96', '06']) {
      script(s, [{ when: { mti: ['0420', '0421'] }, respond: code }]);
      const before = sentAt(sim, row.acq_rrn!, ['0420', '0421']).length;
      await eventually(() => sentAt(sim, row.acq_rrn!, ['0420', '0421']).length >= before + 3, `three more repeats answered ${code}`);
      const q = (await saf(s, row.id))!;
      t.equal(q.done_at, null, `answered ${code}: still queued`);
      t.match(q.last_error, /^answered (91|96|06)$/, `the answer is on the entry (${q.last_error})`);
      t.equal((await txnOf(s.db.pool, req))!.state, 'timed_out', 'not reversed yet');
    }
    const times = sentAt(sim, row.acq_rrn!, ['0420', '0421']);
    t.equal(sim.journal.find({ direction: 'in', mti: '0420', rrn: row.acq_rrn! }).length, 1, 'sent once as 0420');
    t.ok(times.length >= 10, 'then repeated as 0421');
    const gaps = times.slice(1).map((x, i) => x - times[i]!);
    t.ok(
      gaps.slice(0, 4).every((g, i) => i === 0 || g + 40 >= gaps[i - 1]!),
      `back-off grows: ${gaps.slice(0, 4).join(', ')} ms`,
    );
    t.ok(Math.max(...gaps) >= 700, 'up to the maximum back-off');

    script(s, [{ when: { mti: ['0420', '0421'] }, respond: '25' }]);
    await eventually(async () => (await saf(s, row.id))!.done_at !== null, 'closed by 25');
    t.equal((await saf(s, row.id))!.response_code, '25');
    t.equal((await txnOf(s.db.pool, req))!.state, 'reversed', '"original not found": nothing left to reverse');
  });

  t.test("a PSP's reversal (0400) answered 96: repeated as 0401 until 00", async (t) => {
    script(s, []);
    const req = auth({ amount: 4_400 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    script(s, [{ when: { mti: ['0400', '0401'] }, respond: '96' }]);
    t.equal(rc(await s.client.send(reversal(req))), '00', 'the PSP is answered: the money is released and the reversal queued');
    await eventually(() => sentAt(sim, row.acq_rrn!, ['0401']).length >= 2, 'repeated as 0401');
    t.equal((await saf(s, row.id))!.done_at, null, 'still queued');
    script(s, []);
    await eventually(async () => (await saf(s, row.id))!.done_at !== null, 'closed by 00');
    t.equal((await saf(s, row.id))!.response_code, '00');
  });

  t.test('ledger check', async (t) => {
    t.ok((await s.h.ledger.check()).ok);
  });
});
