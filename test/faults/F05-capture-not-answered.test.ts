/**
 * F05 (docs/faults.md): the acquirer does not answer a capture (0220), or its link is down. The advice is the
 * PSP's word that the sale completed: the capture is committed and its advice queued durably, in one
 * transaction, and only then does the PSP hear 00. The queue repeats it as 0221 until the acquirer
 * acknowledges it with 00. The ledger commits once, whatever the PSP repeats.
 */
import t from 'tap';
import type { Rule } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, capture, rc, txnOf, eventsOf, eventually, ledgerOn, type TestSwitch } from '../helpers/switch.js';

const DECLINE_0002: Rule = { when: { panSuffix: '0002' }, respond: '05' };

function script(s: TestSwitch, rules: Rule[]): void {
  for (const sim of s.sims()) sim.setBehaviour({ rules: [...rules, DECLINE_0002] });
}

async function advice(s: TestSwitch, txnId: string) {
  const { rows } = await s.db.pool.query<{ mti: string; done_at: Date | null; attempts: number; response_code: string | null; fields: Record<string, string> }>(
    `select mti, done_at, attempts, response_code, fields from switch_saf where txn_id = $1 and mti = '0220'`,
    [txnId],
  );
  return rows[0];
}

t.test('F05: a capture the acquirer does not answer', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 500, saf: { retryInitialMs: 50, retryMaxMs: 200, timeoutMs: 300 } } });
  const ledger = await ledgerOn(t, s.db.pool);
  t.afterEach(() => script(s, []));

  t.test('no answer: committed and queued before the 00, repeated as 0221 until acknowledged, committed once', async (t) => {
    const req = auth({ amount: 5_000 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    script(s, [{ when: { mti: ['0220', '0221'] }, action: 'drop' }]);
    const cap = capture(req, 4_000);
    const res = await s.client.send(cap);
    t.equal(rc(res), '00', 'the PSP hears 00');
    const queued = await advice(s, row.id);
    t.ok(queued, 'the advice was durable when the PSP heard it');
    t.equal(queued!.done_at, null, 'not acknowledged yet');
    t.equal(queued!.fields['4'], '000000004000', 'for the amount captured');
    const plan = (await ledger.plan(row.id))!;
    t.equal(plan.state, 'COMMIT', 'committed with it');
    t.equal(plan.finalAmount, 4_000n);
    const batches = plan.postings.length;

    await eventually(() => sim.journal.count({ direction: 'in', mti: '0221', rrn: row.acq_rrn! }) >= 3, 'repeated as 0221');
    t.equal(sim.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 1, 'the 0220 itself went once');

    // the PSP repeats its capture meanwhile, and sends another one: each is answered from the record
    const repeat = cap.clone();
    repeat.mti = '0221';
    t.equal(rc(await s.client.send(repeat)), '00', "the PSP's repeat replays 00");
    t.equal(rc(await s.client.send(capture(req, 4_000))), '00', 'a second capture of the same amount: already captured');
    t.equal(rc(await s.client.send(capture(req, 4_500))), '12', 'of another amount: refused');
    t.equal(sim.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 1, 'none of them sent another 0220');

    script(s, []);
    await eventually(async () => (await advice(s, row.id))!.done_at !== null, 'acknowledged');
    t.equal((await advice(s, row.id))!.response_code, '00');
    t.ok((await eventsOf(s.db.pool, row.id)).includes('advice_sent'), 'the acknowledgement is in the history');
    const after = (await ledger.plan(row.id))!;
    t.equal(after.state, 'COMMIT');
    t.equal(after.postings.length, batches, 'no second commit');
    t.equal((await txnOf(s.db.pool, req))!.state, 'captured');
  });

  t.test('the acquirer answers the repeats 91 first: still queued; closed only by 00', async (t) => {
    const req = auth({ amount: 5_100 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    script(s, [
      { when: { mti: ['0220'] }, action: 'drop' },
      { when: { mti: ['0221'] }, respond: '91' },
    ]);
    t.equal(rc(await s.client.send(capture(req, 5_100))), '00');
    await eventually(() => sim.journal.count({ direction: 'out', rrn: row.acq_rrn!, responseCode: '91' }) >= 2, 'two repeats answered 91');
    t.equal((await advice(s, row.id))!.done_at, null, 'still queued');
    script(s, []);
    await eventually(async () => (await advice(s, row.id))!.done_at !== null, 'acknowledged by 00');
  });

  t.test('the link is down: the capture is stored and forwarded as 0220 once it is back', async (t) => {
    const req = auth({ amount: 5_200 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    sim.startOutage(3_600_000, 'down');
    await eventually(() => s.h.acquirers.get(row.acquirer!).link.readyCount === 0, 'link down');
    t.equal(rc(await s.client.send(capture(req, 5_200))), '00', 'accepted: stored');
    const {
      rows: [queued],
    } = await s.db.pool.query<{ sent: boolean }>(`select sent from switch_saf where txn_id = $1 and mti = '0220'`, [row.id]);
    t.equal(queued!.sent, false, 'it never left');
    t.equal((await ledger.plan(row.id))!.state, 'COMMIT');
    sim.startOutage(0, 'down');
    await eventually(async () => (await advice(s, row.id))!.done_at !== null, 'delivered once the link is back');
    t.equal(sim.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 1, 'first as 0220');
  });

  t.test('a declined capture is not committed and queues nothing', async (t) => {
    const req = auth({ amount: 5_300 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    script(s, [{ when: { mti: ['0220'] }, respond: '05' }]);
    t.equal(rc(await s.client.send(capture(req, 5_300))), '05');
    t.equal(await advice(s, row.id), undefined);
    t.equal((await ledger.plan(row.id))!.state, 'HOLD');
    t.equal((await txnOf(s.db.pool, req))!.state, 'approved', 'open again');
  });

  t.test('ledger check', async (t) => {
    t.ok((await ledger.check()).ok);
  });
});
