/**
 * Database failover (docs/faults.md F33; docs/deploy.md, "Database failover"): a PostgreSQL primary with a
 * synchronous streaming standby (test/helpers/pg-pair.ts, Debian's pg_createcluster and pg_basebackup), the
 * switch (a child process) given both hosts with `target_session_attrs=read-write`. Under load the primary is
 * stopped hard, and after a gap the standby is promoted:
 * - during the gap PSPs get 91 quickly, never a hang;
 * - afterwards the switch writes to the new primary by itself (nobody restarts it);
 * - every approval the PSP saw before the crash has its hold on the new primary (synchronous replication: it was
 *   acknowledged only once the standby had it);
 * - every authorization caught in flight ends reversed or held, and `ledger:check` passes on the new primary.
 */
import t from 'tap';
import pg from 'pg';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { PspClient } from '../../simulators/psp/client.js';
import { pgPair } from '../helpers/pg-pair.js';
import {
  startChildSwitch,
  startSimulators,
  rulesFor,
  auth,
  rc,
  txnOf,
  eventually,
  ledgerOn,
  ledgerCheckCli,
  authorizationsInBetween,
} from '../helpers/switch.js';

const GAP_MS = 3_000;

t.test('the primary stops hard under load, the standby is promoted: nothing acknowledged is lost', async (t) => {
  const pair = await pgPair(t);
  const setup = new pg.Client({ connectionString: pair.primary.url() });
  await setup.connect();
  await setup.query('create database switch');
  await setup.end();
  const url = pair.multiHostUrl('switch');

  const sims = await startSimulators(t);
  for (const sim of sims.values()) sim.setBehaviour({ latency: { distribution: 'uniform', minMs: 0, maxMs: 10 } });
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  const child = await startChildSwitch(t, url, { rulesDir, acquirerTimeoutMs: 1_000, expiry: { sweepIntervalMs: 500 }, saf: { timeoutMs: 1_000 } });
  const clients = await Promise.all(Array.from({ length: 4 }, () => PspClient.connect({ port: child.pspPort, timeoutMs: 30_000 })));
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));

  type Outcome = { req: IsoMessage; code?: string; ms?: number; at?: number; phase: Phase };
  type Phase = 'before' | 'gap' | 'after' | 'done';
  let phase: Phase = 'before';
  const outcomes: Outcome[] = [];
  let n = 0;
  const load = Promise.all(
    clients.flatMap((c) =>
      Array.from({ length: 4 }, async () => {
        while (phase !== 'done') {
          const i = n++;
          const req = auth({
            pan: `4111${String(i).padStart(8, '0')}${String(1000 + (i % 9000))}`,
            amount: 100 + (i % 5000),
            terminal: `T${String(i % 97).padStart(7, '0')}`,
          });
          const o: Outcome = { req, phase };
          outcomes.push(o);
          const t0 = Date.now();
          o.code = await c.send(req).then(
            (r) => rc(r) ?? '',
            () => 'no answer',
          );
          o.at = Date.now();
          o.ms = o.at - t0;
        }
      }),
    ),
  );
  await eventually(() => outcomes.filter((o) => o.code === '00').length >= 200, '200 approvals on the primary', 90_000, 20);
  phase = 'gap';
  pair.crashPrimary();
  // The gap lasts GAP_MS: its length is the fault under test, so this wait is deliberate. It also lasts until the
  // load has met it (20 answers of 91), however slow the machine.
  await Promise.all([
    new Promise((r) => setTimeout(r, GAP_MS)),
    eventually(() => outcomes.filter((o) => o.phase === 'gap' && o.code === '91').length >= 20, 'the load meets the gap', 60_000),
  ]);
  await pair.promoteStandby();
  phase = 'after';
  const promotedAt = Date.now();
  await eventually(() => outcomes.filter((o) => o.phase === 'after' && o.code === '00').length >= 200, '200 approvals on the new primary', 90_000, 20);
  const backAfter = Math.min(...outcomes.filter((o) => o.code === '00' && o.at! >= promotedAt).map((o) => o.at!)) - promotedAt;
  phase = 'done';
  await load;

  const gap = outcomes.filter((o) => o.phase === 'gap');
  const gapCodes = [...new Set(gap.map((o) => o.code))].sort();
  t.ok(
    gapCodes.includes('91') && gapCodes.every((c) => c === '91' || c === '00'),
    `during the gap: 91 (or an approval written just before it): ${gapCodes.join(', ')}`,
  );
  t.notOk(
    outcomes.some((o) => o.code === 'no answer'),
    'every request answered, none hung',
  );
  const slowest = Math.max(...gap.map((o) => o.ms!));
  t.ok(slowest < 10_000, `the slowest answer during the gap took ${slowest} ms`);
  t.comment(
    `${outcomes.length} requests: ${outcomes.filter((o) => o.phase === 'before').length} before the crash, ${gap.length} in the ${GAP_MS} ms gap (slowest ${slowest} ms), ` +
      `${outcomes.filter((o) => o.phase === 'after').length} after the promotion (the first approval ${backAfter} ms after it)`,
  );

  // On the new primary: nothing left in between, then every acknowledged hold is there
  const db = new pg.Pool({ connectionString: pair.standby.url('switch'), max: 3 });
  t.teardown(() => db.end());
  await eventually(async () => (await authorizationsInBetween(db)) === 0, 'every authorization ends approved, declined or reversed', 90_000, 250);
  const ledger = await ledgerOn(t, db);
  let missing = 0;
  const approvedBefore = outcomes.filter((o) => o.code === '00' && o.phase === 'before');
  for (const o of outcomes.filter((x) => x.code === '00')) {
    const row = await txnOf(db, o.req);
    const plan = row ? await ledger.plan(row.id) : undefined;
    if (!row || row.state !== 'approved' || plan?.state !== 'HOLD') {
      if (++missing < 5) t.fail(`an approval the PSP saw (${o.phase}) without its hold on the new primary: ${row?.state} ${plan?.state}`);
    }
  }
  t.equal(
    missing,
    0,
    `every one of ${outcomes.filter((x) => x.code === '00').length} approvals (${approvedBefore.length} acknowledged by the old primary) has its hold on the new one`,
  );
  let holdingDeclines = 0;
  for (const o of outcomes.filter((x) => x.code && x.code !== '00' && x.code !== 'no answer')) {
    const row = await txnOf(db, o.req);
    if (!row) continue; // never written: the gap refused it before anything was sent
    const plan = await ledger.plan(row.id);
    // a 91 whose outcome write the crash cut: the sweeper reversed it (no money) or its approval did commit (held)
    if (plan?.state === 'HOLD' && row.state !== 'approved') holdingDeclines++;
  }
  t.equal(holdingDeclines, 0, 'no hold on a transaction that is not approved');
  const report = await ledger.check();
  t.ok(report.ok, JSON.stringify(report.violations));
  const cli = ledgerCheckCli(url);
  t.equal(cli.status, 0, `ledger:check on the multi-host URL exits 0: ${cli.output}`);
  t.equal(await child.stop(), 0, 'clean stop');
});
