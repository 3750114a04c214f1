import t from 'tap';
import { MemoryFailureDetector } from '../../src/routing/detector.js';

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('a dead service stays dead once traffic moves away, until a probe started after the judgement succeeds', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, minVolume: 20 });
  // A long healthy history, then a burst of failures.
  for (let i = 0; i < 2000; i++) {
    d.finish(d.start('acq'));
    c.advance(5);
  }
  for (let i = 0; i < 250; i++) {
    d.fail(d.start('acq'), 'timeout');
    c.advance(5);
  }
  t.notOk(d.isAlive('acq'), 'dead after the burst');
  // Traffic has moved away: the recent window empties and the older buckets are mostly healthy.
  c.advance(5000);
  t.notOk(d.isAlive('acq'), 'still dead with no traffic: no flapping back');
  t.equal(d.health('acq').reason, 'awaiting_probe');
  // A call started before the judgement that answers late does not revive it.
  t.ok(d.tryProbe('acq'), 'a probe is granted');
  const probe = d.start('acq');
  c.advance(10);
  d.finish(probe);
  t.ok(d.isAlive('acq'), 'a successful probe brings it back');
});

t.test('failed probes back off to twice the probe interval', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, minVolume: 5, probeIntervalMs: 1000 });
  for (let i = 0; i < 10; i++) d.fail(d.start('svc'), 'error');
  const granted: number[] = [];
  for (let ms = 0; ms < 10_000; ms += 100) {
    if (d.tryProbe('svc')) {
      granted.push(ms);
      d.fail(d.start('svc'), 'timeout');
    }
    c.advance(100);
  }
  t.same(granted.slice(0, 4), [0, 1000, 3000, 5000], 'first at once, then 1 s, then every 2 s');
});

t.test('every service of a failing call is judged, not only the one the selector asks about', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, minVolume: 20 });
  for (let i = 0; i < 30; i++) d.fail(d.start(['acq', 'term']), 'timeout');
  c.advance(5000);
  t.notOk(d.isAlive('term'), 'the terminal is latched dead too');
});
