/**
 * F04 (docs/faults.md): duplicate and repeat detection. The key is the MTI class with DE11 + DE41 + DE42, and
 * DE13 + DE12 where present; not DE7, since a repeat (0101, 0221, 0401) is sent with a fresh one. Without
 * DE12/DE13 the key holds for `duplicateWindowMs` (1.5 s here). The same key with another amount or card
 * (compared by its keyed hash) is another payment: 94, and no acquirer call.
 */
import t from 'tap';
import { transmissionDateTime } from '../../src/net/mti.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventually, type TestSwitch } from '../helpers/switch.js';

const WINDOW_MS = 1_500;

/** A copy of `m` as the PSP repeats it: MTI xx01 and a DE7 one second later. */
function repeatOf(m: IsoMessage): IsoMessage {
  const r = m.clone();
  r.mti = `${m.mti.slice(0, 3)}1`;
  const dt = m.getString(7)!;
  r.set(7, dt.slice(0, 9) + String((Number(dt[9]) + 1) % 10));
  return r;
}

const sent = (s: TestSwitch, mti: string[]) => s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti }), 0);

t.test('F04: duplicates and repeats', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, duplicateWindowMs: WINDOW_MS } });

  t.test('a 0101 repeat with a fresh DE7 is matched to its original (DE12/DE13 present)', async (t) => {
    const req = auth({ amount: 4_001 });
    const first = await s.client.send(req);
    t.equal(rc(first), '00');
    const before = sent(s, ['0100', '0101']);
    const again = await s.client.send(repeatOf(req));
    t.not(repeatOf(req).getString(7), req.getString(7), 'the repeat carries another DE7');
    t.equal(rc(again), '00', 'the original answer');
    t.equal(again.getString(38), first.getString(38), 'with its auth code');
    t.equal(again.getString(37), first.getString(37), 'and RRN');
    t.equal(sent(s, ['0100', '0101']), before, 'nothing sent again');
  });

  t.test('the same key with another amount, or another card: 94, no acquirer call', async (t) => {
    const req = auth({ amount: 4_002 });
    t.equal(rc(await s.client.send(req)), '00');
    const before = sent(s, ['0100', '0101']);
    const otherAmount = req.clone();
    otherAmount.set(4, '000000004003');
    t.equal(rc(await s.client.send(otherAmount)), '94', 'another amount');
    const otherCard = req.clone();
    otherCard.set(2, '4111110000009999');
    t.equal(rc(await s.client.send(otherCard)), '94', 'another card');
    const otherRepeat = repeatOf(req);
    otherRepeat.set(4, '000000004004');
    t.equal(rc(await s.client.send(otherRepeat)), '94', 'a repeat with another amount');
    t.equal(sent(s, ['0100', '0101']), before, 'none of them reached an acquirer');
    t.equal((await txnOf(s.db.pool, req))!.state, 'approved', 'the original stands as it was');
  });

  t.test('the same key with another amount while the original is still in flight: 94 at once', async (t) => {
    // held 1.5 s at the acquirer (the switch waits 3 s): the other one is sent once the original is there
    for (const sim of s.sims()) sim.setBehaviour({ rules: [{ when: { amountMin: 4_010, amountMax: 4_010 }, delayMs: 1_500 }] });
    const req = auth({ amount: 4_010 });
    const other = req.clone();
    other.set(4, '000000004011');
    const second = await s.connect(); // the PSP client matches answers by DE11+DE41: one of each per connection
    const order: string[] = [];
    const atAcquirer = sent(s, ['0100', '0101']);
    const original = s.client.send(req).then((r) => (order.push('original'), r));
    await eventually(() => sent(s, ['0100', '0101']) > atAcquirer, 'the original at the acquirer');
    const b = await second.send(other).then((r) => (order.push('other'), r));
    const a = await original;
    t.equal(rc(a), '00');
    t.equal(rc(b), '94');
    t.same(order, ['other', 'original'], 'the 94 came while the original was still in flight, not after it');
    for (const sim of s.sims()) sim.setBehaviour({ rules: [] });
  });

  t.test('without DE12/DE13: matched within duplicateWindowMs, a new payment after it', async (t) => {
    const req = auth({ amount: 4_020 });
    req.set(12, undefined).set(13, undefined);
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const before = sent(s, ['0100', '0101']);
    t.equal(rc(await s.client.send(repeatOf(req))), '00', 'a repeat within the window');
    t.equal(sent(s, ['0100', '0101']), before, 'is not sent again');
    // Deliberate: the window is time on the switch's clock, with nothing to observe when it ends; waiting longer
    // than it (a loaded machine only waits longer) is what this step tests.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 200));
    const later = req.clone();
    later.set(7, transmissionDateTime());
    t.equal(rc(await s.client.send(later)), '00', 'the same DE11 after the window');
    t.equal(sent(s, ['0100', '0101']), before + 1, 'is a new authorization, sent');
    const { rows } = await s.db.pool.query<{ n: number }>(`select count(*)::int as n from switch_txn where kind = 'auth' and psp_stan = $1 and amount = 4020`, [
      req.getString(11),
    ]);
    t.equal(rows[0]!.n, 2, 'two transactions');
    t.ok(row.id, 'the first one kept');
  });

  t.test('repeats of a capture (0221) and of a reversal (0401) with fresh DE7s are replayed', async (t) => {
    const req = auth({ amount: 4_030 });
    t.equal(rc(await s.client.send(req)), '00');
    const row = (await txnOf(s.db.pool, req))!;
    const sim = s.sim(row.acquirer!);
    const cap = capture(req, 4_030);
    cap.set(12, '130000').set(13, '1203');
    t.equal(rc(await s.client.send(cap)), '00');
    t.equal(rc(await s.client.send(repeatOf(cap))), '00', 'the 0221 replays 00');
    t.equal(sim.journal.count({ direction: 'in', mti: ['0220', '0221'], rrn: row.acq_rrn! }), 1, 'one capture at the acquirer');
    const other = auth({ amount: 4_031 });
    t.equal(rc(await s.client.send(other)), '00');
    const orow = (await txnOf(s.db.pool, other))!;
    const rev = reversal(other);
    rev.set(12, '130500').set(13, '1203');
    t.equal(rc(await s.client.send(rev)), '00');
    t.equal(rc(await s.client.send(repeatOf(rev))), '00', 'the 0401 replays 00');
    await eventually(() => s.sim(orow.acquirer!).journal.count({ direction: 'out', mti: ['0410', '0411'], rrn: orow.acq_rrn! }) >= 1, 'reversed');
    t.equal(s.sim(orow.acquirer!).journal.count({ direction: 'in', mti: ['0400', '0401'], rrn: orow.acq_rrn! }), 1, 'one reversal at the acquirer');
  });

  t.test('ledger check', async (t) => {
    t.ok((await s.h.ledger.check()).ok);
  });
});
