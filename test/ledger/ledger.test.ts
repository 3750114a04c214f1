import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { feeSchedule, loadFeeSchedule, roundDiv } from '../../src/ledger/fees.js';
import { protectPan } from '../../src/ledger/pan.js';
import { hashOf, postingsForHash } from '../../src/ledger/validate.js';

async function setup(t: Parameters<typeof testDb>[0], opts: { maxWaitMs?: number } = {}) {
  const db = await testDb(t);
  const ledger = await createLedger({ pool: db.pool, fees: loadFeeSchedule(), ...opts });
  t.teardown(() => ledger.close());
  return { db, ledger };
}

const pay = (amount: bigint, over: Partial<{ acquirer: string; terminal: string; merchant: string; currency: number }> = {}) => ({
  acquirer: 'acq-a',
  terminal: 'a-eur-2',
  merchant: 'm1',
  currency: 978,
  amount,
  ...over,
});

async function bal(l: Ledger, code: string) {
  const b = await l.balances(code);
  return { posted: b.posted, min: b.minAvailable, max: b.maxAvailable };
}

t.test('fee schedule: percent + fixed, stated rounding, lookup order, integer only', async (t) => {
  const f = loadFeeSchedule();
  t.equal(f.fee('acq-a', 'a-eur-2', 10_000n), 125n, '1.2% + 5');
  t.equal(f.fee('acq-a', 'OTHER', 10_000n), 160n, 'acquirer default 1.5% + 10');
  t.equal(f.fee('acq-x', 'T', 10_000n), 0n, 'schedule default');
  t.equal(f.fee('acq-a', 'a-eur-2', 3n), 3n, 'capped at the amount');
  t.equal(roundDiv(5n, 10n, 'half-up'), 1n);
  t.equal(roundDiv(5n, 10n, 'half-even'), 0n);
  t.equal(roundDiv(15n, 10n, 'half-even'), 2n);
  t.equal(roundDiv(11n, 10n, 'up'), 2n);
  t.equal(roundDiv(19n, 10n, 'down'), 1n);
  t.throws(() => feeSchedule({ version: 1, rounding: 'half-up', default: { percent: 1.5, fixed: 0 } }), { code: 'SW_ERR_LEDGER_FEES_INVALID' });
  t.throws(() => feeSchedule({ version: 1, rounding: 'nearest', default: { percent: '1', fixed: 0 } }), {
    code: 'SW_ERR_LEDGER_FEES_INVALID',
    message: /rounding/,
  });
  t.throws(() => feeSchedule({ version: 1, rounding: 'up', default: { percent: '1', fixed: 0 }, extra: 1 }), { code: 'SW_ERR_LEDGER_FEES_INVALID' });
});

t.test('payment hold, full capture: postings, fees, balances, check', async (t) => {
  const { ledger } = await setup(t);
  const pan = protectPan('4111111111111111', 'test-key');
  const h = await ledger.hold('tx-1', pay(10_000n), pan);
  t.same(h, { planId: 'tx-1', state: 'HOLD', batchId: 1, amount: 10_000n, fee: 125n });
  t.same(await bal(ledger, 'merchant:m1:978'), { posted: 0n, min: 0n, max: 9_875n }, 'net of the plan: +10000 -125');
  t.same(await bal(ledger, 'acquirer:acq-a:978'), { posted: 0n, min: -10_000n, max: 0n });
  t.same(await bal(ledger, 'fees:978'), { posted: 0n, min: 0n, max: 125n });
  const c = await ledger.commit('tx-1');
  t.same(c, { planId: 'tx-1', state: 'COMMIT', amount: 10_000n, fee: 125n });
  t.same(await bal(ledger, 'merchant:m1:978'), { posted: 9_875n, min: 9_875n, max: 9_875n });
  t.same(await bal(ledger, 'acquirer:acq-a:978'), { posted: -10_000n, min: -10_000n, max: -10_000n });
  t.same(await bal(ledger, 'fees:978'), { posted: 125n, min: 125n, max: 125n });
  const view = await ledger.plan('tx-1');
  t.equal(view?.panMasked, '411111******1111');
  t.equal(view?.state, 'COMMIT');
  t.same((await ledger.check()).violations, []);
});

t.test('partial capture: revert batch + final batch, fees recomputed on the final amount', async (t) => {
  const { ledger } = await setup(t);
  await ledger.hold('tx-p', pay(10_000n));
  const c = await ledger.commit('tx-p', { amount: 4_000n });
  t.same(c, { planId: 'tx-p', state: 'COMMIT', amount: 4_000n, fee: 53n }); // 48 + 5
  const v = await ledger.plan('tx-p');
  t.equal(v?.lastBatch, 3, 'hold, revert, final');
  t.same(
    v?.postings.filter((p) => p.batchId === 2).map((p) => p.amount),
    [10_000n, 125n],
  );
  t.same(
    v?.postings.filter((p) => p.batchId === 3).map((p) => p.amount),
    [4_000n, 53n],
  );
  t.same(await bal(ledger, 'merchant:m1:978'), { posted: 3_947n, min: 3_947n, max: 3_947n });
  t.same(await bal(ledger, 'acquirer:acq-a:978'), { posted: -4_000n, min: -4_000n, max: -4_000n });
  // replay returns the same answer; a different final amount is a typed error
  t.same(await ledger.commit('tx-p', { amount: 4_000n }), c);
  await t.rejects(ledger.commit('tx-p', { amount: 5_000n }), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await t.rejects(ledger.commit('tx-p'), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await t.rejects(ledger.rollback('tx-p'), { code: 'SW_ERR_LEDGER_PLAN_STATE' });
  // capture of zero = nothing moves
  await ledger.hold('tx-z', pay(500n, { merchant: 'm2' }));
  t.same(await ledger.commit('tx-z', { amount: 0n }), { planId: 'tx-z', state: 'COMMIT', amount: 0n, fee: 0n });
  t.same(await bal(ledger, 'merchant:m2:978'), { posted: 0n, min: 0n, max: 0n });
  await ledger.hold('tx-o', pay(500n));
  await t.rejects(ledger.commit('tx-o', { amount: 501n }), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  t.same((await ledger.check()).violations, []);
});

t.test('rollback clears pending only; idempotency of every call', async (t) => {
  const { ledger } = await setup(t);
  const h = await ledger.hold('tx-r', pay(2_000n));
  t.same(await ledger.hold('tx-r', pay(2_000n)), h, 'hold replay = same answer');
  await t.rejects(ledger.hold('tx-r', pay(2_001n)), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await t.rejects(ledger.hold('tx-r', pay(2_000n), { panMasked: '411111******1111' }), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  const r = await ledger.rollback('tx-r');
  t.same(r, { planId: 'tx-r', state: 'ROLLBACK' });
  t.same(await ledger.rollback('tx-r'), r);
  await t.rejects(ledger.commit('tx-r'), { code: 'SW_ERR_LEDGER_PLAN_STATE' });
  t.same(await ledger.hold('tx-r', pay(2_000n)), h, 'hold replay after rollback still the original answer');
  for (const code of ['merchant:m1:978', 'acquirer:acq-a:978', 'fees:978']) t.same(await bal(ledger, code), { posted: 0n, min: 0n, max: 0n });
  await t.rejects(ledger.commit('nope'), { code: 'SW_ERR_LEDGER_PLAN_NOT_FOUND' });
  await t.rejects(ledger.rollback('nope'), { code: 'SW_ERR_LEDGER_PLAN_NOT_FOUND' });
  t.same((await ledger.check()).violations, []);
});

t.test('generic postings: batches, order, no-negative accounts, rejected replay stays rejected', async (t) => {
  const { ledger } = await setup(t);
  await ledger.ensureAccount({ code: 'wallet', kind: 'system', currency: 840, noNegative: true });
  await ledger.ensureAccount({ code: 'bank', kind: 'system', currency: 840 });
  await ledger.ensureAccount({ code: 'eur', kind: 'system', currency: 978 });
  await t.rejects(ledger.ensureAccount({ code: 'bank', kind: 'merchant', currency: 840 }), { code: 'SW_ERR_LEDGER_ACCOUNT_CONFLICT' });
  const out = (amount: bigint) => [{ from: 'wallet', to: 'bank', amount, currency: 840 }];
  // wallet is empty: spending is refused, and stays refused on replay even after it is funded
  await t.rejects(ledger.hold('spend-1', out(50n)), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' });
  await ledger.hold('fund', [{ from: 'bank', to: 'wallet', amount: 100n, currency: 840 }]);
  await ledger.commit('fund');
  await t.rejects(ledger.hold('spend-1', out(50n)), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'rejected replay stays rejected');
  await t.rejects(ledger.hold('spend-1', out(40n)), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await ledger.hold('spend-2', out(60n));
  await t.rejects(ledger.hold('spend-3', out(60n)), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'pending debits count');
  await t.rejects(ledger.addBatch('spend-2', 3, out(1n)), { code: 'SW_ERR_LEDGER_BATCH_ORDER' });
  await t.rejects(ledger.addBatch('spend-2', 2, out(41n)), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' });
  await t.rejects(ledger.addBatch('spend-2', 2, out(41n)), { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' }, 'stays rejected');
  t.same(await ledger.addBatch('spend-2', 2, [{ from: 'bank', to: 'wallet', amount: 10n, currency: 840 }]), { planId: 'spend-2', batchId: 2 });
  await t.rejects(ledger.addBatch('spend-2', 2, out(1n)), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  await t.rejects(ledger.addBatch('spend-2', 2, out(41n)), { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' }, 'the rejected batch is never accepted');
  t.same(await ledger.addBatch('spend-2', 2, [{ from: 'bank', to: 'wallet', amount: 10n, currency: 840 }]), { planId: 'spend-2', batchId: 2 });
  t.same(await bal(ledger, 'wallet'), { posted: 100n, min: 50n, max: 100n });
  await ledger.commit('spend-2', { postings: out(30n) });
  t.same(await bal(ledger, 'wallet'), { posted: 70n, min: 70n, max: 70n });
  await t.rejects(ledger.addBatch('spend-2', 5, out(1n)), { code: 'SW_ERR_LEDGER_PLAN_STATE' });
  // bad input: typed errors, nothing written
  await t.rejects(ledger.hold('x', [{ from: 'wallet', to: 'eur', amount: 1n, currency: 840 }]), { code: 'SW_ERR_LEDGER_CURRENCY_MISMATCH' });
  await t.rejects(ledger.hold('x', [{ from: 'wallet', to: 'nobody', amount: 1n, currency: 840 }]), { code: 'SW_ERR_LEDGER_ACCOUNT_NOT_FOUND' });
  await t.rejects(ledger.hold('x', [{ from: 'wallet', to: 'bank', amount: 0n, currency: 840 }]), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  await t.rejects(ledger.hold('x', [{ from: 'wallet', to: 'bank', amount: 1 as unknown as bigint, currency: 840 }]), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  await t.rejects(ledger.hold('x', []), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  await t.rejects(ledger.hold('', out(1n)), { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  await t.rejects(ledger.hold('x', pay(1n, { currency: 1 })), { code: 'SW_ERR_LEDGER_UNKNOWN_CURRENCY' });
  await t.rejects(ledger.hold('x', pay(1n, { merchant: 'bad:merchant' })), { code: 'SW_ERR_LEDGER_BAD_REQUEST' }, 'a colon would split the account code');
  await t.rejects(ledger.hold('x', pay(1n, { merchant: ' padded' })), { code: 'SW_ERR_LEDGER_BAD_REQUEST' }, 'no space at either end');
  const panErr = await ledger.hold('x', pay(1n), { panMasked: '4111111111111111' }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  t.equal(panErr?.code, 'SW_ERR_LEDGER_PAN_FORBIDDEN');
  t.notOk(panErr?.message.includes('4111111111111111'), 'the error does not echo the PAN');
  t.equal(await ledger.plan('x'), undefined);
  // a merchant id with a space inside (DE42 is ans 15, and rules/merchants.yaml allows it) is a valid owner
  t.same(
    await ledger.hold('spaced', pay(500n, { merchant: 'MY SHOP 01' })),
    { planId: 'spaced', state: 'HOLD', batchId: 1, amount: 500n, fee: 11n },
    'fee 1.2% + 5',
  );
  t.ok(await ledger.balances('merchant:MY SHOP 01:978'));
  t.same((await ledger.check()).violations, []);
});

t.test('one bad request in a group-committed batch fails alone', async (t) => {
  const { ledger } = await setup(t, { maxWaitMs: 50 });
  await ledger.ensureAccount({ code: 'w', kind: 'system', currency: 978, noNegative: true });
  await ledger.ensureAccount({ code: 'b', kind: 'system', currency: 978 });
  // warm the account cache so the calls below reach the committer in call order
  await ledger.hold('warm', pay(1n));
  await t.rejects(ledger.hold('warm-w', [{ from: 'w', to: 'b', amount: 1n, currency: 978 }]));
  const ops = [
    ledger.hold('ok-1', pay(100n)),
    ledger.hold('bad-1', [{ from: 'w', to: 'b', amount: 1n, currency: 978 }]),
    ledger.commit('missing'),
    ledger.hold('ok-2', pay(200n)),
    ledger.hold('ok-2', pay(200n)),
    ledger.hold('ok-2', pay(300n)),
  ];
  const out = await Promise.allSettled(ops);
  t.same(
    out.map((o) => o.status),
    ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled', 'rejected'],
  );
  t.match((out[1] as PromiseRejectedResult).reason, { code: 'SW_ERR_LEDGER_INSUFFICIENT_FUNDS' });
  t.match((out[2] as PromiseRejectedResult).reason, { code: 'SW_ERR_LEDGER_PLAN_NOT_FOUND' });
  t.match((out[5] as PromiseRejectedResult).reason, { code: 'SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH' });
  t.ok(ledger.stats().maxBatchSeen >= 2, 'they shared a transaction');
  // hold and commit of one plan in the same batch
  const hp = ledger.hold('same-batch', pay(700n));
  await new Promise((r) => setImmediate(r)); // the hold is queued (accounts cached), the commit joins the same batch
  const before = ledger.stats().batches;
  const [h, c] = await Promise.all([hp, ledger.commit('same-batch')]);
  t.equal(ledger.stats().batches - before, 1, 'one transaction');
  t.equal(h.state, 'HOLD');
  t.equal(c.state, 'COMMIT');
  t.same((await ledger.check()).violations, []);
});

t.test('plan ids with array-literal metacharacters round-trip through the multi-row statements', async (t) => {
  const { ledger } = await setup(t, { maxWaitMs: 20 });
  const ids = ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', "h'i", 'x\\"y'];
  const held = await Promise.all(ids.map((id) => ledger.hold(id, pay(100n))));
  t.same(
    held.map((h) => h.planId),
    ids,
  );
  await Promise.all(ids.map((id) => ledger.commit(id)));
  for (const id of ids) t.equal((await ledger.plan(id))?.state, 'COMMIT', id);
  t.same((await ledger.check()).violations, []);
});

t.test('request hashes are stable: a retry after an upgrade still matches the hash its journal step holds', async (t) => {
  const ps = [
    { from: 'merchant:m1:978', to: 'fees:978', amount: 125n, currency: 978 },
    { from: 'acquirer:acq-a:978', to: 'merchant:m1:978', amount: 10_000n, currency: 978 },
  ];
  t.equal(hashOf(['batch', 'p-1', 2, postingsForHash(ps)]), '\\x2a750506d5c577f157d4920369c9bb7c');
});
