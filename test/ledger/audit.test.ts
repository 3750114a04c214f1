import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testDb } from '../helpers/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { assertLedgerOk } from '../../src/ledger/audit.js';
import { childEnv } from '../helpers/node-args.js';

const run = promisify(execFile);
const pay = (merchant: string, terminal: string, amount: bigint) => ({ acquirer: 'acq-a', terminal, merchant, currency: 978, amount });

async function cli(url: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/ledger/cli.ts', ...args], {
      env: childEnv({ DATABASE_URL: url }),
      timeout: 120_000,
    });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

t.test('the database refuses what the code would never do', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  await ledger.hold('p1', pay('m1', 'T1', 1000n));
  await ledger.hold('p2', pay('m1', 'T1', 1000n));
  await ledger.commit('p1');
  const q = (sql: string) => db.pool.query(sql);
  await t.rejects(q(`update ledger_posting set amount = 1`), { message: /append-only/ });
  await t.rejects(q(`delete from ledger_posting`), { message: /append-only/ });
  await t.rejects(q(`truncate ledger_journal`), { message: /append-only/ });
  await t.rejects(q(`update ledger_journal set op = 'rollback'`), { message: /append-only/ });
  await t.rejects(q(`delete from ledger_plan where id = 'p2'`), { message: /append-only/ });
  await t.rejects(q(`delete from ledger_account`), { message: /append-only/ });
  await t.rejects(q(`update ledger_plan set state = 'ROLLBACK', close_hash = '\\x00' where id = 'p1'`), { message: /final/ });
  await t.rejects(q(`update ledger_plan set amount = 1 where id = 'p2'`), { message: /immutable/ });
  await t.rejects(q(`update ledger_plan set last_batch = 0 where id = 'p2'`), { message: /batches only grow|last_batch/ });
  await t.rejects(
    q(`insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, close_hash) values ('p3', 'COMMIT', 'postings', 1, 1, '\\x00', '\\x00')`),
    { message: /created in HOLD/ },
  );
  await t.rejects(q(`update ledger_account set own = own + 5 where code = 'merchant:m1:978'`), { message: /conserve/ });
  await t.rejects(q(`update ledger_account set currency = 840 where code = 'fees:978'`), { message: /immutable/ });
  await t.rejects(q(`insert into ledger_posting select 'p2', 9, 0, 1, 2, 5, 840`), { message: /mixes currencies/ });
  await t.rejects(q(`insert into ledger_posting values ('p2', 9, 0, 1, 1, 5, 978)`), { code: '23514' });
  await t.rejects(q(`insert into ledger_account (code, kind, currency, minor_unit, own) values ('rich', 'system', 978, 2, 100)`), { message: /zero balances/ });
  await t.rejects(q(`update ledger_plan set pan_masked = '4111111111111111' where id = 'p2'`), { message: /immutable|pan_masked/ });
  await t.rejects(
    q(
      `insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, pan_masked) values ('p4', 'HOLD', 'postings', 1, 1, '\\x00', '4111111111111111')`,
    ),
    { code: '23514' },
  );
  // a balanced update that moves money between accounts of one currency passes the conservation trigger, but
  // the audit still sees that the balances no longer match the journal
  const c = await db.pool.connect();
  try {
    await c.query(`update ledger_account set own = own + case when code = 'merchant:m1:978' then 7 else -7 end where code in ('merchant:m1:978', 'fees:978')`);
  } finally {
    c.release();
  }
  const r = await ledger.check();
  t.notOk(r.ok);
  t.same(
    r.violations.map((v) => v.rule),
    ['account-balance', 'account-balance'],
  );
  t.match(r.violations[0]!.detail, /merchant:m1:978|fees:978/);
});

t.test('check names corruption that bypassed the triggers; the command exits non-zero', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  await ledger.hold('p1', pay('m1', 'T1', 1000n));
  await ledger.commit('p1');
  await ledger.hold('p2', pay('m2', 'T1', 500n));
  await ledger.ensureAccount({ code: 'usd', kind: 'system', currency: 840 });
  assertLedgerOk(await ledger.check());
  const ok = await cli(db.url, ['check']);
  t.equal(ok.code, 0, ok.out);
  t.match(ok.out, /ledger check ok/);
  const c = await db.pool.connect();
  try {
    await c.query(`set session_replication_role = replica`); // superuser: triggers off, to simulate corruption
    await c.query(`update ledger_account set own = own + 1 where code = 'merchant:m1:978'`);
    await c.query(
      `insert into ledger_posting values ('p2', 1, 7, (select id from ledger_account where code = 'merchant:m2:978'), (select id from ledger_account where code = 'usd'), 3, 840)`,
    );
    await c.query(`update ledger_plan set state = 'ROLLBACK', close_hash = '\\x01' where id = 'p2'`);
    // a posting into a closed plan (the database leaves this to the application since 002; the audit catches it)
    await c.query(
      `insert into ledger_posting values ('p1', 9, 0, (select id from ledger_account where code = 'merchant:m1:978'), (select id from ledger_account where code = 'fees:978'), 5, 978)`,
    );
  } finally {
    await c.query(`reset session_replication_role`);
    c.release();
  }
  const r = await ledger.check();
  t.throws(() => assertLedgerOk(r), { code: 'SW_ERR_LEDGER_CHECK_FAILED', message: /ledger check found \d+ violations: \[/ });
  const rules = new Set(r.violations.map((v) => v.rule));
  for (const rule of ['currency-posted-zero', 'account-balance', 'batch-zero-sum', 'posting-currency', 'plan-journal', 'posting-into-closed-plan'])
    t.ok(rules.has(rule), rule);
  const bad = await cli(db.url, ['check']);
  t.equal(bad.code, 1);
  t.match(bad.out, /FAILED/);
  t.match(bad.out, /\[currency-posted-zero\] currency 978/);
  t.match(bad.out, /\[plan-journal\] plan p2/);
});
