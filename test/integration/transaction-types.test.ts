/**
 * The processing code (DE3) decides what a 0100/0200 is (docs/switch.md, "Transaction types"), end to end on
 * real sockets, the built-in simulators and PostgreSQL, each with its ledger effect checked as exact balances
 * and by ledger:check:
 * - a type the switch does not work (02, 22, 31…) is refused 12 and one without DE3 30, nothing recorded or sent;
 * - a purchase with cashback (09) holds the whole amount and carries DE54 to the acquirer; a malformed cash part
 *   is 30 unsent; a partial approval of it is reversed (cash is not handed out in part);
 * - a balance inquiry (30) holds nothing and passes the acquirer's DE54 back;
 * - a refund (20) naming its original goes to the original's acquirer and terminal, books merchant → acquirer
 *   with the fee given back, never above what was captured, and its repeat is not sent again; a reversal of it
 *   is the compensation that gives the money back and frees the amount for another refund;
 * - a standalone refund is routed by the rules' `kind: refund` rule.
 */
import t, { type Test } from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { startTestSwitch, auth, capture, de90, rc, txnOf, setRules, eventually, nextStan, ROOT, type TestSwitch, shippedFee } from '../helpers/switch.js';

const sent = (s: TestSwitch, mti: string) => s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti }), 0);
const intents = async (pool: pg.Pool) => Number((await pool.query<{ n: string }>('select count(*) as n from switch_intent')).rows[0]!.n);

function withCode(m: IsoMessage, de3: string, extra: Record<number, string> = {}): IsoMessage {
  m.set(3, de3);
  for (const [k, v] of Object.entries(extra)) m.set(Number(k), v);
  return m;
}

/** A refund (0200, DE3 20) of `orig` (by DE90) or standalone. */
function refundOf(o: { orig?: IsoMessage; amount: number; pan?: string; terminal?: string; merchant?: string; stan?: string; dt?: string }): IsoMessage {
  const m = new IsoMessage('0200', {
    3: '200000',
    4: String(o.amount).padStart(12, '0'),
    7: o.dt ?? transmissionDateTime(),
    11: o.stan ?? nextStan(),
    12: '120000',
    13: '1122',
    41: o.orig?.getString(41) ?? (o.terminal ?? 'TERM0001').padEnd(8).slice(0, 8),
    42: o.orig?.getString(42) ?? (o.merchant ?? 'SHOP00000000001').padEnd(15).slice(0, 15),
    49: o.orig?.getString(49) ?? '978',
  });
  const pan = o.pan ?? o.orig?.getString(2);
  if (pan) m.set(2, pan);
  if (o.orig) m.set(90, de90(o.orig));
  return m;
}

/** The shipped rules with a rule of their own for standalone refunds, first: EUR refunds to acquirer A. */
function rulesWithRefundRule(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'txn-types-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), dir, { recursive: true });
  const file = path.join(dir, 'routing.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as { rules: unknown[] };
  doc.rules.unshift({ id: 'standalone-refunds', when: { kind: ['refund'], currency: ['978'] }, then: { terminals: [{ terminal: 'a-eur-1', priority: 1 }] } });
  writeFileSync(file, stringifyYaml(doc));
  return dir;
}

t.test('transaction types by processing code', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, rulesDir: rulesWithRefundRule(t) } });
  const MER = 'merchant:SHOP00000000001:978';
  const posted = async (code: string) => (await s.h.ledger.balances(code)).posted;

  t.test('unsupported and malformed processing codes: refused before anything is recorded or sent', async (t) => {
    const before = { sent: sent(s, '0100') + sent(s, '0200'), rows: await intents(s.db.pool) };
    for (const de3 of ['020000', '220000', '310000', '010000']) t.equal(rc(await s.client.send(withCode(auth(), de3))), '12', `DE3 ${de3}: 12`);
    // DE3 is n 6 in every dialect: the codec pads a short one and refuses a letter, so a malformed DE3 is an absent one here
    const noDe3 = auth();
    noDe3.delete(3);
    t.equal(rc(await s.client.send(noDe3)), '30', 'no DE3: 30');
    t.equal(rc(await s.client.send(withCode(auth({ mti: '0200' }), '220000'))), '12', 'a 0200 adjustment: 12');
    t.equal(sent(s, '0100') + sent(s, '0200'), before.sent, 'no acquirer call');
    t.equal(await intents(s.db.pool), before.rows, 'nothing recorded');
  });

  t.test('purchase with cashback: the whole amount held, DE54 to the acquirer; a bad cash part 30; a partial approval reversed', async (t) => {
    const req = withCode(auth({ amount: 2_000 }), '090000', { 54: '0040978C000000000500' });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    t.equal(row.kind, 'auth');
    const plan = await s.h.ledger.plan(row.id);
    t.equal(plan?.state, 'HOLD');
    t.equal(plan?.amount, 2_000n, 'the purchase and the cash held together');
    t.equal(plan?.fee, shippedFee(row.acquirer!, 2_000n, row.terminal!));
    const got = s.sim(row.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: row.acq_rrn! })[0]!;
    t.equal(got.processingCode, '090000', 'the acquirer is told it is a cashback');
    t.equal(got.additionalAmounts, '0040978C000000000500', 'with the cash part');

    const before = sent(s, '0100');
    for (const de54 of [undefined, '0040978C000000002000', '0040840C000000000500', '0040978C00000000050', '0001978C000000000500']) {
      const bad = withCode(auth({ amount: 2_000 }), '090000', de54 === undefined ? {} : { 54: de54 });
      t.equal(rc(await s.client.send(bad)), '30', `cash part ${de54 ?? 'missing'}: 30`);
    }
    t.equal(sent(s, '0100'), before, 'none of them sent');

    for (const sim of s.sims()) setRules(sim, [{ when: { processingCode: '09' }, respond: '10', approveAmount: 1_000 }]);
    t.teardown(() => {
      for (const sim of s.sims()) setRules(sim, []);
    });
    const partial = withCode(auth({ amount: 3_000 }), '090000', { 54: '0040978C000000001000' });
    t.equal(rc(await s.client.send(partial)), '91', 'a partial approval of a cashback is not taken');
    const prow = (await txnOf(s.db.pool, partial))!;
    t.equal(await s.h.ledger.plan(prow.id), undefined, 'nothing held');
    await eventually(() => s.sim(prow.acquirer!).journal.count({ direction: 'out', mti: '0430', rrn: prow.acq_rrn! }) >= 1, 'its reversal delivered');
  });

  t.test('balance inquiry: nothing held, the acquirer balance passed back in DE54', async (t) => {
    for (const sim of s.sims()) setRules(sim, [{ when: { processingCode: '30' }, balance: 4_321 }]);
    t.teardown(() => {
      for (const sim of s.sims()) setRules(sim, []);
    });
    const req = withCode(auth(), '301000');
    req.delete(4);
    const merBefore = await s.h.ledger.balances(MER);
    const res = await s.client.send(req);
    t.equal(rc(res), '00');
    t.equal(res.getString(54), '1002978C000000004321', 'available balance (02) of the savings account (10), in EUR');
    const row = (await txnOf(s.db.pool, req))!;
    t.equal(row.kind, 'balance');
    t.equal(row.state, 'approved');
    t.equal(await s.h.ledger.plan(row.id), undefined, 'no plan');
    t.same(await s.h.ledger.balances(MER), merBefore, 'the merchant untouched');
    const got = s.sim(row.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: row.acq_rrn! })[0]!;
    t.equal(got.processingCode, '301000');
  });

  t.test('a refund naming its original: same acquirer and terminal, booked back with the fee, never above the capture', async (t) => {
    const orig = auth({ amount: 5_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const o = (await txnOf(s.db.pool, orig))!;
    t.equal(rc(await s.client.send(capture(orig, 5_000))), '00');
    await eventually(async () => (await txnOf(s.db.pool, orig))!.state === 'captured', 'captured');
    const acq = `acquirer:${o.acquirer}:978`;
    const [mer0, acq0, fees0] = await Promise.all([posted(MER), posted(acq), posted('fees:978')]);

    t.equal(rc(await s.client.send(refundOf({ orig, amount: 6_000 }))), '13', 'above what was captured: 13');
    const r1 = refundOf({ orig, amount: 2_000 });
    const sentBefore = sent(s, '0200');
    t.equal(rc(await s.client.send(r1)), '00');
    const row1 = (await txnOf(s.db.pool, r1))!;
    t.equal(row1.kind, 'refund');
    t.equal(row1.acquirer, o.acquirer, "the original's acquirer");
    t.equal(row1.terminal, o.terminal, 'and terminal');
    const atAcq = s.sim(o.acquirer!).journal.find({ direction: 'in', mti: '0200', rrn: row1.acq_rrn! })[0]!;
    t.equal(atAcq.processingCode, '200000');
    t.equal(atAcq.terminal, s.sim(o.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: o.acq_rrn! })[0]!.terminal, 'its terminal id');
    t.equal(atAcq.original?.slice(4, 10), o.acq_stan, 'DE90 names the original as the acquirer knows it');
    const plan1 = await s.h.ledger.plan(row1.id);
    t.equal(plan1?.kind, 'refund');
    t.equal(plan1?.state, 'COMMIT');
    const fee1 = shippedFee(o.acquirer!, 2_000n, o.terminal!);
    t.equal(plan1?.fee, -fee1, 'the fee given back');
    t.equal(await posted(MER), mer0 - 2_000n + fee1, 'merchant: the refund out, its fee back');
    t.equal(await posted(acq), acq0 + 2_000n, 'acquirer: the refund in');
    t.equal(await posted('fees:978'), fees0 - fee1, 'fees: the fee given back');

    const repeat = r1.clone();
    repeat.mti = '0201';
    t.equal(rc(await s.client.send(repeat)), '00', 'the repeat replays 00');
    t.equal(sent(s, '0200') + sent(s, '0201'), sentBefore + 1, 'and is not sent again');

    t.equal(rc(await s.client.send(refundOf({ orig, amount: 3_001 }))), '13', '2,000 refunded of 5,000: 3,001 is too much');
    const r2 = refundOf({ orig, amount: 3_000 });
    t.equal(rc(await s.client.send(r2)), '00', 'the rest');
    t.equal(rc(await s.client.send(refundOf({ orig, amount: 1 }))), '13', 'nothing left to refund');

    // the reversal of a refund is its compensation: the money goes back and the amount may be refunded again
    const rev = new IsoMessage('0400', {
      3: '200000',
      4: '000000003000',
      7: transmissionDateTime(),
      11: nextStan(),
      41: r2.getString(41)!,
      42: r2.getString(42)!,
      49: '978',
      90: de90(r2),
    });
    t.equal(rc(await s.client.send(rev)), '00', 'refund reversed');
    const row2 = (await txnOf(s.db.pool, r2))!;
    t.equal(row2.state, 'reversed');
    const comp = await s.h.ledger.plan(`${row2.id}:reversal`);
    t.equal(comp?.kind, 'compensation');
    t.equal(comp?.amount, 3_000n);
    t.equal(await posted(MER), mer0 - 2_000n + fee1, 'the reversed refund gave its money and fee back');
    await eventually(
      () => s.sim(o.acquirer!).journal.count({ direction: 'out', mti: '0410' }) + s.sim(o.acquirer!).journal.count({ direction: 'out', mti: '0430' }) >= 1,
      'the acquirer told',
    );
    t.equal(rc(await s.client.send(refundOf({ orig, amount: 3_000 }))), '00', 'the 3,000 may be refunded again');

    const revOrig = new IsoMessage('0400', {
      4: '000000005000',
      7: transmissionDateTime(),
      11: nextStan(),
      41: orig.getString(41)!,
      42: orig.getString(42)!,
      49: '978',
      90: de90(orig),
    });
    t.equal(rc(await s.client.send(revOrig)), '12', 'a capture refunded from cannot be reversed too (the money would go back twice)');
    t.equal((await txnOf(s.db.pool, orig))!.state, 'captured');

    const uncaptured = auth({ amount: 1_000 });
    t.equal(rc(await s.client.send(uncaptured)), '00');
    t.equal(rc(await s.client.send(refundOf({ orig: uncaptured, amount: 500 }))), '13', 'an authorization not captured has nothing to refund');
    t.equal(rc(await s.client.send(refundOf({ orig: auth(), amount: 500 }))), '25', 'an original never seen: 25');
    t.equal(rc(await s.client.send(refundOf({ orig, amount: 100, pan: '4111111111111111' }))), '12', "another card than the original's: 12");
  });

  t.test('a financial (0200) original is refundable at once; a standalone refund is routed by the refund rule', async (t) => {
    const fin = auth({ mti: '0200', amount: 4_000 });
    t.equal(rc(await s.client.send(fin)), '00');
    t.equal(rc(await s.client.send(refundOf({ orig: fin, amount: 4_000 }))), '00');
    t.equal(rc(await s.client.send(refundOf({ orig: fin, amount: 1 }))), '13');

    const alone = refundOf({ amount: 1_234, pan: auth().getString(2)! });
    t.equal(rc(await s.client.send(alone)), '00');
    const row = (await txnOf(s.db.pool, alone))!;
    t.equal(row.kind, 'refund');
    t.equal(row.terminal, 'a-eur-1', 'rule standalone-refunds');
    const plan = await s.h.ledger.plan(row.id);
    t.equal(plan?.kind, 'refund');
    t.equal(plan?.fee, -shippedFee('acq-a', 1_234n, 'a-eur-1'));
    const noCard = refundOf({ amount: 1_000 });
    t.equal(rc(await s.client.send(noCard)), '30', 'a standalone refund without the card: 30');
  });

  t.test('the books balance', async (t) => {
    const check = await s.h.ledger.check();
    t.ok(check.ok, JSON.stringify(check).slice(0, 500));
  });
});
