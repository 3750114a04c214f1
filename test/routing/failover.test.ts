import t from 'tap';
import { dispatchWithFailover, classifyAttemptError } from '../../src/routing/failover.js';
import { MemoryFailureDetector } from '../../src/routing/detector.js';
import { SwitchError } from '../../src/errors.js';
import type { RouteChoice } from '../../src/routing/types.js';

const route = (n: number): RouteChoice => ({ terminal: `t${n}`, acquirer: `acq-${n}`, terminalId: `T000000${n}`, merchantId: `M0000000000000${n}` });
const ROUTES = [route(1), route(2), route(3)];
const err = (code: string): Error => Object.assign(new Error(code), { code });

t.test('classification', async (t) => {
  t.equal(classifyAttemptError(new SwitchError('SW_ERR_LINK_NOT_READY', { link: 'a' })), 'fast');
  t.equal(classifyAttemptError(err('ECONNREFUSED')), 'fast');
  t.equal(classifyAttemptError(err('EOPENBREAKER')), 'unsent');
  t.equal(classifyAttemptError(new SwitchError('SW_ERR_LINK_INFLIGHT_LIMIT', { link: 'a', max: 1 })), 'unsent');
  t.equal(classifyAttemptError(new SwitchError('SW_ERR_LINK_TIMEOUT', { link: 'a', mti: '0100', timeoutMs: 1 })), 'timeout');
  t.equal(classifyAttemptError(new SwitchError('SW_ERR_LINK_CONNECTION_LOST', { link: 'a' })), 'error');
  t.equal(classifyAttemptError('weird'), 'error');
});

t.test('fast failures move to the next route and are counted; success stops', async (t) => {
  const d = new MemoryFailureDetector({ fastFailures: 1 });
  const tried: string[] = [];
  const r = await dispatchWithFailover(
    ROUTES,
    async (x) => {
      tried.push(x.terminal);
      if (x.terminal === 't1') throw err('ECONNREFUSED');
      if (x.terminal === 't2') throw err('EOPENBREAKER');
      return 'approved';
    },
    { detector: d },
  );
  t.same(tried, ['t1', 't2', 't3']);
  t.ok(r.ok);
  if (r.ok) t.same([r.route.terminal, r.value], ['t3', 'approved']);
  t.same(r.attempts.map((a) => [a.terminal, a.outcome, a.code]), [['t1', 'fast', 'ECONNREFUSED'], ['t2', 'unsent', 'EOPENBREAKER'], ['t3', 'ok', undefined]]);
  t.notOk(d.isAlive('acq-1'), 'refused connection counted at once');
  t.equal(d.health('acq-2').recentVolume, 0, 'breaker-open attempt not counted');
  t.equal(d.health('acq-3').recentVolume, 1);
});

t.test('a timeout or an in-flight error stops (the acquirer may have approved)', async (t) => {
  for (const [e, kind] of [
    [new SwitchError('SW_ERR_LINK_TIMEOUT', { link: 'a', mti: '0100', timeoutMs: 1 }), 'timeout'],
    [new SwitchError('SW_ERR_LINK_CONNECTION_LOST', { link: 'a' }), 'error'],
  ] as const) {
    const tried: string[] = [];
    const r = await dispatchWithFailover(ROUTES, async (x) => {
      tried.push(x.terminal);
      throw e;
    });
    t.same(tried, ['t1']);
    t.notOk(r.ok);
    if (!r.ok) {
      t.equal(r.kind, kind);
      t.equal(r.route?.terminal, 't1');
    }
  }
});

t.test('all routes failing fast: exhausted; maxAttempts bounds the tries', async (t) => {
  const r = await dispatchWithFailover(ROUTES, async () => Promise.reject(err('ECONNREFUSED')), { maxAttempts: 2 });
  t.notOk(r.ok);
  if (!r.ok) {
    t.equal(r.kind, 'exhausted');
    t.equal(r.attempts.length, 2);
  }
  const e = await dispatchWithFailover([], async () => 1);
  t.same([e.ok, e.ok ? null : e.kind], [false, 'exhausted']);
});
