import t from 'tap';
import { LinkBreakers, type BreakerState } from '../../src/routing/breakers.js';
import { SuccessRateTracker } from '../../src/routing/success-rate.js';
import { until } from '../helpers/wait.js';

t.test('breaker: volume threshold, open, half-open probe, close; state readable', async (t) => {
  const changes: [string, BreakerState][] = [];
  const br = new LinkBreakers({ volumeThreshold: 10, resetTimeout: 200, onStateChange: (a, s) => changes.push([a, s]) });
  t.teardown(() => br.shutdown());
  let failing = true;
  const send = async (n: number): Promise<number> => {
    if (failing) throw new Error('link down');
    return n * 2;
  };
  const b = br.breaker('acq-a', send);
  t.equal(br.breaker('acq-a', send), b, 'one breaker per link');
  t.equal(br.state('acq-a'), 'closed');
  t.equal(br.state('acq-b'), undefined);
  for (let i = 0; i < 9; i++) await b.fire(i).catch(() => undefined);
  t.equal(br.state('acq-a'), 'closed', 'under the volume threshold: still closed');
  t.notOk(br.isOpen('acq-a'));
  const beforeOpen = Date.now(); // the reset timer starts after this
  await b.fire(9).catch(() => undefined);
  t.equal(br.state('acq-a'), 'open', 'opens once the volume is reached');
  t.ok(br.isOpen('acq-a'));
  await t.rejects(b.fire(1), /open/i, 'rejects at once while open');
  const after = await until(
    () => br.state('acq-a'),
    (st) => st === 'half_open',
    10_000,
    10,
  );
  const openFor = Date.now() - beforeOpen;
  t.equal(after, 'half_open', 'half-open after the reset timeout');
  t.ok(openFor >= 190, `half-open ${openFor} ms after opening: not before the 200 ms reset timeout (a loaded machine is only later)`);
  t.notOk(br.isOpen('acq-a'), 'half-open lets a probe through');
  failing = false;
  t.equal(await b.fire(21), 42);
  t.equal(br.state('acq-a'), 'closed');
  t.same(br.states(), { 'acq-a': 'closed' });
  t.same(
    changes.map((c) => c[1]),
    ['open', 'half_open', 'closed'],
  );
  // no latency percentiles (never read here): opossum would sort every call's latency of the window each bucket
  t.equal((b.stats as { percentiles: Record<string, number> }).percentiles['0.5'], -1);
});

t.test('breaker: filtered errors (declines) do not count', async (t) => {
  const br = new LinkBreakers({ volumeThreshold: 5, errorFilter: (e) => e instanceof Error && e.message === 'declined' });
  t.teardown(() => br.shutdown());
  const b = br.breaker('acq-a', async () => {
    throw new Error('declined');
  });
  for (let i = 0; i < 20; i++) await b.fire().catch(() => undefined);
  t.equal(br.state('acq-a'), 'closed');
});

t.test('success rate: last N mean, elimination factor, threshold', async (t) => {
  const sr = new SuccessRateTracker({ window: 10 });
  t.equal(sr.score('x'), 1, 'unknown route is optimistic');
  for (let i = 0; i < 10; i++) sr.record('x', i % 2 === 0);
  t.equal(sr.score('x'), 0.5);
  for (let i = 0; i < 10; i++) sr.record('x', true);
  t.equal(sr.score('x'), 1, 'only the last N count');
  t.equal(sr.factor('x'), 1, 'capped at 1');
  sr.record('x', false);
  t.equal(sr.factor('x'), 0.95);
  sr.record('x', true);
  t.ok(Math.abs(sr.factor('x') - 0.95 * 1.0526) < 1e-12);
  for (let i = 0; i < 19; i++) sr.record('y', false);
  t.notOk(sr.eliminated('y'), '0.95^19 = 0.377 ≥ 0.35');
  sr.record('y', false);
  sr.record('y', false);
  t.ok(sr.eliminated('y'), 'eliminated after ~21 net failures');
  for (let i = 0; i < 25; i++) sr.record('y', true);
  t.notOk(sr.eliminated('y'), 'successes bring it back');
  t.same(Object.keys(sr.snapshot()).sort(), ['x', 'y']);
});
