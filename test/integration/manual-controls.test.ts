/**
 * Manual controls (docs/routing.md, "Manual controls"; docs/admin.md): an operator drains, forces down or forces up
 * an acquirer or a terminal. A control set at one instance is in force at another within its 250 ms poll; routing
 * skips a drained or forced-down route with the reason in the explanation; a terminal's own control wins over its
 * acquirer's; a forced-up route is alive whatever the failure detector says; an expiry lifts it by itself; an
 * acquirer forced down also holds its store-and-forward queue until the control is lifted.
 */
import t from 'tap';
import { decodeExplanation } from '../../src/routing/explanation-codec.js';
import { activateFiles, activeFiles, startTestSwitch, auth, rc, txnOf, eventually, setRules, type TestSwitch } from '../helpers/switch.js';

async function routeAmounts(s: TestSwitch, routes: Record<number, string[]>): Promise<void> {
  const files = activeFiles(s);
  for (const [amount, terminals] of Object.entries(routes)) {
    const a = Number(amount);
    files.routing.rules.unshift({
      id: `amount-${a}`,
      when: { amount: { min: a, max: a } },
      then: { terminals: terminals.map((terminal, i) => ({ terminal, priority: i + 1 })) },
    });
  }
  await activateFiles(s, files, 'test routes');
}

async function routed(
  s: TestSwitch,
  amount: number,
): Promise<{ code: string | undefined; acquirer: string | null; rejected: Array<{ terminal: string; reason: string; detail?: string }>; forcedUp: boolean }> {
  const m = auth({ amount });
  const code = rc(await s.client.send(m));
  const row = await txnOf(s.db.pool, m);
  const { rows } = await s.db.pool.query<{ explanation: string }>('select explanation from switch_intent where txn_id = $1 and attempt = 1', [row!.id]);
  const e = decodeExplanation(rows[0]?.explanation);
  return { code, acquirer: row?.acquirer ?? null, rejected: e?.rejected ?? [], forcedUp: e?.candidates.some((c) => c.forcedUp === true) ?? false };
}

t.test('set at one instance, in force at the other: drain, a terminal forced up over its drained acquirer, an expiry', async (t) => {
  const s1 = await startTestSwitch(t);
  const s2 = await startTestSwitch(t, { db: s1.db });
  await routeAmounts(s1, { 4747: ['a-eur-1', 'b-eur-1'] });
  await eventually(() => s2.h.watcher.version === s1.h.watcher.version, 'the routes at s2 too');
  t.match(await routed(s2, 4747), { code: '00', acquirer: 'acq-a' }, 'first choice: acq-a');

  const t0 = performance.now();
  const drain = await s1.h.controls.set({ targetKind: 'acquirer', target: 'acq-a', state: 'drain', reason: 'bank maintenance 02:00-04:00', actor: 'otto' });
  t.match(drain, { targetKind: 'acquirer', target: 'acq-a', state: 'drain', actor: 'otto', expiresAt: null });
  await eventually(() => s2.h.controls.get('acquirer', 'acq-a')?.id === drain.id, 'the drain at s2');
  t.comment(`drain set at s1 to in force at s2: ${(performance.now() - t0).toFixed(0)} ms (poll every 250 ms)`);
  const drained = await routed(s2, 4747);
  t.match(drained, { code: '00', acquirer: 'acq-b' }, 'acq-a drained: the next route');
  t.match(
    drained.rejected.find((r) => r.terminal === 'a-eur-1'),
    { reason: 'drained', detail: 'acquirer acq-a: bank maintenance 02:00-04:00' },
    'the explanation says why',
  );

  // one terminal of the drained acquirer forced up: the terminal's own control wins
  await s1.h.controls.set({ targetKind: 'terminal', target: 'a-eur-1', state: 'up', reason: 'pilot stays on', actor: 'otto' });
  await eventually(() => s2.h.controls.get('terminal', 'a-eur-1') !== undefined, 'forced up at s2');
  t.match(await routed(s2, 4747), { code: '00', acquirer: 'acq-a', forcedUp: true }, 'a-eur-1 routes again, marked forced up');

  // forced down for a second, then it lapses by itself
  const down = await s1.h.controls.set({
    targetKind: 'terminal',
    target: 'a-eur-1',
    state: 'down',
    reason: 'brief test',
    actor: 'otto',
    expiresAt: new Date(Date.now() + 1000),
  });
  await eventually(() => s2.h.controls.get('terminal', 'a-eur-1')?.id === down.id, 'forced down at s2');
  const forcedDown = await routed(s2, 4747);
  t.match(forcedDown, { acquirer: 'acq-b' });
  t.match(
    forcedDown.rejected.find((r) => r.terminal === 'a-eur-1'),
    { reason: 'forced_down' },
  );
  await s1.h.controls.clear('acquirer', 'acq-a', 'otto');
  await eventually(() => s2.h.controls.get('terminal', 'a-eur-1') === undefined && s2.h.controls.get('acquirer', 'acq-a') === undefined, 'lapsed and lifted');
  t.match(await routed(s2, 4747), { acquirer: 'acq-a', forcedUp: false }, 'back to the first choice');
  const history = await s1.h.controls.history(10);
  t.same(
    history.map((c) => [c.targetKind, c.target, c.state, c.clearedBy]),
    [
      ['terminal', 'a-eur-1', 'down', null],
      ['terminal', 'a-eur-1', 'up', 'otto'],
      ['acquirer', 'acq-a', 'drain', 'otto'],
    ],
    'the table is its own history: replaced and lifted controls are kept, marked cleared',
  );
});

t.test('refused: an unknown target, an empty reason, an expiry in the past', async (t) => {
  const s = await startTestSwitch(t);
  const base = { targetKind: 'acquirer' as const, target: 'acq-a', state: 'drain' as const, reason: 'x', actor: 'otto' };
  await t.rejects(s.h.controls.set({ ...base, target: 'acq-zz' }), { code: 'SW_ERR_CONTROL_INVALID', message: /no acquirer acq-zz in the rules in use/ });
  await t.rejects(s.h.controls.set({ ...base, reason: '  ' }), { code: 'SW_ERR_CONTROL_INVALID', message: /reason/ });
  await t.rejects(s.h.controls.set({ ...base, expiresAt: new Date(Date.now() - 1) }), { code: 'SW_ERR_CONTROL_INVALID', message: /expiry/ });
  t.same(s.h.controls.list(), [], 'nothing set');
});

t.test('an acquirer forced down holds its queued reversal until the control is lifted', async (t) => {
  const s = await startTestSwitch(t);
  await routeAmounts(s, { 4848: ['b-eur-1'] });
  const sim = s.sim('acq-b');
  setRules(sim, [{ when: { amountMin: 4848, amountMax: 4848 }, action: 'drop' }]);
  const m = auth({ amount: 4848 });
  const answer = s.client.send(m);
  await eventually(() => sim.journal.count({ direction: 'in', mti: '0100' }) === 1, 'the request is at acq-b');
  await s.h.controls.set({ targetKind: 'acquirer', target: 'acq-b', state: 'down', reason: 'acq-b is failing', actor: 'otto' });
  t.equal(rc(await answer), '91', 'unanswered: 91, its reversal queued');
  const row = (await txnOf(s.db.pool, m))!;
  const queued = async () =>
    (
      await s.db.pool.query<{ last_error: string | null; done: boolean }>('select last_error, done_at is not null as done from switch_saf where txn_id = $1', [
        row.id,
      ])
    ).rows[0];
  await eventually(async () => (await queued())?.last_error === 'acquirer forced down by an operator', 'held by the control');
  t.equal(sim.journal.count({ direction: 'in', mti: ['0420', '0421'] }), 0, 'no reversal sent while forced down');
  t.equal((await queued())!.done, false);
  await s.h.controls.clear('acquirer', 'acq-b', 'otto');
  await eventually(async () => (await queued())?.done === true, 'delivered once lifted');
  t.equal(sim.journal.count({ direction: 'in', mti: '0420' }), 1, 'one 0420, as never sent before (not a repeat)');
});
