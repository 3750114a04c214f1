/**
 * A request this switch refuses to send says nothing about the acquirer (issue 16, finding 1): a duplicate key on
 * the link, a message it cannot pack, the acquirer's own breaker open. None may count as a failure for the
 * failure detector or for the breaker; before, the first two counted as fast failures and tripped the breaker,
 * and the breaker-open refusal left the detector's call running until its deadline, when it counted as a timeout.
 * A real failure (a timeout) still counts, so the counts below can move.
 */
import t from 'tap';
import { DetectorBase } from '../../src/routing/detector.js';
import { startTestSwitch, auth } from '../helpers/switch.js';

t.test('local refusals are counted by neither the detector nor the breaker; a timeout is', async (t) => {
  const slowMs = 300;
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: slowMs } });
  const acq = s.h.acquirers.all()[0]!.def.id;
  s.sim(acq).setBehaviour({
    rules: [
      { when: { panSuffix: '0014' }, delayMs: 150 },
      { when: { panSuffix: '0015' }, action: 'drop' },
    ],
  });
  const request = (m: ReturnType<typeof auth>) => s.h.acquirers.request(acq, m, [acq]);
  const code = async (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'answered',
      (e: { code?: string }) => e.code ?? 'error',
    );

  const detector = s.h.detector;
  if (!(detector instanceof DetectorBase)) throw new Error('the test switch runs the in-process detector');
  const first = auth({ pan: '4111119900010014' });
  const inFlight = request(first);
  t.equal(await code(request(first)), 'SW_ERR_LINK_DUPLICATE_KEY', 'the same key again while the first is in flight');
  t.equal(detector.runningCount, 1, 'the refused copy left no detector call running: only the first is');
  t.equal(await code(inFlight), 'answered');
  t.equal(await code(request(auth({ amount: 1000 }).set(4, 'ABCDEFGHIJKL'))), 'SW_ERR_LINK_PACK_FAILED', 'an amount that is not digits');
  const breaker = s.h.breakers.breaker(acq, async () => undefined);
  breaker.open();
  t.equal(await code(request(auth())), 'SW_ERR_BREAKER_OPEN');
  breaker.close();
  // A refused call still registered with the detector would count as a timeout at its deadline (slowMs from now).
  // No waiting for that deadline: no call is left running, so none can count later.
  t.equal(detector.runningCount, 0, 'no detector call left running after the refusals');
  const health = s.h.detector.health(acq);
  t.equal(health.recentFast, 0, 'no fast failure counted');
  t.equal(health.recentRate, 0, 'no failure counted');
  t.equal(breaker.stats.failures, 0, 'the breaker counted no failure');

  t.equal(await code(request(auth({ pan: '4111119900010015' }))), 'SW_ERR_LINK_TIMEOUT', 'a real failure');
  t.ok(s.h.detector.health(acq).recentRate > 0, 'the timeout is counted by the detector');
  t.equal(breaker.stats.failures, 1, 'and by the breaker');
});
