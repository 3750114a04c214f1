import t from 'tap';
import { MemoryFailureDetector, evaluateHealth, newCounts, DEFAULT_DETECTOR_OPTIONS, type CallToken } from '../../src/routing/detector.js';

/** A controllable clock. */
function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/**
 * Simulated traffic of `rps` requests/s to one route for `ms`, advancing the clock in 5 ms steps. `mode(t)`
 * says how the acquirer behaves: 'ok' answers after latency, 'hang' never answers. A call only goes out if
 * the route is alive or the detector grants a probe, like the switch's selector.
 */
function drive(
  d: MemoryFailureDetector,
  c: ReturnType<typeof clock>,
  ms: number,
  rps: number,
  mode: (t: number) => 'ok' | 'hang',
  onStep?: (t: number) => boolean | void,
): void {
  const pending: { at: number; token: CallToken }[] = [];
  const step = 5;
  const perStep = (rps * step) / 1000;
  let carry = 0;
  for (let elapsed = 0; elapsed < ms; elapsed += step) {
    c.advance(step);
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i]!.at <= c.now()) {
        d.finish(pending[i]!.token);
        pending.splice(i, 1);
      }
    }
    carry += perStep;
    while (carry >= 1) {
      carry -= 1;
      if (!d.isAlive('acq-x') && !d.tryProbe('acq-x')) continue; // routed elsewhere
      const token = d.start(['acq-x', 'term-x'], 1000);
      if (mode(c.now()) === 'ok') pending.push({ at: c.now() + 20, token });
    }
    if (onStep?.(c.now()) === true) return;
  }
}

t.test('a route that starts timing out is judged dead within 2 s at 200 req/s, and recovers after', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now });
  const t0 = c.now();
  drive(d, c, 10_000, 200, () => 'ok');
  t.ok(d.isAlive('acq-x'), 'healthy after 10 s of good traffic');
  t.equal(d.health('acq-x').score, 0);

  const outageStart = c.now();
  let deadAt = -1;
  drive(
    d,
    c,
    5000,
    200,
    () => 'hang',
    (now) => {
      if (deadAt < 0 && !d.isAlive('acq-x')) deadAt = now;
    },
  );
  t.ok(deadAt > 0, 'judged dead');
  t.ok(deadAt - outageStart <= 2000, `dead ${deadAt - outageStart} ms after the outage began`);
  t.equal(d.isAlive('term-x'), false, 'the terminal too');
  t.equal(d.health('acq-x').alive, false);

  // Dead: only probes go out; still hanging → stays dead.
  drive(d, c, 5000, 200, () => 'hang');
  t.equal(d.isAlive('acq-x'), false, 'stays dead while probes keep failing');

  const outageEnd = c.now();
  let aliveAt = -1;
  drive(
    d,
    c,
    10_000,
    200,
    () => 'ok',
    (now) => {
      if (aliveAt < 0 && d.isAlive('acq-x')) aliveAt = now;
    },
  );
  t.ok(aliveAt > 0, 'recovered');
  t.ok(aliveAt - outageEnd <= 3000, `alive ${aliveAt - outageEnd} ms after the outage ended`);
  t.ok(d.isAlive('acq-x'), 'and stays alive under good traffic');
  t.ok(c.now() - t0 > 0);
});

t.test('minimum volume: a few failures on a quiet route do not kill it', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, minVolume: 20 });
  for (let i = 0; i < 10; i++) d.fail(d.start('svc'), 'error');
  t.ok(d.isAlive('svc'), '10 failures < minimum volume');
  for (let i = 0; i < 10; i++) d.fail(d.start('svc'), 'error');
  t.notOk(d.isAlive('svc'), '20 failures: dead');
  t.equal(d.health('svc').reason, 'recent_failures');
});

t.test('connection refused/reset counts at once', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, fastFailures: 3 });
  d.fail(d.start('svc'), 'fast');
  d.fail(d.start('svc'), 'fast');
  t.ok(d.isAlive('svc'));
  d.fail(d.start('svc'), 'fast');
  t.notOk(d.isAlive('svc'), 'three refusals: dead without the minimum volume');
  t.equal(d.health('svc').reason, 'fast_failures');
  // With recent successes a few resets are noise.
  const d2 = new MemoryFailureDetector({ now: c.now, fastFailures: 3 });
  for (let i = 0; i < 5; i++) d2.finish(d2.start('svc'));
  for (let i = 0; i < 3; i++) d2.fail(d2.start('svc'), 'fast');
  t.ok(d2.isAlive('svc'));
});

t.test('a call running past its limit counts as failing before it ends; its late finish is ignored', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, minVolume: 5 });
  const tokens = Array.from({ length: 5 }, () => d.start('svc', 100));
  t.ok(d.isAlive('svc'));
  t.equal(d.runningCount, 5);
  c.advance(101);
  t.notOk(d.isAlive('svc'), 'still running past the limit: failing');
  t.equal(d.health('svc').recentVolume, 5);
  for (const tok of tokens) d.finish(tok);
  t.equal(d.health('svc').recentVolume, 5, 'late finishes not counted twice');
  t.equal(d.runningCount, 0);
  // A finish after the deadline but before any sweep is a failure too.
  const d2 = new MemoryFailureDetector({ now: c.now, minVolume: 1 });
  const tok = d2.start('svc', 50);
  c.advance(60);
  d2.finish(tok);
  t.equal(d2.health('svc').recentRate, 1);
});

t.test('weighted score: newest bucket weighs n, oldest 1; empty buckets are skipped', async (t) => {
  const o = { ...DEFAULT_DETECTOR_OPTIONS, bucketMs: 1000, windowMs: 4000 };
  const c = newCounts(o);
  const now = 10_000; // current bucket 10; window buckets 7..10 weigh 1..4
  c.coarse.add(7, 0, 10, 0); // rate 1, weight 1
  c.coarse.add(10, 10, 0, 0); // rate 0, weight 4
  const h = evaluateHealth(c, now, o);
  t.equal(h.score, 1 / 5);
  t.equal(h.volume, 20);
  c.coarse.add(6, 0, 100, 0); // outside the window
  t.equal(evaluateHealth(c, now, o).score, 1 / 5);
  const later = evaluateHealth(c, 12_000, o); // bucket 7 out; only bucket 10 left (weight 2 of 4)
  t.equal(later.score, 0);
  t.equal(later.volume, 10);
});

t.test('window score keeps a long-failing route dead when traffic stops, until a probe succeeds', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, probeIntervalMs: 1000 });
  for (let i = 0; i < 100; i++) {
    c.advance(10);
    d.fail(d.start('svc'), 'error');
  }
  t.notOk(d.isAlive('svc'));
  c.advance(5000); // no traffic: the recent window is empty, the window score still says dead
  t.notOk(d.isAlive('svc'));
  t.equal(d.health('svc').reason, 'window_score');
  t.ok(d.tryProbe('svc'), 'a probe is granted');
  t.notOk(d.tryProbe('svc'), 'one per interval');
  d.finish(d.start('svc'));
  t.ok(d.isAlive('svc'), 'a successful probe brings it back');
  t.notOk(d.tryProbe('svc'), 'no probes for a live route');
  c.advance(70_000);
  t.equal(d.health('svc').volume, 0, 'old buckets leave the window');
});

t.test('no flapping: after long healthy history, a hanging route stays dead (only backed-off probes go out)', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now, probeIntervalMs: 1000 });
  drive(d, c, 50_000, 200, () => 'ok');
  t.ok(d.isAlive('acq-x'));
  const before = d.runningCount;
  let deadAt = -1;
  let sentAfterDead = 0;
  const origStart = d.start.bind(d);
  d.start = (services, timeoutMs) => {
    if (deadAt > 0) sentAfterDead++;
    return origStart(services, timeoutMs);
  };
  drive(
    d,
    c,
    20_000,
    200,
    () => 'hang',
    (now) => {
      if (deadAt < 0 && !d.isAlive('acq-x')) deadAt = now;
    },
  );
  t.ok(deadAt > 0, 'judged dead');
  t.notOk(d.isAlive('acq-x'), 'still dead at the end of the outage');
  t.ok(sentAfterDead <= 10, `${sentAfterDead} calls (probes) sent in the ~19 s after the dead judgement`);
  // at 200/s with 20 ms answers, the calls of the last 20 ms (one per 5 ms step) are running when the hang begins
  t.equal(before, 4, 'calls that finished were let go: only the last 20 ms of calls still running');
  // A success of a call started before the judgement does not release the latch; a probe's does.
  drive(d, c, 10_000, 200, () => 'ok');
  t.ok(d.isAlive('acq-x'), 'a successful probe brings it back');
});

t.test('a call settled before its deadline is let go at once (not kept until its deadline)', async (t) => {
  const c = clock();
  const d = new MemoryFailureDetector({ now: c.now });
  const tokens = Array.from({ length: 1000 }, (_, i) => d.start(['acq', `term-${i % 7}`], 30_000));
  t.equal(d.runningCount, 1000);
  // finished in an order unrelated to their deadlines, some failed
  for (let i = 0; i < tokens.length; i += 2) d.finish(tokens[i]!);
  for (let i = 1; i < tokens.length; i += 4) d.fail(tokens[i]!, 'error');
  t.equal(d.runningCount, 250, 'only the calls still running are held');
  c.advance(30_001);
  t.equal(d.health('acq').volume, 1000, 'every call counted once');
  t.equal(d.runningCount, 0, 'the rest were swept at their deadline');
});
