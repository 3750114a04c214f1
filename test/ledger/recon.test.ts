/**
 * The books per settlement business day (src/ledger/recon.ts; docs/ledger.md, "Reconciliation"):
 * - each event counts once, in its own column: authorized, captured (partial too), released, refunded (fee
 *   signed), a captured payment reversed and a refund reversed (the compensations, which before counted as
 *   nothing and left a reversed capture committed), and the net;
 * - the business day follows the acquirer's cut-over and zone, exactly as src/ledger/business-day.ts says, for
 *   any instant and any zone (the SQL and the TypeScript agree, DST days included);
 * - the command prints the same as the function, with the cut-overs of the rules it is given.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { testDb } from '../helpers/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { loadFeeSchedule } from '../../src/ledger/fees.js';
import { addDays, businessDay, businessDayEnd, type CutoverSpec } from '../../src/ledger/business-day.js';
import { cutoverShift, reconToCsv, type ReconRow } from '../../src/ledger/recon.js';
import { seededRandom } from '../helpers/seed.js';
import { childEnv } from '../helpers/node-args.js';
import { ROOT } from '../helpers/switch.js';

const run = promisify(execFile);
const pay = (merchant: string, terminal: string, amount: bigint, direction?: 'refund') => ({
  acquirer: 'acq-a',
  terminal,
  merchant,
  currency: 978,
  amount,
  ...(direction ? { direction } : {}),
});
/** acq-a's default fee in the shipped fees.yaml: 1.5 % + 10, half-up. */
const feeA = (amount: bigint) => (amount * 15n + 500n) / 1000n + 10n;

async function cli(url: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/ledger.ts', ...args], { env: childEnv({ DATABASE_URL: url }), timeout: 120_000 });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

t.test('every event in its column, compensations included, and the net', async (t) => {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool, fees: loadFeeSchedule() });
  t.teardown(() => ledger.close());
  await ledger.hold('a1', pay('m1', 'T1', 10_000n)); // captured in part: 4,000
  await ledger.hold('a2', pay('m1', 'T1', 2_000n)); // released
  await ledger.hold('a3', pay('m1', 'T1', 3_000n)); // still held
  await ledger.hold('a4', pay('m1', 'T1', 5_000n)); // captured, then reversed
  await ledger.hold('r1', pay('m1', 'T1', 1_000n, 'refund')); // a refund
  await ledger.hold('r2', pay('m1', 'T1', 700n, 'refund')); // a refund, then reversed
  await ledger.hold('b1', pay('m2', 'T9', 1_000n));
  await ledger.commit('a1', { amount: 4_000n });
  await ledger.rollback('a2');
  await ledger.commit('a4');
  await ledger.release('a4');
  await ledger.commit('r1');
  await ledger.commit('r2');
  await ledger.release('r2');
  await ledger.commit('b1');
  await ledger.ensureAccount({ code: 'x', kind: 'system', currency: 978 });
  await ledger.hold('g', [{ from: 'x', to: 'fees:978', amount: 1n, currency: 978 }]); // free postings: not in the books
  const rows = await ledger.reconcile();
  const day = new Date().toISOString().slice(0, 10);
  t.equal(rows.length, 2);
  const expected: ReconRow = {
    day,
    acquirer: 'acq-a',
    terminal: 'T1',
    merchant: 'm1',
    currency: 978,
    authorizedCount: 4,
    authorizedAmount: 20_000n,
    capturedCount: 2,
    capturedAmount: 9_000n,
    capturedFees: feeA(4_000n) + feeA(5_000n),
    releasedCount: 1,
    releasedAmount: 2_000n,
    refundedCount: 2,
    refundedAmount: 1_700n,
    refundFees: -feeA(1_000n) - feeA(700n),
    reversedCount: 1,
    reversedAmount: 5_000n,
    reversedFees: feeA(5_000n),
    refundReversedCount: 1,
    refundReversedAmount: 700n,
    refundReversedFees: -feeA(700n),
    netAmount: 9_000n - 1_700n - 5_000n + 700n,
    netFees: feeA(4_000n) + feeA(5_000n) - feeA(1_000n) - feeA(700n) - feeA(5_000n) + feeA(700n),
  };
  t.same(rows[0], expected);
  t.equal(rows[0]!.netAmount, 3_000n, 'the 4,000 captured less the 1,000 refunded');
  t.equal(rows[0]!.netFees, feeA(4_000n) - feeA(1_000n));
  t.equal(rows[1]!.capturedAmount, 1_000n);
  t.equal(rows[1]!.netAmount, 1_000n);

  // the merchant's posted balance is the net: what the books say is what the accounts hold
  t.equal((await ledger.balances('merchant:m1:978')).posted, rows[0]!.netAmount - rows[0]!.netFees);

  t.same(await ledger.reconcile({ from: addDays(day, 1) }), [], 'nothing tomorrow');
  t.same(await ledger.reconcile({ to: addDays(day, -1) }), [], 'nothing yesterday');
  t.equal((await ledger.reconcile({ from: day, to: day })).length, 2);
  await t.rejects(ledger.reconcile({ from: 'yesterday' }), RangeError);

  const csv = reconToCsv(rows);
  t.match(csv.split('\n')[0], /^day,acquirer,terminal,merchant,currency,authorized_count,authorized_amount,captured_count/);
  const out = await cli(db.url, ['recon', '--from', day]);
  t.equal(out.code, 0, out.out);
  t.equal(out.out, csv, 'the command prints what the function returns');
  t.equal((await cli(db.url, ['recon', '--from', 'yesterday-ish'])).code, 2);
  t.equal((await cli(db.url, ['frobnicate'])).code, 2);

  // the acquirer's cut-over from the rules the command is given: a cut-over passed already today moves today's
  // events to tomorrow's business day (the zone is chosen so that its local time now is near noon)
  const hourUtc = new Date().getUTCHours();
  const offset = 12 - hourUtc; // local = UTC + offset, in -11..+12
  const zone = offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
  const spec: CutoverSpec = { cutover: '00:01', timezone: zone };
  const localToday = businessDay(new Date(), { timezone: zone });
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'recon-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const acqFile = path.join(rulesDir, 'acquirers.yaml');
  const acqs = parseYaml(readFileSync(acqFile, 'utf8')) as { acquirers: Array<{ id: string; settlement?: CutoverSpec }> };
  acqs.acquirers.find((a) => a.id === 'acq-a')!.settlement = spec;
  writeFileSync(acqFile, stringifyYaml(acqs));
  const moved = await ledger.reconcile({ cutovers: { 'acq-a': spec } });
  t.same(
    moved.map((r) => r.day),
    [addDays(localToday, 1), addDays(localToday, 1)],
    'after the cut-over: the next business day',
  );
  t.same(moved[0], { ...expected, day: addDays(localToday, 1) });
  const viaCli = await cli(db.url, ['recon', '--rules', rulesDir]);
  t.equal(viaCli.code, 0, viaCli.out);
  t.equal(viaCli.out, reconToCsv(moved), 'the command reads the cut-over from acquirers.yaml');
  const late = await ledger.reconcile({ cutovers: { 'acq-a': { cutover: '23:59', timezone: zone } } });
  t.same(
    late.map((r) => r.day),
    [localToday, localToday],
    'before the cut-over: the local day',
  );
});

t.test('the SQL business day is businessDay() for any instant, zone and cut-over', async (t) => {
  const db = await testDb(t);
  const rnd = seededRandom(20261204);
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/St_Johns', 'Asia/Tokyo'];
  const cases: { at: Date; spec: CutoverSpec }[] = [];
  for (let i = 0; i < 400; i++) {
    // 2026, DST changes included; a quarter of the instants within a minute of a cut-over
    const spec: CutoverSpec = {
      timezone: zones[Math.floor(rnd() * zones.length)]!,
      cutover: `${String(Math.floor(rnd() * 24)).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}`,
    };
    const at = new Date(Date.UTC(2026, 0, 1) + Math.floor(rnd() * 365 * 86_400_000));
    const nearCut = i % 4 === 0 ? new Date(businessDayEnd(at.toISOString().slice(0, 10), spec).getTime() + Math.floor(rnd() * 120_000) - 60_000) : at;
    cases.push({ at: nearCut, spec });
  }
  const { rows } = await db.pool.query<{ day: string }>(
    `select to_char(((at at time zone tz) + make_interval(mins => shift))::date, 'YYYY-MM-DD') as day
       from unnest($1::timestamptz[], $2::text[], $3::int[]) with ordinality as u(at, tz, shift, n) order by n`,
    [cases.map((c) => c.at.toISOString()), cases.map((c) => c.spec.timezone), cases.map((c) => cutoverShift(c.spec))],
  );
  let same = 0;
  cases.forEach((c, i) => {
    if (rows[i]!.day === businessDay(c.at, c.spec)) same++;
    else t.fail(`${c.at.toISOString()} ${c.spec.timezone} ${c.spec.cutover}: SQL ${rows[i]!.day}, businessDay ${businessDay(c.at, c.spec)}`);
  });
  t.equal(same, cases.length);
});
