/**
 * F06 (docs/faults.md): the acquirer approves a capture, then the switch dies (kill -9) before recording it.
 * The switch is a child process that kills itself at that point (SWITCH_TEST_CRASH_AT=capture-after-send); the
 * acquirer simulators live in this process, so their journals outlive it. After a restart the sweeper completes
 * the claim as the store-and-forward of its advice: committed once, answered 00, the advice repeated as 0221.
 * The PSP's retries are answered from that record: no second 0220 for the authorization ever leaves.
 */
import t from 'tap';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { startChildSwitch, startSimulators, rulesFor, auth, capture, rc, txnOf, eventually, ledgerOn, ledgerCheckCli } from '../helpers/switch.js';

t.test('F06: kill -9 between the acquirer approving a capture and the switch recording it', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  // the sweeper looks every 300 ms; a claim counts as stale after the largest acquirer timeout (400 ms) + 5 s
  const overrides = { rulesDir, expiry: { sweepIntervalMs: 300 } };

  const child = await startChildSwitch(t, db.url, overrides, { SWITCH_TEST_CRASH_AT: 'capture-after-send' });
  const ledger = await ledgerOn(t, db.pool);
  const client = await PspClient.connect({ port: child.pspPort, timeoutMs: 10_000 });
  const req = auth({ amount: 6_600 });
  t.equal(rc(await client.send(req)), '00');
  const row = (await txnOf(db.pool, req))!;
  const sim = sims.get(row.acquirer!)!;
  const cap = capture(req, 6_000);
  const answer = await client.send(cap).then(
    () => 'answered',
    (e: unknown) => (e as { code?: string }).code ?? 'error',
  );
  t.not(answer, 'answered', 'the PSP got no answer: the switch died first');
  await child.kill9();
  await client.close().catch(() => undefined);
  t.equal(sim.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 1, 'the capture reached the acquirer');
  t.equal(sim.journal.count({ direction: 'out', mti: '0230', rrn: row.acq_rrn!, responseCode: '00' }), 1, 'which approved it');
  t.equal((await txnOf(db.pool, req))!.state, 'capturing', 'nothing recorded but the claim');
  t.equal((await ledger.plan(row.id))!.state, 'HOLD', 'no money moved yet');

  const again = await startChildSwitch(t, db.url, overrides);
  await eventually(async () => (await txnOf(db.pool, req))!.state === 'captured', 'the claim completed by recovery', 60_000, 100);
  const plan = (await ledger.plan(row.id))!;
  t.equal(plan.state, 'COMMIT', 'committed');
  t.equal(plan.finalAmount, 6_000n, 'for the amount the acquirer approved');

  const c2 = await PspClient.connect({ port: again.pspPort, timeoutMs: 10_000 });
  const repeat = cap.clone();
  repeat.mti = '0221';
  t.equal(rc(await c2.send(repeat)), '00', "the PSP's repeat replays 00");
  t.equal(rc(await c2.send(capture(req, 6_000))), '00', 'a new capture of the same amount: already captured');
  await eventually(() => sim.journal.count({ direction: 'out', mti: '0230', rrn: row.acq_rrn! }) >= 2, 'the advice repeat acknowledged');
  await c2.close();
  t.equal(sim.journal.count({ direction: 'in', mti: '0220', rrn: row.acq_rrn! }), 1, 'never a second 0220');
  t.ok(sim.journal.count({ direction: 'in', mti: '0221', rrn: row.acq_rrn! }) >= 1, 'the advice went as a repeat of the first');
  t.equal((await ledger.plan(row.id))!.postings.length, plan.postings.length, 'committed once');
  t.ok((await ledger.check()).ok);
  t.equal(await again.stop(), 0);
  const cli = ledgerCheckCli(db.url);
  t.equal(cli.status, 0, `ledger:check exits 0: ${cli.output}`);
});
