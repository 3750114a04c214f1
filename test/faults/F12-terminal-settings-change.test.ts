/**
 * F12 (docs/faults.md): the risk team changes a terminal's DE41/DE42 at the acquirer (a new rules version)
 * between an authorization and its capture or reversal. The capture, the PSP's reversal and the reversal the
 * switch owes for a timeout all carry the DE41/DE42 (and go to the acquirer) the original was sent with: they
 * are stored with its intent, not looked up in the rules in force.
 */
import t from 'tap';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventually, type TestSwitch } from '../helpers/switch.js';

type Req = ReturnType<typeof auth>;

/** Activates a rules version where every terminal has new ids at its acquirer; resolves once in use. */
async function renumberTerminals(s: TestSwitch, prefix: string): Promise<void> {
  const files = JSON.parse(JSON.stringify((await s.h.versions.activeRuleSet()).files)) as Awaited<
    ReturnType<TestSwitch['h']['versions']['activeRuleSet']>
  >['files'];
  for (const [i, term] of files.terminals.terminals.entries()) {
    term.terminal_id = `${prefix}${String(i).padStart(4, '0')}`;
    term.merchant_id = `${prefix}MERCHANT${String(i).padStart(3, '0')}`;
  }
  const v = await s.h.versions.create(files, { author: 'test', comment: 'F12: terminals renumbered' });
  await s.h.versions.activate(v.version, { actor: 'test' });
  await eventually(() => s.h.engine.current().version === v.version, 'the new version in use');
}

t.test('F12: capture and reversals keep the ids the original was sent with', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 800 } });
  for (const sim of s.sims())
    sim.setBehaviour({
      rules: [
        { when: { panSuffix: '0012' }, action: 'drop' },
        { when: { panSuffix: '0002' }, respond: '05' },
      ],
    });
  const toCapture = auth({ amount: 1_200 });
  const toReverse = auth({ amount: 1_201 });
  const timesOut = auth({ pan: '4111111111110012', amount: 1_202 });
  t.equal(rc(await s.client.send(toCapture)), '00');
  t.equal(rc(await s.client.send(toReverse)), '00');
  const sent = new Map<Req, { acquirer: string; terminal: string; merchant: string; rrn: string }>();
  for (const req of [toCapture, toReverse]) {
    const row = (await txnOf(s.db.pool, req))!;
    const [e] = s.sim(row.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: row.acq_rrn! });
    sent.set(req, { acquirer: row.acquirer!, terminal: e!.terminal!, merchant: e!.merchant!, rrn: row.acq_rrn! });
  }
  t.notOk(sent.get(toCapture)!.terminal.startsWith('NEWT'), 'sent with the ids of the first version');

  await renumberTerminals(s, 'NEWT');
  // the next authorization is sent with the new ids: the change did take effect
  const fresh = auth({ amount: 1_203 });
  t.equal(rc(await s.client.send(fresh)), '00');
  const freshRow = (await txnOf(s.db.pool, fresh))!;
  t.match(
    s.sim(freshRow.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: freshRow.acq_rrn! })[0]!.terminal,
    /^NEWT/,
    'new authorizations use the new ids',
  );

  t.test('capture after the change', async (t) => {
    const o = sent.get(toCapture)!;
    t.equal(rc(await s.client.send(capture(toCapture, 1_200))), '00');
    const [e] = s.sim(o.acquirer).journal.find({ direction: 'in', mti: '0220', rrn: o.rrn });
    t.ok(e, 'the capture went to the acquirer of the original');
    t.equal(e!.terminal, o.terminal, 'with its DE41');
    t.equal(e!.merchant, o.merchant, 'and its DE42');
  });

  t.test("the PSP's reversal after the change", async (t) => {
    const o = sent.get(toReverse)!;
    t.equal(rc(await s.client.send(reversal(toReverse))), '00');
    const e = await eventually(() => s.sim(o.acquirer).journal.find({ direction: 'in', mti: '0400', rrn: o.rrn })[0], 'the reversal at the acquirer');
    t.equal(e.terminal, o.terminal, 'with its DE41');
    t.equal(e.merchant, o.merchant, 'and its DE42');
  });

  t.test('the reversal owed for a timeout, queued before the change and sent after it', async (t) => {
    // the acquirer does not answer 0420 yet: the entry is repeated across the rules change
    for (const sim of s.sims())
      sim.setBehaviour({
        rules: [
          { when: { panSuffix: '0012' }, action: 'drop' },
          { when: { mti: ['0420', '0421'] }, respond: '91' },
        ],
      });
    t.equal(rc(await s.client.send(timesOut)), '91');
    const row = (await txnOf(s.db.pool, timesOut))!;
    const [orig] = s.sim(row.acquirer!).journal.find({ direction: 'in', mti: '0100', rrn: row.acq_rrn! });
    t.match(orig!.terminal, /^NEWT/, 'this one was sent with the second version');
    await renumberTerminals(s, 'THRD'); // the third version
    for (const sim of s.sims()) sim.setBehaviour({ rules: [] });
    await eventually(async () => (await txnOf(s.db.pool, timesOut))!.state === 'reversed', 'reversed');
    const all = s.sim(row.acquirer!).journal.find({ direction: 'in', mti: ['0420', '0421'], rrn: row.acq_rrn! });
    t.ok(all.length >= 1);
    t.ok(
      all.every((e) => e.terminal === orig!.terminal && e.merchant === orig!.merchant),
      'every attempt with the ids the original was sent with',
    );
  });

  t.test('ledger check', async (t) => {
    t.ok((await s.h.ledger.check()).ok);
  });
});
