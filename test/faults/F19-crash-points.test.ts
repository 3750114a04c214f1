/**
 * F19 (docs/faults.md): kill -9 at each crash point of an authorization: after the intent, after the send,
 * after the answer, after the outcome write. The switch is a child process that kills itself at the point
 * (SWITCH_TEST_CRASH_AT, a test-only hook); the acquirer simulators live in this process, so their journals
 * outlive it. After a restart: an approval recorded with its hold is kept, and its repeat replays it; anything
 * sent but not answered is reversed at the acquirer with nothing held; ledger:check passes.
 */
import t from 'tap';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { startChildSwitch, startSimulators, rulesFor, auth, rc, txnOf, eventually, ledgerOn, ledgerCheckCli } from '../helpers/switch.js';

const POINTS = ['after-intent', 'after-send', 'after-answer', 'after-outcome'] as const;

t.test('kill -9 at each crash point of an authorization', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  // recovery looks every 300 ms; an intent counts as lost after the largest acquirer timeout (400 ms) + 5 s
  const overrides = { rulesDir, expiry: { sweepIntervalMs: 300 } };
  let ledger: Awaited<ReturnType<typeof ledgerOn>> | undefined;

  for (const point of POINTS) {
    await t.test(point, async (t) => {
      const child = await startChildSwitch(t, db.url, overrides, { SWITCH_TEST_CRASH_AT: point });
      ledger ??= await ledgerOn(t, db.pool); // once the switch has migrated the schema
      const client = await PspClient.connect({ port: child.pspPort, timeoutMs: 10_000 });
      const req = auth({ amount: 3_300 });
      const answer = await client.send(req).then(
        () => 'answered',
        (e: unknown) => (e as { code?: string }).code ?? 'error',
      );
      t.not(answer, 'answered', 'the PSP got no answer: the switch died first');
      await child.kill9();
      await client.close().catch(() => undefined);
      const row = (await txnOf(db.pool, req))!;
      t.ok(row, 'the intent was durable before the request left');
      const sim = sims.get(row.acquirer!)!;
      const sent = sim.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! });
      t.equal(sent, point === 'after-intent' ? 0 : 1, point === 'after-intent' ? 'never sent' : 'sent once');

      const again = await startChildSwitch(t, db.url, overrides);
      if (point === 'after-outcome') {
        // the approval and its hold were durable together: it stands, and the PSP's repeat replays it
        t.equal(row.state, 'approved');
        t.equal((await ledger!.plan(row.id))?.state, 'HOLD', 'exactly its hold');
        const c2 = await PspClient.connect({ port: again.pspPort });
        const repeat = req.clone();
        repeat.mti = '0101';
        const res = await c2.send(repeat);
        await c2.close();
        t.equal(rc(res), '00', 'the repeat replays the approval');
        t.equal(res.getString(37), row.acq_rrn, 'with its RRN');
        t.equal(sim.journal.count({ direction: 'in', mti: ['0100', '0101'], rrn: row.acq_rrn! }), 1, 'not sent again');
      } else {
        t.equal(row.state, 'sent', 'no answer recorded');
        // recovery answers it 'timed out' and reverses it at the acquirer
        await eventually(async () => (await txnOf(db.pool, req))!.state === 'reversed', 'recovered and reversed', 60_000, 200);
        if (point !== 'after-intent') t.ok(sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }) >= 1, 'the acquirer answered the reversal');
        t.equal(await ledger!.plan(row.id), undefined, 'nothing held');
      }
      t.ok((await ledger!.check()).ok);
      t.equal(await again.stop(), 0);
    });
  }
  const cli = ledgerCheckCli(db.url);
  t.equal(cli.status, 0, `ledger:check exits 0: ${cli.output}`);
});
