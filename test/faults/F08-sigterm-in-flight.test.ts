/**
 * F08 (docs/faults.md): SIGTERM while requests are at the acquirer. The switch (a child process, as in
 * production) stops taking requests and gives those in flight `psp.drainTimeoutMs` to be answered. One still
 * unanswered when the links close may have been approved: it is answered 'timed out' with its reversal queued,
 * durable before the process exits, and delivered by the next start. Nothing is held for it.
 */
import t from 'tap';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { startChildSwitch, startSimulators, rulesFor, auth, rc, txnOf, eventually, ledgerOn } from '../helpers/switch.js';

t.test('F08: SIGTERM with requests in flight at the acquirer', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  for (const sim of sims.values())
    sim.setBehaviour({
      rules: [
        { when: { panSuffix: '0008' }, action: 'drop' },
        { when: { panSuffix: '0018' }, delayMs: 400 },
      ],
    });
  // the acquirers' own timeout (30 s) is far beyond the drain: only the shutdown can end the dropped ones
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])), { responseTimeoutMs: 30_000 });
  const overrides = { rulesDir, acquirerTimeoutMs: 0, psp: { drainTimeoutMs: 1_500 } };
  const child = await startChildSwitch(t, db.url, overrides);
  const ledger = await ledgerOn(t, db.pool);
  const client = await PspClient.connect({ port: child.pspPort, timeoutMs: 20_000 });

  const unanswered = [1, 2, 3].map((i) => auth({ pan: `41111177000${i}0008`, amount: 800 + i }));
  const slow = [1, 2, 3].map((i) => auth({ pan: `41111177000${i}0018`, amount: 810 + i }));
  const results = [...unanswered, ...slow].map((m) =>
    client.send(m).then(
      (r) => rc(r),
      (e: unknown) => `error ${(e as { code?: string }).code ?? ''}`,
    ),
  );
  await eventually(() => [...sims.values()].reduce((n, s) => n + s.journal.count({ direction: 'in', mti: '0100' }), 0) >= 6, 'all six at the acquirers');
  const t0 = Date.now();
  child.proc.kill('SIGTERM');
  const codes = await Promise.all(results);
  t.same(codes.slice(3), ['00', '00', '00'], 'answered within the drain: their approvals go out');
  t.ok(
    codes.slice(0, 3).every((c) => c !== '00'),
    `never an approval for the unanswered ones (${codes.slice(0, 3).join(', ')})`,
  );
  const exit = await new Promise<number | null>((r) => (child.proc.exitCode !== null ? r(child.proc.exitCode) : child.proc.once('exit', (c) => r(c))));
  t.equal(exit, 0, 'a clean exit');
  // A liveness bound, not a benchmark: the drain (1.5 s) and the exit take about 2 s; 20 s is ten times that
  // for a loaded machine, and still short of the acquirer timeout (30 s) the drain must not wait for.
  const stoppedAfter = Date.now() - t0;
  t.ok(stoppedAfter < 20_000, `stopped after ${stoppedAfter} ms: the drain, not the acquirer timeout (30 s)`);
  await client.close().catch(() => undefined);

  for (const req of slow) {
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.state, 'approved');
    t.equal((await ledger.plan(row.id))?.state, 'HOLD');
  }
  for (const req of unanswered) {
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.state, 'timed_out', 'treated as possibly approved: timed out, not failed');
    const { rows } = await db.pool.query<{ mti: string; acquirer: string }>('select mti, acquirer from switch_saf where txn_id = $1', [row.id]);
    t.same(rows, [{ mti: '0420', acquirer: row.acquirer }], 'its reversal queued before the exit');
    t.equal(await ledger.plan(row.id), undefined, 'nothing held');
  }

  // the next start delivers the reversals
  const again = await startChildSwitch(t, db.url, overrides);
  for (const req of unanswered) {
    const row = (await txnOf(db.pool, req))!;
    await eventually(async () => (await txnOf(db.pool, req))!.state === 'reversed', 'reversed after the restart');
    t.ok(sims.get(row.acquirer!)!.journal.count({ direction: 'in', mti: ['0420', '0421'], rrn: row.acq_rrn! }) >= 1, 'the acquirer got the reversal');
  }
  t.ok((await ledger.check()).ok);
  t.equal(await again.stop(), 0);
});
