/**
 * F10 (docs/faults.md): a PSP reversal, full or partial (DE95's actual amount, or DE4 below the amount that
 * stands). In one transaction the authorization's next step, the money released and the reversal queued for
 * the acquirer: for a partial one only the difference is released, and the authorization stands, capturable,
 * at the rest. A partial reversal of a captured transaction is refused (12): that money has moved.
 */
import t from 'tap';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventually, eventsOf, ledgerOn, type TestSwitch } from '../helpers/switch.js';

const MERCHANT = 'merchant:SHOP00000000001:978';

function de95(actual: number): string {
  return `${String(actual).padStart(12, '0')}${'0'.repeat(12)}C00000000C00000000`;
}

async function safOf(s: TestSwitch, reversalTxn: string) {
  const { rows } = await s.db.pool.query<{ mti: string; fields: Record<string, string>; done_at: Date | null; acquirer: string }>(
    'select mti, fields, done_at, acquirer from switch_saf where txn_id = $1',
    [reversalTxn],
  );
  return rows[0];
}

async function reversalRow(s: TestSwitch, rev: ReturnType<typeof reversal>) {
  const { rows } = await s.db.pool.query<{ id: string }>(`select id from switch_txn where kind = 'reversal' and psp_stan = $1 and psp_dt = $2`, [
    rev.getString(11),
    rev.getString(7),
  ]);
  return rows[0]!.id;
}

t.test('F10: partial and full reversals', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const ledger = await ledgerOn(t, s.db.pool);
  const pending = async () => (await s.h.ledger.balances(MERCHANT)).creditsPending;

  t.test('DE95: only the difference is released; the rest stands and is captured', async (t) => {
    const req = auth({ amount: 1_000 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const before = await pending();
    const rev = reversal(req);
    rev.set(95, de95(600));
    t.equal(rc(await s.client.send(rev)), '00', 'acknowledged');
    const plan = (await ledger.plan(row.id))!;
    t.equal(plan.state, 'HOLD', 'still held');
    t.equal(plan.finalAmount, 600n, 'at 600');
    t.ok(before - (await pending()) >= 390n, `the merchant's pending credit fell by the 400 released, less its fee (${before - (await pending())})`);
    const after = (await txnOf(s.db.pool, req))!;
    t.equal(after.state, 'approved', 'the authorization stands');
    t.ok((await eventsOf(s.db.pool, row.id)).includes('partially_reversed'), 'its history says so');
    const revId = await reversalRow(s, rev);
    const q = await eventually(async () => {
      const e = await safOf(s, revId);
      return e?.done_at ? e : undefined;
    }, 'the reversal delivered');
    t.equal(q.acquirer, row.acquirer, 'to the acquirer of the original');
    t.equal(q.fields['4'], '000000001000', 'DE4: the original amount');
    t.equal(q.fields['95']!.slice(0, 12), '000000000600', 'DE95: the amount that stands');
    t.equal(rc(await s.client.send(capture(req, 700))), '13', 'a capture above what stands is refused');
    t.equal(rc(await s.client.send(capture(req, 600))), '00');
    const done = (await ledger.plan(row.id))!;
    t.equal(done.state, 'COMMIT');
    t.equal(done.finalAmount, 600n);
  });

  t.test('DE4 below the original, then a full reversal: each releases its part, both reach the acquirer', async (t) => {
    const req = auth({ amount: 2_000 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const partial = reversal(req);
    partial.set(4, '000000001500');
    t.equal(rc(await s.client.send(partial)), '00');
    t.equal((await ledger.plan(row.id))!.finalAmount, 1_500n, 'held at 1,500');
    const full = reversal(req);
    t.equal(rc(await s.client.send(full)), '00');
    t.equal((await ledger.plan(row.id))!.state, 'ROLLBACK', 'then nothing held');
    t.equal((await txnOf(s.db.pool, req))!.state, 'reversed');
    const sim = s.sim(row.acquirer!);
    await eventually(() => sim.journal.count({ direction: 'out', mti: '0410', rrn: row.acq_rrn! }) >= 2, 'both answered by the acquirer');
    t.equal(sim.journal.count({ direction: 'in', mti: '0400', rrn: row.acq_rrn! }), 2, 'two reversals sent');
  });

  t.test('a partial reversal of a captured transaction: 12, nothing moves', async (t) => {
    const req = auth({ amount: 3_000 });
    t.equal(rc(await s.client.send(req)), '00');
    t.equal(rc(await s.client.send(capture(req, 3_000))), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const rev = reversal(req);
    rev.set(95, de95(1_000));
    t.equal(rc(await s.client.send(rev)), '12');
    t.equal((await txnOf(s.db.pool, req))!.state, 'captured');
    t.equal((await ledger.plan(row.id))!.finalAmount, 3_000n);
  });

  t.test('a reversal for the whole amount (or more) is full', async (t) => {
    const req = auth({ amount: 4_000 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const rev = reversal(req);
    rev.set(95, de95(4_000));
    t.equal(rc(await s.client.send(rev)), '00');
    t.equal((await ledger.plan(row.id))!.state, 'ROLLBACK');
  });

  t.test('ledger check', async (t) => {
    t.ok((await ledger.check()).ok);
  });
});
