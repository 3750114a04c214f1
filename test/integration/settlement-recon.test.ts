/**
 * Settlement reconciliation (docs/ledger.md, "Settlement files"), end to end: transactions of every kind through
 * the switch and its acquirer simulators, the simulators' settlement files written from their own journals with
 * scripted breaks, and the switch's books matched against them. Each break is found exactly, on the RRN it was
 * put on, and nothing else is; `npm run ledger:recon -- --settlement` prints it, records it and exits 1.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { businessDay, addDays, type CutoverSpec } from '../../src/ledger/business-day.js';
import { readSettlementFile, DEFAULT_SETTLEMENT_LAYOUT } from '../../src/ledger/settlement-file.js';
import { reconcileSettlement, lastSettlementRuns, type SettlementBreak } from '../../src/ledger/settlement.js';
import { acquirerReferences } from '../../src/switch/store/index.js';
import type { SettlementFileLayout } from '../../src/routing/types.js';
import { settlementCsv, type SettlementBreaks, type SettlementItem } from '../../simulators/acquirer/settlement.js';
import { startTestSwitch, eventually, auth, capture, reversal, refundOf, rc, txnOf, shippedFee, ROOT } from '../helpers/switch.js';
import { childEnv } from '../helpers/node-args.js';

const run = promisify(execFile);

// a cut-over twelve hours from now: every event of this test falls on one business day, whenever it runs
const now = new Date();
const cut = new Date(now.getTime() + 12 * 3_600_000);
const CUTOVER: CutoverSpec = { cutover: `${String(cut.getUTCHours()).padStart(2, '0')}:${String(cut.getUTCMinutes()).padStart(2, '0')}`, timezone: 'UTC' };
const DAY = businessDay(now, CUTOVER);

/** acq-a's layout in the shipped acquirers.yaml: semicolons, day first, decimal commas, its own words. */
const shippedLayout = (id: string): SettlementFileLayout => {
  const doc = parseYaml(readFileSync(path.join(ROOT, 'rules', 'acquirers.yaml'), 'utf8')) as {
    acquirers: Array<{ id: string; settlement?: { file?: SettlementFileLayout } }>;
  };
  return doc.acquirers.find((a) => a.id === id)?.settlement?.file ?? DEFAULT_SETTLEMENT_LAYOUT;
};

t.test('settlement files with scripted breaks: each found exactly', async (t) => {
  const s = await startTestSwitch(t);
  const pool = s.db.pool;
  const sent = async (m: IsoMessage, code = '00') => {
    t.equal(rc(await s.client.send(m)), code, `${m.mti} ${m.getString(3)} ${m.getString(4)}: ${code}`);
    return (await txnOf(pool, m))!;
  };
  const sale = async (amount: number) => sent(auth({ mti: '0200', amount }));
  const captured = async (amount: number) => {
    const a = auth({ amount });
    const row = await sent(a);
    await sent(capture(a, amount));
    return { a, row };
  };

  // clean items, every kind
  const clean = [await sale(1_000), (await captured(2_000)).row];
  const split = auth({ amount: 10_000 });
  clean.push(await sent(split));
  const part = (amount: number, seq: string) => {
    const m = capture(split, amount);
    m.set(63, seq);
    return m;
  };
  await sent(part(3_000, '0102'));
  await sent(part(7_000, '0202'));
  const refunded = await captured(4_000);
  clean.push(refunded.row, await sent(refundOf(refunded.a, 1_500)));
  const reversedSale = auth({ mti: '0200', amount: 500 });
  await sent(reversedSale);
  t.equal(rc(await s.client.send(reversal(reversedSale))), '00', 'a sale reversed on its own day settles as nothing, on both sides');
  const rev = (await txnOf(pool, reversedSale))!;
  // the reversal reaches the acquirer from the store-and-forward queue, after the PSP's answer
  await eventually(
    () => s.sim(rev.acquirer!).journal.count({ direction: 'out', mti: ['0430', '0410'], rrn: rev.acq_rrn! }) > 0,
    'the reversal at the acquirer',
  );
  await sent(auth({ amount: 800 })); // authorized, never captured: settles nothing
  // the ones a break is put on
  const late = (await captured(900)).row;
  const missing = await sale(1_200);
  const amount = await sale(1_300);
  const fee = await sale(1_400);
  const currency = await sale(1_500);

  const terminalOf = new Map(
    (await pool.query<{ acq_tid: string; terminal: string }>('select distinct acq_tid, terminal from switch_intent where acq_tid is not null')).rows.map(
      (r) => [r.acq_tid, r.terminal],
    ),
  );
  const acquirers = [...new Set([...clean, late, missing, amount, fee, currency].map((r) => r.acquirer!))];
  const rrnOf = (r: { acq_rrn: string | null }) => r.acq_rrn!;
  const expected: Array<[string, string]> = [
    ['late', rrnOf(late)],
    ['missing', rrnOf(missing)],
    ['amount', rrnOf(amount)],
    ['fee', rrnOf(fee)],
    ['currency', rrnOf(currency)],
  ];

  const found: SettlementBreak[] = [];
  const lateFound: SettlementBreak[] = [];
  let extras = 0;
  let matched = 0;
  for (const acq of acquirers) {
    const mine = (r: { acquirer: string | null }) => r.acquirer === acq;
    const breaks: SettlementBreaks = {
      late: mine(late) ? [rrnOf(late)] : [],
      missing: mine(missing) ? [rrnOf(missing)] : [],
      amount: mine(amount) ? { [rrnOf(amount)]: 1 } : {},
      fee: mine(fee) ? { [rrnOf(fee)]: 3 } : {},
      currency: mine(currency) ? { [rrnOf(currency)]: '840' } : {},
      extra: acq === acquirers[0] ? 2 : 0,
    };
    extras += breaks.extra!;
    const layout = shippedLayout(acq);
    const feeOf = (i: SettlementItem) => shippedFee(acq, i.amount, terminalOf.get(i.terminal) ?? '');
    const file = settlementCsv(s.sim(acq).journal.all(), { day: DAY, cutover: CUTOVER, layout, fee: feeOf, breaks, seed: 7 });
    const r = await reconcileSettlement(pool, { acquirer: acq, day: DAY, file: `${acq}.csv`, cutover: CUTOVER }, readSettlementFile(file, layout), (ids) =>
      acquirerReferences(pool, ids),
    );
    found.push(...r.breaks);
    matched += r.matched;
    // the late one is in the next day's file, and found there as late (booked the day before)
    const next = settlementCsv(s.sim(acq).journal.all(), { day: addDays(DAY, 1), cutover: CUTOVER, layout, fee: feeOf, breaks: { late: breaks.late! } });
    const r2 = await reconcileSettlement(
      pool,
      { acquirer: acq, day: addDays(DAY, 1), file: 'next.csv', cutover: CUTOVER },
      readSettlementFile(next, layout),
      (ids) => acquirerReferences(pool, ids),
    );
    lateFound.push(...r2.breaks);
  }
  const kindsOf = (rrn: string) => found.filter((b) => b.rrn === rrn).map((b) => b.kind);
  t.same(kindsOf(rrnOf(late)), ['missing_theirs'], 'the late capture is missing from its own day’s file');
  t.same(kindsOf(rrnOf(missing)), ['missing_theirs'], 'a row left out: missing on theirs');
  t.same(kindsOf(rrnOf(amount)), ['amount_mismatch'], 'an amount off by one minor unit');
  t.same(kindsOf(rrnOf(fee)), ['fee_difference'], 'a fee off by three');
  t.same(kindsOf(rrnOf(currency)), ['currency_mismatch'], 'a currency changed');
  const amountBreak = found.find((b) => b.rrn === rrnOf(amount))!;
  t.same([amountBreak.ours?.amount, amountBreak.theirs?.amount], ['1300', '1301']);
  t.equal(found.filter((b) => b.kind === 'missing_ours').length, extras, 'the extra rows: missing on ours');
  t.equal(found.length, expected.length + extras, 'nothing else is a break');
  // sale, capture, two partial captures, the refunded capture and its refund; and the one whose fee differs
  t.equal(matched, 6 + 1, 'every clean item matched (the fee break is a matched pair whose fees differ)');
  t.same(
    lateFound.map((b) => [b.kind, b.rrn, b.ours?.day]),
    [['late', rrnOf(late), DAY]],
    'next day: the late capture is found as late, booked the day before',
  );

  t.test('the command: table, JSON last line, recorded for the console, exit 1', async (t) => {
    const acq = late.acquirer!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'settlement-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const rules = path.join(dir, 'rules');
    const { cpSync } = await import('node:fs');
    cpSync(path.join(ROOT, 'rules'), rules, { recursive: true });
    const doc = parseYaml(readFileSync(path.join(rules, 'acquirers.yaml'), 'utf8')) as {
      acquirers: Array<{ id: string; settlement?: Record<string, unknown> }>;
    };
    for (const a of doc.acquirers) a.settlement = { ...(a.settlement ?? {}), ...CUTOVER };
    writeFileSync(path.join(rules, 'acquirers.yaml'), stringifyYaml(doc));
    const layout = shippedLayout(acq);
    const feeOf = (i: SettlementItem) => shippedFee(acq, i.amount, terminalOf.get(i.terminal) ?? '');
    const file = path.join(dir, `${acq}-${DAY}.csv`);
    writeFileSync(
      file,
      settlementCsv(s.sim(acq).journal.all(), { day: DAY, cutover: CUTOVER, layout, fee: feeOf, breaks: { late: [rrnOf(late)], extra: 2 }, seed: 11 }),
    );
    const args = ['--import', 'tsx', 'src/cli/ledger.ts', 'recon', '--settlement', file, '--acquirer', acq, '--day', DAY, '--rules', rules];
    const r = await run(process.execPath, args, { cwd: ROOT, env: childEnv({ DATABASE_URL: s.db.url }), timeout: 120_000 }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    t.comment(r.stdout);
    t.equal(r.code, 1, 'exit 1: there are breaks');
    const lines = r.stdout.trim().split('\n');
    const last = JSON.parse(lines.at(-1)!) as Record<string, number | string>;
    t.match(last, { acquirer: acq, day: DAY, breaks: 3, missing_theirs: 1, missing_ours: 2, late: 0 }, 'the JSON summary');
    t.match(r.stdout, new RegExp(`missing_theirs\\s+${rrnOf(late)}\\s+sale`), 'the table names the break');
    const runs = await lastSettlementRuns(pool);
    const mine = runs.find((x) => x.acquirer === acq)!;
    t.match(mine, { day: DAY, file: path.basename(file), breaks: 3 }, 'recorded: the console shows it');
    t.same(
      mine.detail.filter((b) => b.kind === 'missing_theirs').map((b) => b.rrn),
      [rrnOf(late)],
    );
    t.equal(mine.detail.filter((b) => b.kind === 'missing_ours').length, 2, 'the two extra rows');
  });
});

t.test('a file that cannot be read is a typed error naming its line', async (t) => {
  const layout = shippedLayout('acq-a');
  const err = (text: string) => {
    try {
      readSettlementFile(text, layout, 'x.csv');
      return 'read';
    } catch (e) {
      return (e as { code?: string; message: string }).code + ': ' + (e as Error).message;
    }
  };
  t.match(err(''), /SW_ERR_SETTLEMENT_FILE_INVALID.*line 1.*empty/);
  t.match(err('a;b\n'), /no column/);
});
