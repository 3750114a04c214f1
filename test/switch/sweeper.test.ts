/**
 * Sweeper on a real database: recovery of transactions a crash left 'sent' (money released whether the
 * crash came before or after the hold or a 0200's commit, reversal queued once, two sweepers at once), and
 * expiry that does not stall on an approval without a plan.
 */
import t from 'tap';
import pino from 'pino';
import { Sweeper } from '../../src/switch/sweeper.js';
import type { NewTxn } from '../../src/switch/store.js';
import { newTxnId } from '../../src/switch/ids.js';
import { startTestSwitch, eventsOf, nextStan, type TestSwitch } from '../helpers/switch.js';

function sweeper(s: TestSwitch, o: { holdAgeMs?: number; staleSentMs?: number } = {}): Sweeper {
  const sw = new Sweeper(s.h.pool, s.h.ledger, s.h.acquirers, {
    holdAgeMs: o.holdAgeMs ?? 7 * 86_400_000, intervalMs: 60_000, staleSentMs: o.staleSentMs ?? 0, safExpireMs: 60_000, kickSaf: () => undefined,
  }, pino({ level: 'silent' }));
  sw.terminalIds = s.h.sweeper.terminalIds; // as the runtime wires it: DE41/DE42 at the acquirer from the rules
  return sw;
}

function row(kind: 'auth' | 'financial', state: 'sent' | 'approved'): NewTxn {
  const id = newTxnId();
  const stan = nextStan();
  return {
    id, kind, psp: 'psp-alpha', mti: kind === 'auth' ? '0100' : '0200', psp_stan: stan, psp_terminal: 'TERM0001', psp_merchant: 'SHOP00000000001',
    psp_dt: '1122120000', dup_key: `x|${id}`, original_id: null, state, amount: 2_000n, currency: '978', pan_hash: null, pan_masked: '411111******1111',
    merchant: 'SHOP00000000001', acquirer: 'acq-a', terminal: 'a-eur-1', acq_stan: '000123', acq_rrn: `6${stan}00000`.slice(0, 12), acq_dt: '1122120000',
    response_code: null, auth_code: null, rules_version: null, explanation: null,
  };
}

const payment = { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP00000000001', currency: 978, amount: 2_000n };

t.test('sweeper', async (t) => {
  const s = await startTestSwitch(t);
  // keep the built-in SAF worker from delivering while we look at the queue
  await s.h.saf.stop();
  const { h } = s;

  t.test('recovery: a crash before the hold, after the hold, after a 0200 commit → money released, one reversal queued', async (t) => {
    const before = row('auth', 'sent');
    const afterHold = row('auth', 'sent');
    const afterCommit = row('financial', 'sent');
    for (const r of [before, afterHold, afterCommit]) await h.store.write({ insert: r, events: [{ txn_id: r.id, event: 'sent' }] });
    await h.ledger.hold(afterHold.id, payment);
    await h.ledger.hold(afterCommit.id, payment);
    await h.ledger.commit(afterCommit.id);
    // two instances recover at once: each row is claimed by one of them
    const [a, b] = await Promise.all([sweeper(s).recover(), sweeper(s).recover()]);
    t.equal(a + b, 3, `recovered once in total (${a} + ${b})`);
    t.equal(await h.ledger.plan(before.id), undefined);
    t.equal((await h.ledger.plan(afterHold.id))?.state, 'ROLLBACK', 'hold rolled back');
    t.equal((await h.ledger.plan(`${afterCommit.id}:reversal`))?.state, 'COMMIT', 'committed money moved back');
    for (const r of [before, afterHold, afterCommit]) {
      t.equal((await h.store.get(r.id))?.state, 'timed_out');
      const { rows } = await h.pool.query<{ mti: string; fields: Record<string, string> }>('select mti, fields from switch_saf where txn_id = $1', [r.id]);
      t.equal(rows.length, 1, 'one reversal queued');
      t.equal(rows[0]!.mti, '0420');
      t.equal(rows[0]!.fields['90']!.slice(0, 4), r.mti, 'DE90 names the original');
      t.equal(rows[0]!.fields['41'], 'TA000001', 'the terminal id at the acquirer');
      t.notOk(rows[0]!.fields['2'], 'no PAN in the queue');
      t.same((await eventsOf(h.pool, r.id)).slice(-2), ['timed_out', 'reversal_queued']);
    }
    t.equal(await sweeper(s).recover(), 0, 'nothing left');
    t.ok((await h.ledger.check()).ok);
  });

  t.test('recovery leaves young in-flight requests alone', async (t) => {
    const young = row('auth', 'sent');
    await h.store.write({ insert: young, events: [] });
    t.equal(await sweeper(s, { staleSentMs: 60_000 }).recover(), 0);
    t.equal((await h.store.get(young.id))?.state, 'sent');
  });

  t.test('expiry: an approval without a plan does not stall the sweep', async (t) => {
    const noPlan = row('auth', 'approved');
    const held = row('auth', 'approved');
    await h.store.write({ insert: noPlan, events: [] });
    await h.store.write({ insert: held, events: [] });
    await h.ledger.hold(held.id, payment);
    await new Promise((r) => setTimeout(r, 20));
    const n = await sweeper(s, { holdAgeMs: 1 }).expire();
    t.ok(n >= 2, `expired ${n}`);
    t.equal((await h.store.get(noPlan.id))?.state, 'expired');
    t.equal((await h.store.get(held.id))?.state, 'expired');
    t.equal((await h.ledger.plan(held.id))?.state, 'ROLLBACK');
    t.equal(await sweeper(s, { holdAgeMs: 1 }).expire(), 0, 'idempotent');
    t.ok((await h.ledger.check()).ok);
  });
});
