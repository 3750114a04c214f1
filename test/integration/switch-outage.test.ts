/**
 * The database goes away under the switch (a TCP proxy in front of PostgreSQL cuts every connection and
 * refuses new ones): PSPs get 91, never a crash or a hang, and the switch approves again once the database
 * is back. A request already sent when the outage hits is left 'sent' and recovered afterwards.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, rc, txnOf, eventually } from '../helpers/switch.js';
import { testDb } from '../helpers/db.js';
import { behindProxy } from '../helpers/proxy.js';
import pino from 'pino';
import { Sweeper } from '../../src/switch/sweeper.js';

t.test('database outage → 91, no crash; approvals again when it is back', async (t) => {
  const db = await testDb(t, { max: 3 });
  const { proxy, url: viaProxy } = await behindProxy(t, db.url, 5432);
  const s = await startTestSwitch(t, { db: { ...db, url: viaProxy }, overrides: { acquirerTimeoutMs: 3_000, saf: { timeoutMs: 3_000 } } });
  t.equal(rc(await s.client.send(auth())), '00', 'approved through the proxy');

  // an authorization in flight at the acquirer when the database goes
  for (const sim of s.sims())
    sim.setBehaviour({
      rules: [
        { when: { panSuffix: '0066' }, delayMs: 400 },
        { when: { panSuffix: '0002' }, respond: '05' },
      ],
    });
  const inFlight = auth({ pan: '4111111111110066', amount: 6_600 });
  const pending = s.client.send(inFlight);
  await eventually(
    () => s.sims().some((x) => x.journal.find({ direction: 'in', mti: '0100' }).some((e) => e.pan?.endsWith('0066'))),
    'request at the acquirer',
  );
  proxy.down();
  const res = await pending;
  t.equal(rc(res), '91', 'approved by the acquirer but not durably held: the PSP gets 91, not an approval');

  const answers: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await s.client.send(auth({ amount: 200 + i }), { timeoutMs: 30_000 });
    answers.push(rc(r)!);
  }
  t.same(answers, ['91', '91', '91', '91', '91'], 'unavailable while the database is down');
  t.ok(s.h.psp.connectionCount >= 1, 'still serving');

  proxy.up();
  const ok = await eventually(
    async () => {
      const r = await s.client.send(auth({ amount: 300 }));
      return rc(r) === '00' ? r : undefined;
    },
    'approvals after the database is back',
    30_000,
    200,
  );
  t.equal(rc(ok), '00');
  // the one that was at the acquirer during the outage: no hold; once the database is back its reversal is
  // delivered (recorded by the flow's background retry, or by the sweeper's recovery: whichever comes first)
  const row = await txnOf(db.pool, inFlight);
  t.ok(row, 'the intent was durable before the request left');
  t.equal(await s.h.ledger.plan(row!.id), undefined, 'no hold for an answer the PSP did not get as an approval');
  const sw = new Sweeper(
    s.h.store,
    s.h.ledger,
    s.h.acquirers,
    { holdAgeMs: 86_400_000, intervalMs: 60_000, staleSentMs: 0, safExpireMs: 60_000, kickSaf: () => s.h.saf.kick() },
    pino({ level: 'silent' }),
  );
  await eventually(
    async () => {
      await sw.recover();
      return (await txnOf(db.pool, inFlight))!.state === 'reversed';
    },
    'the approval nobody holds is reversed at the acquirer',
    60_000,
    200,
  );
  const sim = s.sim(row!.acquirer!);
  t.equal(sim.journal.count({ direction: 'out', mti: '0430', rrn: row!.acq_rrn! }), 1, 'one reversal answered');
  t.equal(await s.h.ledger.plan(row!.id), undefined, 'never held');
  t.ok((await s.h.ledger.check()).ok);
});

t.test('approved, but the approval cannot be recorded with its hold → 91, nothing held, the reversal delivered', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, saf: { timeoutMs: 3_000 } } });
  t.equal(rc(await s.client.send(auth())), '00');
  // the database refuses to record an approval from now on (a failed outcome, and the reversal it owes, still go in)
  const { rows: now } = await s.db.pool.query<{ ts: string }>(`select now()::text as ts`);
  await s.db.pool.query(`alter table switch_outcome add constraint t_refuse_approved check (state <> 'approved' or at < '${now[0]!.ts}')`);
  const req = auth({ amount: 4_321 });
  const res = await s.client.send(req);
  t.equal(rc(res), '91', 'the PSP is not told approved');
  await s.db.pool.query('alter table switch_outcome drop constraint t_refuse_approved');
  const row = (await txnOf(s.db.pool, req))!;
  t.match(row.state, /^(failed|reversed)$/, 'failed, with its reversal owed');
  t.equal(await s.h.ledger.plan(row.id), undefined, 'nothing was held: the hold commits with the approval or not at all');
  const sim = s.sim(row.acquirer!);
  await eventually(() => sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }) >= 1, 'reversal delivered');
  // the simulator answers before the switch records the answer: wait until the SAF entry is closed
  await eventually(
    async () => (await s.db.pool.query(`select 1 from switch_saf where txn_id = $1 and done_at is not null`, [row.id])).rowCount || undefined,
    'SAF entry closed',
  );
  t.equal((await txnOf(s.db.pool, req))!.state, 'reversed');
  const sw = new Sweeper(
    s.h.store,
    s.h.ledger,
    s.h.acquirers,
    { holdAgeMs: 86_400_000, intervalMs: 60_000, staleSentMs: 0, safExpireMs: 60_000, kickSaf: () => undefined },
    pino({ level: 'silent' }),
  );
  t.equal(await sw.recover(), 0, 'nothing left for recovery: the outcome was recorded');
  t.equal(sim.journal.count({ direction: 'in', mti: '0420', rrn: row.acq_rrn! }), 1, 'one reversal (repeats of the same one, 0421, are allowed)');
  // a repeat of the request replays the 91, never an approval
  const repeat = await s.client.send(repeatOf(req));
  t.equal(rc(repeat), '91', 'the 0101 repeat replays 91');
  t.ok((await s.h.ledger.check()).ok);
});

function repeatOf(m: IsoMessage): IsoMessage {
  const r = m.clone();
  r.mti = '0101';
  return r;
}
