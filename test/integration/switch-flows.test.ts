/**
 * Switch flows end to end on real sockets and real Postgres: approve, decline, unknown merchant, format
 * error, partial capture, reversal, orphan reversal, a reversal or capture meeting another instance's capture
 * claim (docs/faults.md W10), echo/sign-on/sign-off. Each is checked on the PSP's
 * answer, the acquirer simulator's journal and the ledger; ledger.check() passes at the end.
 */
import t from 'tap';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { encodeFrame } from '../../src/wire/framer.js';
import { nextEvent } from '../helpers/net.js';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventsOf, eventually, nextStan } from '../helpers/switch.js';

t.test('switch flows', async (t) => {
  // a generous acquirer timeout: nothing here should time out, even on a loaded machine
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const { h, client, db } = s;

  t.test('approve: 0110 00 with auth code, one 0100 at the chosen acquirer, a HOLD plan', async (t) => {
    const req = auth({ amount: 1234 });
    const res = await client.send(req);
    t.equal(res.mti, '0110');
    t.equal(rc(res), '00');
    t.match(res.getString(38), /^[0-9A-Z]{6}$/, 'auth code from the acquirer');
    t.equal(res.getString(11), req.getString(11), 'PSP STAN echoed');
    const row = (await txnOf(db.pool, req))!;
    t.ok(row, 'transaction row');
    t.equal(row.state, 'approved');
    t.equal(res.getString(37), row.acq_rrn, 'RRN is the one sent to the acquirer');
    const sim = s.sim(row.acquirer!);
    const seen = sim.journal.find({ direction: 'in', mti: '0100', stan: row.acq_stan! });
    t.equal(seen.length, 1, 'exactly one request at the acquirer, with the switch STAN');
    t.equal(seen[0]!.amount, '000000001234');
    t.equal(seen[0]!.pan, '411111******1111', 'the simulator saw the PAN (masked in its journal)');
    const plan = await h.ledger.plan(row.id);
    t.equal(plan?.state, 'HOLD');
    t.equal(plan?.amount, 1234n);
    t.same(await eventsOf(db.pool, row.id), ['received', 'routed', 'sent', 'answered', 'held']);
  });

  t.test('financial 0200: approved, held and committed at once', async (t) => {
    const req = auth({ mti: '0200', amount: 500 });
    const res = await client.send(req);
    t.equal(res.mti, '0210');
    t.equal(rc(res), '00');
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.kind, 'financial');
    t.equal(s.sim(row.acquirer!).journal.count({ direction: 'in', mti: '0200', stan: row.acq_stan! }), 1);
    const plan = await h.ledger.plan(row.id);
    t.equal(plan?.state, 'COMMIT');
    t.equal(plan?.amount, 500n);
  });

  t.test('decline: test card ending 0002 → the acquirer declines, nothing held', async (t) => {
    const req = auth({ pan: '4111111111110002', amount: 700 });
    const res = await client.send(req);
    t.equal(res.mti, '0110');
    t.not(rc(res), '00');
    t.match(rc(res), /^(05|51)$/, 'the decline code of acq-a (05) or acq-b (51)');
    t.notOk(res.getString(38), 'no auth code');
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.state, 'declined');
    t.equal(
      s.sim(row.acquirer!).journal.count({ direction: 'out', mti: '0110', stan: row.acq_stan!, responseCode: row.acquirer === 'acq-b' ? '51' : '05' }),
      1,
    );
    t.equal(await h.ledger.plan(row.id), undefined, 'no plan');
  });

  t.test('acquirer code mapped: acq-a answers N7 → PSP sees 05', async (t) => {
    for (const sim of s.sims())
      sim.setBehaviour({
        rules: [
          { when: { panSuffix: '0077' }, respond: 'N7' },
          { when: { panSuffix: '0002' }, respond: '05' },
        ],
      });
    t.teardown(() => {
      for (const sim of s.sims()) sim.setBehaviour({ rules: [{ when: { panSuffix: '0002' }, respond: '05' }] });
    });
    let seenA = false;
    for (let i = 0; i < 20 && !seenA; i++) {
      // DE debit cards (rule eur-domestic-debit: acq-a first, weight 70), whatever the hour: the default EUR
      // rule prefers acq-b at night (rule night-eur)
      const req = auth({ pan: `400020${String(i).padStart(6, '0')}0077`, amount: 100 + i });
      const res = await client.send(req);
      const row = (await txnOf(db.pool, req))!;
      if (row.acquirer === 'acq-a') {
        seenA = true;
        t.equal(rc(res), '05', 'N7 mapped to 05 by acq-a response_codes');
      } else t.equal(rc(res), 'N7', 'unmapped codes pass through');
    }
    t.ok(seenA, 'one of them routed to acq-a');
  });

  t.test('unknown merchant → 03, nothing sent, nothing held', async (t) => {
    const before = s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0);
    const req = auth({ merchant: 'NOSUCHMERCHANT1' });
    const res = await client.send(req);
    t.equal(rc(res), '03');
    const row = (await txnOf(db.pool, req))!;
    t.equal(row.state, 'declined');
    t.equal(row.acquirer, null);
    t.equal(
      s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0),
      before,
      'no request at any acquirer',
    );
    t.equal(await h.ledger.plan(row.id), undefined);
    // a merchant that does not accept this PSP is refused the same way
    const res2 = await client.send(auth({ merchant: 'SHOP00000000003' }));
    t.equal(rc(res2), '03');
  });

  t.test('format error → 30 (missing DE4, bad PAN), nothing sent', async (t) => {
    const before = s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in' }), 0);
    const m = new IsoMessage('0100', {
      2: '4111111111111111',
      3: '000000',
      7: transmissionDateTime(),
      11: nextStan(),
      41: 'TERM0001',
      42: 'SHOP00000000001',
      49: '978',
    });
    const res = await client.send(m);
    t.equal(res.mti, '0110');
    t.equal(rc(res), '30');
    // a frame the PSP dialect cannot unpack (a letter inside DE2): answered 0110 with DE39 30
    const bytes = client.codec.pack(auth({ pan: '4111111111119999' }));
    const at = bytes.indexOf('4111111111119999');
    t.ok(at > 0);
    bytes.write('A', at + 5, 'latin1');
    const unmatched = nextEvent<IsoMessage>(client, 'unmatched', 20_000);
    client.sendRaw(encodeFrame(client.framer, bytes));
    const fe = await unmatched;
    t.equal(fe.mti, '0110');
    t.equal(rc(fe), '30');
    t.equal(
      s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in' }), 0),
      before,
      'nothing reached an acquirer',
    );
  });

  t.test('partial capture: 0220 below the authorization → 0230 00, forwarded, plan COMMIT with the final amount', async (t) => {
    const req = auth({ amount: 10_000 });
    t.equal(rc(await client.send(req)), '00');
    const row = (await txnOf(db.pool, req))!;
    const cap = capture(req, 7_500);
    const res = await client.send(cap);
    t.equal(res.mti, '0230');
    t.equal(rc(res), '00');
    const sim = s.sim(row.acquirer!);
    const fwd = sim.journal.find({ direction: 'in', mti: '0220', rrn: row.acq_rrn! });
    t.equal(fwd.length, 1, 'one completion at the authorizing acquirer');
    t.equal(fwd[0]!.amount, '000000007500');
    const plan = await h.ledger.plan(row.id);
    t.equal(plan?.state, 'COMMIT');
    t.equal(plan?.finalAmount, 7_500n);
    const after = (await txnOf(db.pool, req))!;
    t.equal(after.state, 'captured');
    t.equal(after.captured_amount, '7500');
    t.ok((await eventsOf(db.pool, row.id)).includes('captured'));
    // a capture above the authorization is refused, nothing forwarded
    const req2 = auth({ amount: 1_000 });
    t.equal(rc(await client.send(req2)), '00');
    const row2 = (await txnOf(db.pool, req2))!;
    t.equal(rc(await client.send(capture(req2, 1_001))), '13');
    t.equal(s.sim(row2.acquirer!).journal.count({ direction: 'in', mti: '0220', rrn: row2.acq_rrn! }), 0);
    t.equal((await h.ledger.plan(row2.id))?.state, 'HOLD');
    // a full capture commits the authorized amount
    t.equal(rc(await client.send(capture(req2, 1_000))), '00');
    const p2 = await h.ledger.plan(row2.id);
    t.equal(p2?.state, 'COMMIT');
    t.equal(p2?.finalAmount ?? p2?.amount, 1_000n);
    // capture of an unknown authorization
    t.equal(rc(await client.send(capture(auth(), 100))), '25');
  });

  t.test('reversal: 0400 → 0410 00, the reversal reaches the acquirer, plan ROLLBACK', async (t) => {
    const req = auth({ amount: 2_500 });
    t.equal(rc(await client.send(req)), '00');
    const row = (await txnOf(db.pool, req))!;
    const res = await client.send(reversal(req));
    t.equal(res.mti, '0410');
    t.equal(rc(res), '00');
    t.equal((await h.ledger.plan(row.id))?.state, 'ROLLBACK');
    const sim = s.sim(row.acquirer!);
    await eventually(() => sim.journal.count({ direction: 'out', mti: '0410', rrn: row.acq_rrn! }) === 1, 'reversal answered by the acquirer');
    t.equal(sim.journal.count({ direction: 'in', mti: ['0400', '0401'], rrn: row.acq_rrn! }), 1, 'exactly one reversal at the acquirer');
    t.equal((await txnOf(db.pool, req))!.state, 'reversed');
    await eventually(async () => (await eventsOf(db.pool, row.id)).includes('reversal_sent'), 'reversal_sent event');
    // a captured 0200 reversed: the money moves back by a compensating plan
    const fin = auth({ mti: '0200', amount: 900 });
    t.equal(rc(await client.send(fin)), '00');
    const frow = (await txnOf(db.pool, fin))!;
    t.equal(rc(await client.send(reversal(fin))), '00');
    t.equal((await h.ledger.plan(`${frow.id}:reversal`))?.state, 'COMMIT', 'compensating plan committed');
  });

  t.test('orphan reversal: acknowledged and recorded; the original arriving later is declined', async (t) => {
    const orig = auth({ amount: 3_000 });
    const res = await client.send(reversal(orig));
    t.equal(rc(res), '00', 'acknowledged');
    const { rows } = await db.pool.query('select * from switch_orphan_reversal where psp = $1', ['psp-alpha']);
    t.ok(
      rows.some((r: { orig_key: string }) => r.orig_key.startsWith(orig.getString(11)!)),
      'recorded',
    );
    const before = s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0);
    const late = await client.send(orig);
    t.equal(rc(late), '05', 'original declined');
    t.equal(
      s.sims().reduce((n, x) => n + x.journal.count({ direction: 'in', mti: '0100' }), 0),
      before,
      'not sent to an acquirer',
    );
    const row = (await txnOf(db.pool, orig))!;
    t.equal(row.state, 'declined');
    t.equal(await h.ledger.plan(row.id), undefined);
  });

  // Another instance's capture at the acquirer holds the original as 'capturing' (it serializes on the key only
  // within its own process); the claim is taken and given back here with the same store calls that instance
  // would make. It is given back once the flow under test has seen the claim (read the original as 'capturing'),
  // so the flow has to wait for it: an answer before the claim is given back is the 91 (reversal) or 12
  // (capture) of a flow that did not wait.
  const claimElsewhere = async (req: IsoMessage) => {
    const row = (await txnOf(db.pool, req))!;
    const seq = (await h.store.get(row.id))!.seq;
    t.ok(await h.store.transact((tx) => tx.transition({ txnId: row.id, day: row.day, seq: seq + 1, state: 'capturing', ref: 'capture-elsewhere' })));
    return {
      row,
      giveBack: () =>
        h.store.transact((tx) =>
          tx.transition({ txnId: row.id, day: row.day, seq: seq + 2, state: 'approved', ref: 'capture-elsewhere', reason: 'capture declined' }),
        ),
    };
  };
  /** Resolves once a flow has read the original `txnId` while it is claimed ('capturing'): that flow now waits. */
  const claimSeen = (txnId: string) =>
    new Promise<void>((resolve) => {
      const read = h.store.original.bind(h.store);
      h.store.original = async (...args: Parameters<typeof read>) => {
        const r = await read(...args);
        if (r?.id === txnId && r.state === 'capturing') {
          h.store.original = read;
          resolve();
        }
        return r;
      };
      t.teardown(() => void (h.store.original = read));
    });

  const whileClaimed = [
    {
      name: 'reversal while another instance captures: waits for the claim, then reverses',
      amount: 1_800,
      send: (req: IsoMessage) => reversal(req),
      state: 'reversed',
      plan: 'ROLLBACK',
    },
    {
      name: 'capture while another instance captures: waits for the claim, then captures',
      amount: 2_200,
      send: (req: IsoMessage) => capture(req, 2_200),
      state: 'captured',
      plan: 'COMMIT',
    },
  ] as const;
  for (const c of whileClaimed) {
    t.test(c.name, async (t) => {
      const req = auth({ amount: c.amount });
      t.equal(rc(await client.send(req)), '00');
      const { row, giveBack } = await claimElsewhere(req);
      const order: string[] = [];
      const seen = claimSeen(row.id);
      const [res] = await Promise.all([
        client.send(c.send(req)).then((r) => (order.push('answered'), r)),
        seen.then(giveBack).then(() => order.push('given back')),
      ]);
      t.equal(rc(res), '00');
      t.same(order, ['given back', 'answered'], 'answered only once the claim was given back');
      t.equal((await txnOf(db.pool, req))!.state, c.state);
      t.equal((await h.ledger.plan(row.id))?.state, c.plan);
    });
  }

  t.test('reversal while a claim is never given back: 91 after the wait, nothing recorded, then reversed', async (t) => {
    const req = auth({ amount: 1_900 });
    t.equal(rc(await client.send(req)), '00');
    const { row, giveBack } = await claimElsewhere(req);
    const rev = reversal(req);
    const started = Date.now();
    t.equal(rc(await client.send(rev)), '91', 'still in flight');
    t.ok(Date.now() - started >= 5_000, 'waited the longest acquirer answer (3 s) and the margin (2 s)');
    t.equal((await txnOf(db.pool, req))!.state, 'capturing');
    t.equal(await txnOf(db.pool, rev), undefined, 'the reversal is not recorded');
    t.equal((await h.ledger.plan(row.id))?.state, 'HOLD', 'the money did not move');
    await giveBack();
    t.equal(rc(await client.send(reversal(req, { mti: '0401', stan: rev.getString(11)!, dt: rev.getString(7)! }))), '00', 'the repeat reverses');
    t.equal((await txnOf(db.pool, req))!.state, 'reversed');
  });

  t.test('network management: echo 301, sign-on 001, sign-off 002 → 0810 00; unknown code → 12', async (t) => {
    for (const code of ['301', '001', '002']) {
      const res = await client.send(new IsoMessage('0800', { 7: transmissionDateTime(), 11: nextStan(), 70: code }));
      t.equal(res.mti, '0810');
      t.equal(rc(res), '00', `DE70 ${code}`);
      t.equal(res.getString(70), code);
    }
    const res = await client.send(new IsoMessage('0800', { 7: transmissionDateTime(), 11: nextStan(), 70: '999' }));
    t.equal(rc(res), '12');
  });

  t.test('no full PAN in the switch tables (masked PAN and keyed hash only)', async (t) => {
    const tables = [
      'switch_intent',
      'switch_outcome',
      'switch_note',
      'switch_saf',
      'switch_orphan_reversal',
      'ledger_plan',
      'ledger_posting',
      'ledger_journal',
    ];
    for (const table of tables) {
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from ${table} x where x::text ~ '411111[0-9]{6}(1111|0002|0077)'`);
      t.equal(rows[0]!.n, 0, `${table}: no full PAN`);
    }
    const { rows } = await db.pool.query<{ pan_masked: string }>(`select pan_masked from switch_txn where pan_masked is not null limit 1`);
    t.equal(rows[0]!.pan_masked, '411111******1111');
  });

  t.test('ledger check passes', async (t) => {
    const report = await h.ledger.check();
    t.ok(report.ok, JSON.stringify(report.violations));
  });
});
