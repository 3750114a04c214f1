/**
 * Sweeper on a real database, with rows written through the store as the flows write them:
 * - recovery of intents a crash left without an answer: answered 'timed out' with one reversal queued (two
 *   sweepers at once), named as the acquirer got it; young intents and answered ones are left alone;
 * - expiry that rolls holds back and does not stall on an approval without a plan;
 * - a capture claim a crash left behind is completed, its advice queued as a repeat.
 */
import t from 'tap';
import pino from 'pino';
import { Sweeper } from '../../src/switch/sweeper.js';
import { PARTIAL_CLAIM, type Intent } from '../../src/switch/store/index.js';
import { newTxnId } from '../../src/switch/ids.js';
import { dayOf } from '../../src/switch/keys.js';
import { startTestSwitch, eventsOf, nextStan, type TestSwitch } from '../helpers/switch.js';

function sweeper(s: TestSwitch, o: { holdAgeMs?: number; staleSentMs?: number; unavailableCode?: string } = {}): Sweeper {
  return new Sweeper(
    s.h.store,
    s.h.ledger,
    s.h.acquirers,
    {
      holdAgeMs: o.holdAgeMs ?? 7 * 86_400_000,
      intervalMs: 60_000,
      staleSentMs: o.staleSentMs ?? 0,
      safExpireMs: 60_000,
      kickSaf: () => undefined,
      ...(o.unavailableCode ? { unavailableCode: o.unavailableCode } : {}),
    },
    pino({ level: 'silent' }),
  );
}

/** An intent as the flows write it, created at `at` (its id carries the time, which is what hold age is judged by). */
function intent(kind: 'auth' | 'financial', amount = 2_000n, at = Date.now()): Intent {
  const id = newTxnId(at);
  const stan = nextStan();
  return {
    txnId: id,
    attempt: 1,
    day: dayOf(at),
    kind,
    psp: 'psp-alpha',
    mti: kind === 'auth' ? '0100' : '0200',
    pspStan: stan,
    pspTerminal: 'TERM0001',
    pspMerchant: 'SHOP00000000001',
    pspDt: '1122120000',
    dupKey: `1122120000|x|${id}`,
    originalId: null,
    originalDay: null,
    amount,
    currency: '978',
    panHash: null,
    panMasked: '411111******1111',
    acquirer: 'acq-a',
    terminal: 'a-eur-1',
    acqStan: '000123',
    acqRrn: `6${stan}00000`.slice(0, 12),
    acqDt: '1122120000',
    acqTid: 'TSENT001',
    acqMid: 'MSENT0000000001',
    rulesVersion: null,
    explanation: null,
  };
}

const payment = { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP00000000001', currency: 978, amount: 2_000n };

t.test('sweeper', async (t) => {
  const s = await startTestSwitch(t);
  // keep the built-in SAF worker from delivering while we look at the queue
  await s.h.saf.stop();
  const { h } = s;

  /** An intent with its approval and hold, as the authorization flow writes them. */
  async function approved(i: Intent): Promise<void> {
    await h.store.intent(i);
    const hold = i.amount! > 0n ? await h.ledger.prepareHold(i.txnId, { ...payment, amount: i.amount! }, undefined, { day: i.day }) : undefined;
    const w = await h.store.answer({
      outcome: { txnId: i.txnId, day: i.day, seq: 1, state: 'approved', code: '00', amount: i.amount },
      ...(hold ? { hold } : {}),
    });
    t.ok(w.written);
  }

  t.test('recovery records the configured unavailable code (responseCodes.unavailable), not a fixed 91', async (t) => {
    const lost = intent('auth');
    await h.store.intent(lost);
    t.equal(await sweeper(s, { unavailableCode: 'Q9' }).recover(), 1);
    t.equal((await h.store.get(lost.txnId))?.response_code, 'Q9');
  });

  t.test('recovery: intents without an answer are timed out and reversed once, as the acquirer got them', async (t) => {
    const lost = [intent('auth'), intent('financial'), intent('auth')];
    for (const i of lost) t.same(await h.store.intent(i), { inserted: true });
    const answered = intent('auth');
    await approved(answered);
    // two instances recover at once: the watermark is held by one of them
    const [a, b] = await Promise.all([sweeper(s).recover(), sweeper(s).recover()]);
    t.equal(a + b, 3, `recovered once in total (${a} + ${b})`);
    for (const i of lost) {
      const row = await h.store.get(i.txnId);
      t.equal(row?.state, 'timed_out');
      t.equal(row?.response_code, '91');
      t.equal(await h.ledger.plan(i.txnId), undefined, 'no money: a hold only commits with an approval');
      const { rows } = await h.pool.query<{ mti: string; fields: Record<string, string> }>('select mti, fields from switch_saf where txn_id = $1', [i.txnId]);
      t.equal(rows.length, 1, 'one reversal queued');
      t.equal(rows[0]!.mti, '0420');
      t.equal(rows[0]!.fields['90']!.slice(0, 4), i.mti, 'DE90 names the original');
      t.equal(rows[0]!.fields['41'], 'TSENT001', 'the terminal id the original was sent with');
      t.equal(rows[0]!.fields['42'], 'MSENT0000000001');
      t.notOk(rows[0]!.fields['2'], 'no PAN in the queue');
      t.same((await eventsOf(h.pool, i.txnId)).slice(-2), ['timed_out', 'reversal_queued']);
    }
    t.equal((await h.store.get(answered.txnId))?.state, 'approved', 'an answered one is left alone');
    t.equal((await h.ledger.plan(answered.txnId))?.state, 'HOLD');
    t.equal(await sweeper(s).recover(), 0, 'nothing left');
    t.ok((await h.ledger.check()).ok);
  });

  t.test('recovery leaves young in-flight requests alone, and takes them once they are old', async (t) => {
    const young = intent('auth');
    await h.store.intent(young);
    t.equal(await sweeper(s, { staleSentMs: 60_000 }).recover(), 0);
    t.equal((await h.store.get(young.txnId))?.state, 'sent');
    t.equal(await sweeper(s).recover(), 1);
    t.equal((await h.store.get(young.txnId))?.state, 'timed_out');
  });

  t.test('an answer written after recovery took the step is left out, hold and all', async (t) => {
    const slow = intent('auth');
    await h.store.intent(slow);
    t.equal(await sweeper(s).recover(), 1);
    const hold = await h.ledger.prepareHold(slow.txnId, payment, undefined, { day: slow.day });
    const w = await h.store.answer({ outcome: { txnId: slow.txnId, day: slow.day, seq: 1, state: 'approved', code: '00', amount: 2_000n }, hold });
    t.equal(w.written, false, 'the late approval is refused');
    t.equal(await h.ledger.plan(slow.txnId), undefined, 'and so is its hold');
    t.equal((await h.store.get(slow.txnId))?.state, 'timed_out');
  });

  t.test('expiry: holds rolled back; an approval without a plan does not stall the sweep', async (t) => {
    // created 100 ms ago, so older than the sweeper's holdAgeMs (1 ms) without waiting
    const noPlan = intent('auth', 0n, Date.now() - 100);
    const held = intent('auth', 2_000n, Date.now() - 100);
    await approved(noPlan);
    await approved(held);
    const n = await sweeper(s, { holdAgeMs: 1 }).expire();
    t.ok(n >= 2, `expired ${n}`);
    t.equal((await h.store.get(noPlan.txnId))?.state, 'expired');
    t.equal((await h.store.get(held.txnId))?.state, 'expired');
    t.equal((await h.ledger.plan(held.txnId))?.state, 'ROLLBACK');
    t.equal(await sweeper(s, { holdAgeMs: 1 }).expire(), 0, 'idempotent');
    t.ok((await h.ledger.check()).ok);
  });

  t.test('a capture claim a crash left behind is completed: committed, answered, its advice queued as a repeat', async (t) => {
    const i = intent('auth');
    await approved(i);
    const captureId = newTxnId();
    await h.store.transact(async (tx) => {
      await tx.intent({
        ...intent('auth'),
        txnId: captureId,
        kind: 'capture',
        mti: '0220',
        originalId: i.txnId,
        originalDay: i.day,
        amount: 1_500n,
        acquirer: 'acq-a',
      });
      await tx.transition({ txnId: i.txnId, day: i.day, seq: 2, state: 'capturing', ref: captureId, amount: 1_500n });
    });
    t.equal((await h.store.get(i.txnId))?.state, 'capturing');
    t.equal(await sweeper(s, { staleSentMs: 60_000 }).completeStaleClaims(), 0, 'a young claim is left alone');
    t.equal(await sweeper(s).completeStaleClaims(), 1);
    const row = await h.store.get(i.txnId);
    t.equal(row?.state, 'captured');
    t.equal(row?.captured_amount, '1500');
    const plan = (await h.ledger.plan(i.txnId))!;
    t.equal(plan.state, 'COMMIT', 'committed once');
    t.equal(plan.finalAmount, 1_500n, 'with the amount of the capture');
    t.equal((await h.store.get(captureId))?.response_code, '00', 'the capture is answered: its repeat replays 00');
    const { rows } = await h.pool.query<{ mti: string; sent: boolean; fields: Record<string, string> }>(
      'select mti, sent, fields from switch_saf where txn_id = $1',
      [i.txnId],
    );
    t.equal(rows.length, 1, 'one advice queued');
    t.equal(rows[0]!.mti, '0220');
    t.equal(rows[0]!.sent, true, 'it may have reached the acquirer: the queue sends it as 0221');
    t.equal(rows[0]!.fields['4'], '000000001500');
    t.equal(rows[0]!.fields['41'], 'TSENT001', 'the terminal id the original was sent with');
    t.equal(await sweeper(s).completeStaleClaims(), 0, 'once');
    t.ok((await h.ledger.check()).ok);
  });

  t.test('a partial capture claim left behind is completed as one: its own plan, the rest still held and open', async (t) => {
    const i = intent('auth', 5_000n);
    await approved(i);
    const captureId = newTxnId();
    await h.store.transact(async (tx) => {
      await tx.intent({ ...intent('auth'), txnId: captureId, kind: 'capture', mti: '0220', originalId: i.txnId, originalDay: i.day, amount: 1_200n });
      await tx.transition({ txnId: i.txnId, day: i.day, seq: 2, state: 'capturing', ref: captureId, amount: 1_200n, reason: PARTIAL_CLAIM });
    });
    t.equal(await sweeper(s).completeStaleClaims(), 1);
    const row = await h.store.get(i.txnId);
    t.equal(row?.state, 'approved', 'the authorization stays open');
    t.equal(row?.approved_amount, '3800', 'at what is left');
    const hold = (await h.ledger.plan(i.txnId))!;
    t.equal(hold.state, 'HOLD');
    t.equal(hold.finalAmount, 3_800n, 'the hold brought down by the capture');
    const part = (await h.ledger.plan(captureId))!;
    t.equal(part.kind, 'capture');
    t.equal(part.state, 'COMMIT');
    t.equal(part.amount, 1_200n);
    t.equal((await h.store.get(captureId))?.response_code, '00');
    const { rows } = await h.pool.query<{ txn_id: string; fields: Record<string, string> }>('select txn_id, fields from switch_saf where txn_id = $1', [
      captureId,
    ]);
    t.equal(rows.length, 1, "its advice, under the capture's own id");
    t.equal(rows[0]!.fields['4'], '000000001200');
    t.equal(await sweeper(s).completeStaleClaims(), 0, 'once');
    t.ok((await h.ledger.check()).ok);
  });
});
