/**
 * The answer and its hold commit together (docs/switch.md, "The durable record"), on real sockets and
 * PostgreSQL:
 * - a hold the ledger refuses (a no-negative account without the funds, through the locked path) leaves a
 *   failed answer with its reversal delivered, and a repeat (0101) replays 91, never an approval;
 * - an unknown currency is refused (30) before anything is sent;
 * - a merchant id with a space inside (DE42 is ans 15) is held like any other.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, rc, txnOf, eventually, ROOT } from '../helpers/switch.js';

function repeatOf(m: IsoMessage): IsoMessage {
  const r = m.clone();
  r.mti = `${m.mti.slice(0, 3)}1`;
  return r;
}

const sentToAcquirers = (s: Awaited<ReturnType<typeof startTestSwitch>>, mti: string) =>
  s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti }), 0);

t.test('a hold the ledger refuses: 91, no money, the reversal delivered, and the repeat replays 91', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, saf: { timeoutMs: 3_000 } } });
  // every acquirer account may not go negative and holds nothing: each payment hold debits one, so the
  // ledger refuses it on the locked path
  for (const a of ['acq-a', 'acq-b', 'acq-c']) await s.h.ledger.ensureAccount({ code: `acquirer:${a}:978`, kind: 'acquirer', currency: 978, noNegative: true });
  const req = auth({ amount: 1_500 });
  t.equal(rc(await s.client.send(req)), '91', 'approved by the acquirer, refused by the ledger: the PSP hears 91');
  const row = (await txnOf(s.db.pool, req))!;
  t.match(row.state, /^(failed|reversed)$/);
  t.equal(await s.h.ledger.plan(row.id), undefined, 'nothing held');
  const sim = s.sim(row.acquirer!);
  t.equal(sim.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }), 1, 'the acquirer approved it once');
  await eventually(() => sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }) >= 1, 'its reversal delivered');
  await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', 'reversed once the acquirer answered');
  const again = await s.client.send(repeatOf(req));
  t.equal(rc(again), '91', 'the 0101 repeat replays 91, not 00');
  t.notOk(again.getString(38), 'and no auth code');
  t.equal(
    sim.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }) + sim.journal.count({ direction: 'in', mti: '0101' }),
    1,
    'the repeat is not sent again',
  );
  t.ok((await s.h.ledger.check()).ok);
});

t.test('unknown currency, a merchant id with a space', async (t) => {
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'switch-holds-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const merchants = path.join(rulesDir, 'merchants.yaml');
  writeFileSync(
    merchants,
    readFileSync(merchants, 'utf8') + '  - { id: "MY SHOP 0000001", name: "Spaced Shop", mcc: "5411", country: "DE", psps: ["psp-alpha"] }\n',
  );
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, rulesDir } });

  t.test('unknown currency: 30, nothing sent', async (t) => {
    const before = sentToAcquirers(s, '0100');
    t.equal(rc(await s.client.send(auth({ currency: '999' }))), '30');
    t.equal(sentToAcquirers(s, '0100'), before);
  });

  t.test('a merchant id with a space inside is held like any other', async (t) => {
    const req = auth({ merchant: 'MY SHOP 0000001', amount: 2_222 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const plan = await s.h.ledger.plan(row.id);
    t.equal(plan?.state, 'HOLD');
    t.equal(plan?.merchant, 'MY SHOP 0000001');
    t.ok((await s.h.ledger.balances('merchant:MY SHOP 0000001:978')).creditsPending > 0n);
  });

  t.test('ledger check', async (t) => {
    t.ok((await s.h.ledger.check()).ok);
  });
});
