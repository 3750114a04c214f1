import t from 'tap';
import { RedisFailureDetector, type DetectorLogger } from '../../src/routing/detector-redis.js';
import { MemoryFailureDetector, type DetectorBase } from '../../src/routing/detector.js';
import { createRedis, closeRedis } from '../../src/store/redis.js';
import { testRedis } from '../helpers/redis.js';

const quiet: DetectorLogger = { warn: () => undefined, info: () => undefined };

async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return Date.now() - t0;
}

t.test('two instances on one Redis agree on a dead route, and on its recovery', async (t) => {
  const r = await testRedis(t);
  const a = new RedisFailureDetector({ redis: await r.client(), prefix: r.prefix, logger: quiet, probeIntervalMs: 200 });
  const b = new RedisFailureDetector({ redis: await r.client(), prefix: r.prefix, logger: quiet, probeIntervalMs: 200 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  t.ok(a.isAlive('acq-x') && b.isAlive('acq-x'), 'unknown routes are alive');

  // Traffic through instance A at ~200 req/s; the acquirer stops answering (time limit 300 ms).
  const started = Date.now();
  const timer = setInterval(() => {
    for (let i = 0; i < 2; i++) a.start(['acq-x', 'term-x'], 300);
  }, 10);
  t.teardown(() => clearInterval(timer));
  const seenByB = await waitFor(() => !b.isAlive('acq-x'), 15_000);
  const deadAfter = Date.now() - started;
  clearInterval(timer);
  t.notOk(a.isAlive('acq-x'), 'A judges it dead');
  t.notOk(b.isAlive('acq-x'), 'B, which sent nothing, agrees');
  t.notOk(b.isAlive('term-x'));
  t.comment(`B saw the route dead ${seenByB} ms after the hang began (time limit 300 ms; busy machine)`);
  // A call only counts as failed at its deadline: nothing can be judged dead before the first one has run 300 ms
  // (a detector counting running calls as failed at once would be quicker than that; a loaded machine only slower).
  t.ok(deadAfter >= 300, `judged dead ${deadAfter} ms after the hang began: not before the 300 ms time limit`);
  t.equal(a.degraded, false);

  // The route is dead, so the switch stops sending; the hung calls time out and the recent window drains.
  // Waited for as it happens: A has no call left running, and B's recent window (1 s) holds no call any more.
  await waitFor(() => a.runningCount === 0 && b.health('acq-x').recentVolume === 0, 15_000);
  const idle = b.health('acq-x');
  t.notOk(idle.alive, 'still dead without traffic');
  t.ok(idle.reason === 'window_score' || idle.reason === 'awaiting_probe', `judged by the window score or the latch, not by recent calls (${idle.reason})`);
  // Recovery: B's probe succeeds; A follows.
  await waitFor(() => b.tryProbe('acq-x'), 5000);
  const tok = b.start(['acq-x', 'term-x'], 300);
  b.finish(tok);
  t.ok(b.isAlive('acq-x'), 'B: alive right after its own successful probe');
  await waitFor(() => a.isAlive('acq-x'), 5000).catch((e) => {
    t.comment(JSON.stringify({ a: a.health('acq-x'), b: b.health('acq-x') }));
    throw e;
  });
  t.ok(a.isAlive('acq-x'), 'A agrees after the next sync');
});

t.test('fast failures recorded by one instance reach the other', async (t) => {
  const r = await testRedis(t);
  const a = new RedisFailureDetector({ redis: await r.client(), prefix: r.prefix, logger: quiet });
  const b = new RedisFailureDetector({ redis: await r.client(), prefix: r.prefix, logger: quiet });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  b.isAlive('acq-y');
  for (let i = 0; i < 3; i++) a.fail(a.start('acq-y'), 'fast');
  t.notOk(a.isAlive('acq-y'));
  await waitFor(() => !b.isAlive('acq-y'), 5000);
  t.equal(b.health('acq-y').reason, 'fast_failures');
  await a.sync();
  const fields = await (await r.client()).hgetall(`${r.prefix}fd:acq-y`);
  t.ok(
    Object.keys(fields).some((f) => f.startsWith('c:')),
    'coarse buckets in Redis',
  );
  t.ok(
    Object.keys(fields).some((f) => f.startsWith('r:')),
    'recent buckets in Redis',
  );
  t.ok((await (await r.client()).pttl(`${r.prefix}fd:acq-y`)) > 0, 'keys expire');
});

t.test('Redis unreachable: fail open, flag and log line', async (t) => {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const logger: DetectorLogger = {
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
  };
  const flags: boolean[] = [];
  const dead = createRedis({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 });
  t.teardown(() => closeRedis(dead));
  const d = new RedisFailureDetector({ redis: dead, prefix: 'x:', logger, onDegradedChange: (f) => flags.push(f) });
  t.teardown(() => d.close());
  for (let i = 0; i < 50; i++) d.fail(d.start('acq-z'), 'error');
  await d.sync();
  t.equal(d.degraded, true, 'degraded flag');
  t.notOk(d.isAlive('acq-z'), "judged from this instance's own counts: 50 failures make it dead");
  t.equal(d.health('acq-z').reason, 'recent_failures', 'for the failures it saw itself');
  t.ok(d.isAlive('acq-y'), 'a route with no failures stays alive');
  t.ok(d.tryProbe('acq-z'), 'with no lease to be had, this instance probes on its own');
  t.notOk(d.tryProbe('acq-z'), 'still one per interval');
  t.same(flags, [true]);
  t.equal(lines.filter((l) => l.level === 'warn').length, 1, 'one log line per transition');
  t.match(lines[0]!.msg, /unreachable.*own counts/);
  await d.sync();
  t.equal(lines.length, 1, 'no log flood');
});

t.test('Redis lost and back: degraded while away, judgements resume after', async (t) => {
  const r = await testRedis(t);
  const lines: string[] = [];
  const logger: DetectorLogger = { warn: (_o, m) => void lines.push(`warn ${m}`), info: (_o, m) => void lines.push(`info ${m}`) };
  const client = await r.client();
  const d = new RedisFailureDetector({ redis: client, prefix: r.prefix, logger, syncMs: 50 });
  t.teardown(() => d.close());
  for (let i = 0; i < 3; i++) d.fail(d.start('acq-w'), 'fast');
  await d.sync();
  t.notOk(d.isAlive('acq-w'));
  client.disconnect();
  await waitFor(() => d.degraded, 5000);
  t.notOk(d.isAlive('acq-w'), 'while Redis is away, the counts this instance has still judge it');
  for (let i = 0; i < 3; i++) d.fail(d.start('acq-v'), 'fast');
  t.notOk(d.isAlive('acq-v'), 'and failures seen meanwhile count locally');
  await client.connect();
  await waitFor(() => !d.degraded, 5000);
  t.notOk(d.isAlive('acq-w'), 'the shared counts judge again');
  t.match(lines[0], /^warn .*unreachable/);
  t.match(lines.at(-1), /^info .*reachable again/);
});

t.test('a dead route is probed by one instance of the cluster at a time, not by each', async (t) => {
  const r = await testRedis(t);
  const intervalMs = 200;
  const spanMs = 2000;
  const cluster = await Promise.all(
    [0, 1, 2].map(async () => new RedisFailureDetector({ redis: await r.client(), prefix: r.prefix, logger: quiet, probeIntervalMs: intervalMs, syncMs: 20 })),
  );
  t.teardown(() => Promise.all(cluster.map((d) => d.close())));
  const alone = [0, 1, 2].map(() => new MemoryFailureDetector({ probeIntervalMs: intervalMs }));

  for (const d of [...cluster, ...alone]) for (let i = 0; i < 3; i++) d.fail(d.start('acq-p'), 'fast');
  await Promise.all(cluster.map((d) => d.sync()));
  t.ok(
    cluster.every((d) => !d.isAlive('acq-p')),
    'all three instances judge the route dead',
  );

  // Each instance's traffic asks for a probe every 10 ms; every probe fails (the acquirer is still down).
  const probes = { cluster: [] as number[][], alone: [] as number[][] };
  const drive = (ds: DetectorBase[], into: number[][]): void => {
    ds.forEach((d, i) => {
      into[i] ??= [];
      if (d.tryProbe('acq-p')) {
        into[i]!.push(Date.now());
        d.fail(d.start('acq-p'), 'fast');
      }
    });
  };
  const t0 = Date.now();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      drive(cluster, probes.cluster);
      drive(alone, probes.alone);
      if (Date.now() - t0 >= spanMs) {
        clearInterval(timer);
        done();
      }
    }, 10);
  });
  const total = (p: number[][]): number => p.reduce((n, x) => n + x.length, 0);
  const inCluster = total(probes.cluster);
  const onTheirOwn = total(probes.alone);
  t.comment(
    `probes over ${Date.now() - t0} ms: ${inCluster} with the shared lease (${probes.cluster.map((p) => p.length).join('/')}), ${onTheirOwn} by three instances on their own`,
  );
  // Leases do not overlap and each lasts at least the interval: at most one per interval over the span.
  t.ok(inCluster <= Math.floor((Date.now() - t0) / intervalMs) + 1, `${inCluster} probes: at most one per ${intervalMs} ms for the cluster`);
  t.ok(inCluster >= 2, 'the route goes on being probed');
  t.ok(onTheirOwn >= 3 * 4, `without the lease each instance probes on its own (${onTheirOwn})`);
  t.ok(inCluster * 2 <= onTheirOwn, 'the lease at least halves the probes a dead acquirer receives from three instances');

  const merged = probes.cluster.flat().sort((a, b) => a - b);
  t.ok(
    merged.every((at, i) => i === 0 || at > merged[i - 1]!),
    'no two instances probe at the same moment',
  );
});
