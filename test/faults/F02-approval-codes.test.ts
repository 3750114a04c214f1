/**
 * F02 (docs/faults.md): approval codes other than 00. 08 (honour with identification) and 11 (VIP) are held as
 * approvals; 10 (partial approval) holds the amount the acquirer approved in its DE4 and answers the PSP with
 * it; 85 (no reason to decline) answers with nothing held. The flows, the metrics and the console count the
 * same codes as approvals (src/iso8583/response-codes.ts). Simulators answer by amount (rules below).
 */
import t from 'tap';
import { responseClass } from '../../src/metrics/index.js';
import { SwitchTransactionQueries } from '../../src/switch/store/index.js';
import type { Rule } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, capture, rc, txnOf, eventually, ledgerOn } from '../helpers/switch.js';

const RULES: Rule[] = [
  { when: { amountMin: 1008, amountMax: 1008 }, respond: '08' },
  { when: { amountMin: 1011, amountMax: 1011 }, respond: '11' },
  { when: { amountMin: 1085, amountMax: 1085 }, respond: '85' },
  { when: { amountMin: 1010, amountMax: 1010 }, respond: '10', approveAmount: 600 },
  { when: { amountMin: 2010, amountMax: 2010 }, respond: '10', approveAmount: 0 },
  { when: { amountMin: 3010, amountMax: 3010 }, respond: '10', approveAmount: 3011 },
  { when: { panSuffix: '0002' }, respond: '05' },
];

t.test('F02: approval codes other than 00', async (t) => {
  const s = await startTestSwitch(t);
  for (const sim of s.sims()) sim.setBehaviour({ rules: RULES });
  const ledger = await ledgerOn(t, s.db.pool);
  const console = new SwitchTransactionQueries(s.db.pool);
  const classOnConsole = async (id: string) => (await console.get(id))?.class;

  for (const [code, amount] of [
    ['08', 1008],
    ['11', 1011],
  ] as const) {
    t.test(`${code}: an approval, held in full`, async (t) => {
      const req = auth({ amount });
      const res = await s.client.send(req);
      t.equal(rc(res), code, 'the PSP hears the code');
      t.ok(res.getString(38), 'with the auth code');
      const row = (await txnOf(s.db.pool, req))!;
      t.equal(row.state, 'approved');
      const plan = (await ledger.plan(row.id))!;
      t.equal(plan.state, 'HOLD');
      t.equal(plan.amount, BigInt(amount), 'the amount asked is held');
      t.equal(responseClass(code), 'approved', 'the metrics count it as an approval');
      t.equal(await classOnConsole(row.id), 'approved', 'so does the console');
      t.equal(rc(await s.client.send(capture(req, amount))), '00', 'and it can be captured');
    });
  }

  t.test('10: the approved amount is held, and the PSP is told it', async (t) => {
    const req = auth({ amount: 1010 });
    const res = await s.client.send(req);
    t.equal(rc(res), '10');
    t.equal(res.getString(4), '000000000600', 'DE4 of the answer: the amount approved');
    const row = (await txnOf(s.db.pool, req))!;
    t.equal((await ledger.plan(row.id))!.amount, 600n, 'only 600 held');
    const repeat = req.clone();
    repeat.mti = '0101';
    const again = await s.client.send(repeat);
    t.equal(rc(again), '10', 'the repeat replays 10');
    t.equal(again.getString(4), '000000000600', 'with the approved amount');
    t.equal(rc(await s.client.send(capture(req, 700))), '13', 'a capture above the approved amount is refused');
    t.equal(rc(await s.client.send(capture(req, 600))), '00', 'the approved amount can be captured');
    t.equal((await ledger.plan(row.id))!.state, 'COMMIT');
  });

  t.test('10 on a financial request: the approved amount is committed', async (t) => {
    const req = auth({ mti: '0200', amount: 1010 });
    const res = await s.client.send(req);
    t.equal(rc(res), '10');
    t.equal(res.getString(4), '000000000600');
    const plan = (await ledger.plan((await txnOf(s.db.pool, req))!.id))!;
    t.equal(plan.state, 'COMMIT');
    t.equal(plan.amount, 600n);
  });

  for (const [what, amount] of [
    ['zero', 2010],
    ['above the amount asked', 3010],
  ] as const) {
    t.test(`10 with an approved amount ${what}: never an approval without a sound hold`, async (t) => {
      const req = auth({ amount });
      t.equal(rc(await s.client.send(req)), '91');
      const row = (await txnOf(s.db.pool, req))!;
      t.equal(await ledger.plan(row.id), undefined, 'nothing held');
      await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', 'reversed at the acquirer');
    });
  }

  t.test('85: answered, nothing held', async (t) => {
    const req = auth({ amount: 1085 });
    const res = await s.client.send(req);
    t.equal(rc(res), '85');
    const row = (await txnOf(s.db.pool, req))!;
    t.equal(row.state, 'approved');
    t.equal(await ledger.plan(row.id), undefined, 'no hold');
    t.equal(await classOnConsole(row.id), 'approved');
    t.equal(rc(await s.client.send(capture(req, 1085))), '13', 'nothing to capture');
  });

  t.test('a decline is still a decline', async (t) => {
    const req = auth({ pan: '4111111111110002', amount: 1000 });
    t.equal(rc(await s.client.send(req)), '05');
    t.equal(await ledger.plan((await txnOf(s.db.pool, req))!.id), undefined);
    t.equal(responseClass('05'), 'declined');
  });

  t.test('ledger check', async (t) => {
    t.ok((await ledger.check()).ok);
  });
});
