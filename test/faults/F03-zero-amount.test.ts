/**
 * F03 (docs/faults.md): a zero-amount 0100 (account verification) is forwarded and answered with the acquirer's
 * code (00 or 85), with no hold taken: it never becomes 91 because the ledger would refuse a zero hold. Its
 * 0101 repeat replays the answer; its reversal is acknowledged with nothing to release.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestSwitch, auth, reversal, rc, txnOf, ledgerOn, ROOT } from '../helpers/switch.js';

t.test('F03: zero-amount authorizations', async (t) => {
  // terminals that take zero amounts; rules/terminals.yaml starts them at 1
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'f03-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const terminals = path.join(rulesDir, 'terminals.yaml');
  writeFileSync(terminals, readFileSync(terminals, 'utf8').replace(/min_minor: 1\b/g, 'min_minor: 0'));
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, rulesDir } });
  const ledger = await ledgerOn(t, s.db.pool);

  for (const code of ['00', '85']) {
    t.test(`answered ${code}: forwarded, nothing held, the repeat replays it, the reversal releases nothing`, async (t) => {
      for (const sim of s.sims()) sim.setBehaviour({ rules: [{ when: { amountMax: 0 }, respond: code }] });
      const req = auth({ amount: 0 });
      const res = await s.client.send(req);
      t.equal(rc(res), code, "the acquirer's code, not 91");
      const row = (await txnOf(s.db.pool, req))!;
      t.equal(row.state, 'approved');
      t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }), 1, 'forwarded');
      t.equal(await ledger.plan(row.id), undefined, 'no hold for nothing');
      const repeat = req.clone();
      repeat.mti = '0101';
      const again = await s.client.send(repeat);
      t.equal(rc(again), code, 'the repeat replays the answer');
      t.equal(again.getString(38), res.getString(38), 'with its auth code');
      t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: ['0100', '0101'], rrn: row.acq_rrn! }), 1, 'not sent again');
      t.equal(rc(await s.client.send(reversal(req))), '00', 'a reversal is acknowledged');
      t.equal((await txnOf(s.db.pool, req))!.state, 'reversed');
      t.equal(await ledger.plan(row.id), undefined, 'still nothing in the books');
    });
  }

  t.test('ledger check', async (t) => {
    t.ok((await ledger.check()).ok);
  });
});
