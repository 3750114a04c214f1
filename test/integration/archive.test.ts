/**
 * Retention (docs/retention.md): `npm run archive` writes each settled day of the switch and the ledger to
 * gzip'd NDJSON files and drops its partitions; a day with money still held is kept and named; the audit
 * still adds up afterwards (posted balances of archived days are carried in ledger_archived_balance).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { newTxnId } from '../../src/switch/ids.js';
import type { Intent } from '../../src/switch/store/index.js';
import { startTestSwitch, nextStan, ROOT } from '../helpers/switch.js';
import { childEnv } from '../helpers/node-args.js';

const run = promisify(execFile);

async function archive(url: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/archive.ts', ...args], {
      cwd: ROOT,
      env: childEnv({ DATABASE_URL: url }),
      timeout: 120_000,
    });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

t.test('archive: settled days go to files and away; a day still holding money stays', async (t) => {
  const s = await startTestSwitch(t);
  const { h } = s;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'archive-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const settledDay = '2026-10-01';
  const openDay = '2026-10-02';
  await h.pool.query(`select switch_day_partitions($1::date, $2::date), ledger_day_partitions($1::date, $2::date)`, [settledDay, openDay]);
  const payment = { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP00000000001', currency: 978, amount: 4_000n };
  const intent = (day: string): Intent => {
    const id = newTxnId(Date.parse(`${day}T12:00:00Z`));
    const stan = nextStan();
    return {
      txnId: id,
      attempt: 1,
      day,
      kind: 'auth',
      psp: 'psp-alpha',
      mti: '0100',
      pspStan: stan,
      pspTerminal: 'TERM0001',
      pspMerchant: 'SHOP00000000001',
      pspDt: '1001120000',
      dupKey: `1001120000|0100|${stan}|TERM0001|${id}`,
      originalId: null,
      originalDay: null,
      amount: 4_000n,
      currency: '978',
      panHash: null,
      panMasked: '411111******1111',
      acquirer: 'acq-a',
      terminal: 'a-eur-1',
      acqStan: '000001',
      acqRrn: '627512000001',
      acqDt: '1001120000',
      acqTid: 'TA000001',
      acqMid: 'MA0000000000001',
      rulesVersion: 1,
      explanation: null,
    };
  };
  const approve = async (i: Intent) => {
    await h.store.intent(i);
    const hold = await h.ledger.prepareHold(i.txnId, payment, undefined, { day: i.day });
    t.ok((await h.store.answer({ outcome: { txnId: i.txnId, day: i.day, seq: 1, state: 'approved', code: '00', amount: 4_000n }, hold })).written);
  };
  // the settled day: one captured (money posted), one declined
  const captured = intent(settledDay);
  await approve(captured);
  await h.ledger.commit(captured.txnId, { amount: 3_000n });
  await h.store.transact((tx) => tx.transition({ txnId: captured.txnId, day: settledDay, seq: 2, state: 'captured', amount: 3_000n }));
  const declined = intent(settledDay);
  await h.store.intent({ ...declined, answer: { state: 'declined', code: '05', reason: 'test' } });
  // the open day: an authorization still holding money
  const open = intent(openDay);
  await approve(open);
  const merchantBefore = await h.ledger.balances('merchant:SHOP00000000001:978');

  const dry = await archive(s.db.url, ['--before', '2026-10-03', '--dir', dir, '--dry-run']);
  t.equal(dry.code, 0, dry.out);
  t.match(dry.out, /switch 2026-10-01: kept \(dry run: would be archived\)/);
  t.notOk(existsSync(path.join(dir, 'switch_intent_20261001.ndjson.gz')), 'a dry run writes nothing');

  const first = await archive(s.db.url, ['--before', '2026-10-03', '--dir', dir]);
  t.equal(first.code, 1, `a day was kept: ${first.out}`);
  t.match(first.out, /switch 2026-10-01: archived/);
  t.match(first.out, /switch 2026-10-02: kept \(1 transaction\(s\) not settled/);
  t.match(first.out, /ledger 2026-10-01: archived/);
  t.match(first.out, /ledger 2026-10-02: kept \(1 plan\(s\) still in HOLD\)/);
  const lines = (f: string) =>
    gunzipSync(readFileSync(path.join(dir, f)))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    lines('switch_intent_20261001.ndjson.gz')
      .map((r) => r.txn_id)
      .sort(),
    [captured.txnId, declined.txnId].sort(),
    "the day's intents are in the file",
  );
  t.equal(lines('switch_outcome_20261001.ndjson.gz').length, 2, 'and its outcomes');
  t.equal(lines('ledger_plan_20261001.ndjson.gz')[0]!.id, captured.txnId);
  t.equal(lines('ledger_posting_20261001.ndjson.gz').length, 6, 'hold, its reversal and the final batch: two postings each');
  const { rows: parts } = await h.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_class where relname in ('switch_intent_20261001', 'ledger_plan_20261001', 'ledger_posting_20261001')`,
  );
  t.equal(parts[0]!.n, 0, "the settled day's partitions are gone");
  t.equal(await h.ledger.plan(captured.txnId), undefined);
  t.equal((await h.ledger.plan(open.txnId))?.state, 'HOLD', 'the open day is untouched');
  t.same(await h.ledger.balances('merchant:SHOP00000000001:978'), merchantBefore, 'balances do not change');
  const report = await h.ledger.check();
  t.ok(report.ok, `the audit adds up with the archived day carried over: ${JSON.stringify(report.violations)}`);

  // the open day settles (its hold expires) and goes too
  await h.ledger.rollback(open.txnId);
  await h.store.transact((tx) => tx.transition({ txnId: open.txnId, day: openDay, seq: 2, state: 'expired' }));
  const second = await archive(s.db.url, ['--before', '2026-10-03', '--dir', dir]);
  t.equal(second.code, 0, second.out);
  t.match(second.out, /switch 2026-10-02: archived/);
  t.match(second.out, /ledger 2026-10-02: archived/);
  t.ok((await h.ledger.check()).ok);
  const help = await archive(s.db.url, ['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /usage: npm run archive/);
  const bad = await archive(s.db.url, ['--nope']);
  t.equal(bad.code, 2);
  t.match(bad.out, /usage: npm run archive/);
  for (const args of [
    ['--keep-days', '0'],
    ['--keep-days', '1.5'],
    ['--before', '2026/10/03'],
  ]) {
    const r = await archive(s.db.url, args);
    t.equal(r.code, 2, `${args.join(' ')}: a usage error`);
    t.match(
      r.out,
      /^archive: --keep-days takes a whole number of days ≥ 1, --before a YYYY-MM-DD day\nusage: npm run archive/,
      'names what is wrong, then the usage',
    );
  }
});
