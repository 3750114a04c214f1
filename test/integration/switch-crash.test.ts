/**
 * kill -9 of the switch (a child process: `node --import tsx bin/switch.ts`), with the acquirer simulators in
 * this process so their journals outlive the switch:
 * - after a reversal is queued: the restarted switch still delivers it, exactly once answered;
 * - under load: every approval the PSP saw has exactly one hold, nothing the PSP saw declined holds money,
 *   requests left in flight are recovered (reversal queued), and `ledger:check` passes.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/message.js';
import type { AcquirerSimulator, Rule } from '../../simulators/acquirer/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { startChildSwitch, startSimulators, rulesFor, auth, rc, txnOf, eventually, ledgerOn, ledgerCheckCli } from '../helpers/switch.js';

const DECLINE_0002: Rule = { when: { panSuffix: '0002' }, respond: '05' };
const script = (sims: Map<string, AcquirerSimulator>, rules: Rule[]) => {
  for (const sim of sims.values()) sim.setBehaviour({ rules: [...rules, DECLINE_0002] });
};

t.test('kill -9 after the reversal is queued: delivered after the restart', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  script(sims, [
    { when: { panSuffix: '0091' }, action: 'drop' },
    { when: { mti: ['0420', '0421'] }, action: 'drop' },
  ]);
  const child = await startChildSwitch(t, db.url, { rulesDir });
  const client = await PspClient.connect({ port: child.pspPort });
  const req = auth({ pan: '4111111111110091', amount: 9_100 });
  const res = await client.send(req);
  t.equal(rc(res), '91');
  const row = (await txnOf(db.pool, req))!;
  t.equal(row.state, 'timed_out');
  const { rows: saf } = await db.pool.query('select id from switch_saf where txn_id = $1 and done_at is null', [row.id]);
  t.equal(saf.length, 1, 'reversal queued');
  const sim = sims.get(row.acquirer!)!;
  await eventually(() => sim.journal.count({ direction: 'in', mti: ['0420', '0421'], rrn: row.acq_rrn! }) >= 1, 'a first (lost) attempt');
  await child.kill9();
  await client.close();
  t.equal(sim.journal.count({ direction: 'out', mti: ['0430'], rrn: row.acq_rrn! }), 0, 'nothing delivered before the crash');

  script(sims, []);
  const again = await startChildSwitch(t, db.url, { rulesDir, saf: { timeoutMs: 3_000 } }); // a slow first answer on a loaded machine must not look like a lost one
  await eventually(async () => {
    const { rows } = await db.pool.query('select done_at from switch_saf where txn_id = $1', [row.id]);
    return rows[0]?.done_at;
  }, 'SAF entry done after the restart');
  t.equal(sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }), 1, 'exactly one reversal answered');
  t.equal((await txnOf(db.pool, req))!.state, 'reversed');
  const ledger = await ledgerOn(t, db.pool);
  t.equal(await ledger.plan(row.id), undefined, 'no hold');
  t.ok((await ledger.check()).ok);
  t.equal(await again.stop(), 0, 'clean stop on SIGTERM');
});

t.test('kill -9 under load', async (t) => {
  const db = await testDb(t, { max: 3 });
  const sims = await startSimulators(t);
  for (const sim of sims.values()) sim.setBehaviour({ latency: { distribution: 'uniform', minMs: 0, maxMs: 20 } });
  // 1 in 10 cards declined, 1 in 50 never answered (timeout → 91 → reversal)
  script(sims, [{ when: { panSuffix: '0099' }, action: 'drop' }]);
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  // the sweeper looks for requests a crash left in flight every 500 ms (they count as lost after the largest
  // acquirer timeout + 5 s)
  const overrides = { rulesDir, expiry: { sweepIntervalMs: 500 } };
  const child = await startChildSwitch(t, db.url, overrides);
  const clients = await Promise.all(Array.from({ length: 4 }, () => PspClient.connect({ port: child.pspPort, timeoutMs: 20_000 })));

  type Outcome = { req: IsoMessage; res?: IsoMessage; error?: string };
  const outcomes: Outcome[] = [];
  let n = 0;
  let stop = false;
  const panFor = (i: number): string => {
    const suffix = i % 50 === 7 ? '0099' : i % 10 === 3 ? '0002' : String(1000 + (i % 9000)).padStart(4, '0');
    return `4111${String(i).padStart(8, '0')}${suffix}`;
  };
  const workers = clients.flatMap((c) =>
    Array.from({ length: 8 }, async () => {
      while (!stop && !c.closed) {
        const i = n++;
        const req = auth({ pan: panFor(i), amount: 100 + (i % 5000), terminal: `T${String(i % 97).padStart(7, '0')}` });
        const o: Outcome = { req };
        outcomes.push(o);
        try {
          o.res = await c.send(req);
        } catch (e) {
          o.error = (e as { code?: string }).code ?? 'error';
        }
      }
    }),
  );
  await eventually(() => outcomes.filter((o) => o.res).length >= 400, '400 answers before the kill', 90_000, 20);
  const tKill = Date.now();
  await child.kill9();
  stop = true;
  await Promise.all(workers);
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));

  const answered = outcomes.filter((o) => o.res);
  const approved = answered.filter((o) => rc(o.res!) === '00');
  const declined = answered.filter((o) => rc(o.res!) !== '00');
  const cut = outcomes.filter((o) => !o.res);
  t.ok(approved.length > 100, `approvals seen: ${approved.length}`);
  t.ok(declined.length > 10, `declines seen: ${declined.length}`);
  t.comment(`answered ${answered.length} (approved ${approved.length}, declined ${declined.length}), cut by the kill ${cut.length}`);

  script(sims, []);
  const again = await startChildSwitch(t, db.url, overrides);
  // requests the crash left 'sent' are recovered: treated as timed out, their reversal queued and delivered
  await eventually(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from switch_txn where state = 'sent'`);
      return rows[0]!.n === 0;
    },
    'no transaction left in flight',
    60_000,
    200,
  );
  await eventually(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from switch_saf where done_at is null');
      return rows[0]!.n === 0;
    },
    'SAF queue drained',
    60_000,
    200,
  );
  t.comment(`recovered and drained ${((Date.now() - tKill) / 1000).toFixed(1)} s after the kill`);

  const ledger = await ledgerOn(t, db.pool);
  let bad = 0;
  for (const o of approved) {
    const row = await txnOf(db.pool, o.req);
    const plan = row ? await ledger.plan(row.id) : undefined;
    if (!row || row.state !== 'approved' || plan?.state !== 'HOLD' || plan.amount !== BigInt(o.req.getString(4)!)) {
      bad++;
      if (bad < 5) t.fail(`approval without exactly its hold: ${row?.state} ${plan?.state}`);
      continue;
    }
    const sim = sims.get(row.acquirer!)!;
    if (sim.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }) !== 1) {
      bad++;
      t.fail('approval sent to the acquirer more than once');
    }
  }
  t.equal(bad, 0, `every one of ${approved.length} approvals the PSP saw has exactly one hold`);
  const { rows: dup } = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from (select psp, dup_key from switch_txn group by 1, 2 having count(*) > 1) d`,
  );
  t.equal(dup[0]!.n, 0, 'one row per request');
  let holding = 0;
  for (const o of declined) {
    const row = await txnOf(db.pool, o.req);
    const plan = row ? await ledger.plan(row.id) : undefined;
    if (plan && plan.state !== 'ROLLBACK') holding++;
  }
  t.equal(holding, 0, `none of ${declined.length} declines the PSP saw holds money`);
  // whatever the kill cut off: either a hold (the PSP will reverse or it expires) or no money at all
  for (const o of cut) {
    const row = await txnOf(db.pool, o.req);
    if (!row) continue;
    const plan = await ledger.plan(row.id);
    if (plan?.state === 'HOLD' && row.state !== 'approved') t.fail(`hold on a ${row.state} transaction`);
  }
  const report = await ledger.check();
  t.ok(report.ok, JSON.stringify(report.violations));
  const cli = ledgerCheckCli(db.url);
  t.equal(cli.status, 0, `ledger:check exits 0: ${cli.output}`);
  t.equal(await again.stop(), 0);
});
