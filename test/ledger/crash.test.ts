/**
 * kill -9 of a process in the middle of group-committed writes: afterwards the audit passes and every
 * operation the child acknowledged (printed after its commit) is in the database; a restarted ledger answers
 * replays of acknowledged holds identically and can finish the open plans.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { testDb } from '../helpers/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { eventually } from '../helpers/wait.js';
import { childEnv } from '../helpers/node-args.js';

t.test('kill -9 mid-stream loses no acknowledged operation', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  // accounts exist up front so the child only writes through the group committer
  for (let m = 0; m < 5; m++) await ledger.hold(`setup-${m}`, { acquirer: 'acq-a', terminal: 'T1', merchant: `m${m}`, currency: 978, amount: 1n });

  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ledger-crash-child.ts', 'c1'], {
    env: childEnv({ DATABASE_URL: db.url, LEDGER_CHILD_APP: `crash-${db.schema}` }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const target = 400;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child acknowledged too little in time: ${out.length} bytes; ${err.slice(0, 500)}`)), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if ((out.match(/\n/g)?.length ?? 0) >= target) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`child exited early: ${err.slice(0, 500)}`)));
  });
  child.kill('SIGKILL');
  const { signal } = await exited;
  t.equal(signal, 'SIGKILL');
  // everything the child printed before it died
  const lines = out.split('\n').filter((l) => l.startsWith('ack '));
  const holds = lines.filter((l) => l.startsWith('ack hold ')).map((l) => l.slice(9));
  const commits = lines.filter((l) => l.startsWith('ack commit ')).map((l) => l.slice(11));
  t.ok(holds.length >= target / 2, `${holds.length} holds and ${commits.length} commits acknowledged`);

  // the killed child's backends go away (their open transactions roll back); then the audit must pass
  await eventually(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [
        `crash-${db.schema}`,
      ]);
      return rows[0]!.n === 0;
    },
    "the killed child's database sessions gone",
    30_000,
    100,
  );
  const report = await ledger.check();
  t.same(report.violations, []);

  const { rows } = await db.pool.query(`select id, state from ledger_plan where id like 'c1-%'`);
  const state = new Map(rows.map((r) => [r.id as string, r.state as string]));
  t.same(
    holds.filter((id) => !state.has(id)),
    [],
    'every acknowledged hold is present',
  );
  t.same(
    commits.filter((id) => state.get(id) !== 'COMMIT'),
    [],
    'every acknowledged commit is present',
  );
  t.ok(state.size >= holds.length);

  // restart: replays answer the same, open plans can be finished
  for (const id of holds.slice(0, 20)) {
    const plan = await ledger.plan(id);
    const r = await ledger.hold(id, { acquirer: 'acq-a', terminal: 'T1', merchant: plan!.merchant!, currency: 978, amount: plan!.amount! });
    t.equal(r.amount, plan!.amount);
  }
  for (const [id, s] of state) if (s === 'HOLD') await ledger.rollback(id);
  t.same((await ledger.check()).violations, []);
});
