/**
 * F20 (docs/faults.md): a week of traffic on a simulated clock, a million distinct cards and keys. The switch's
 * in-memory structures stay bounded, and an operation late in the week costs what one early in it did
 * (eviction is O(1) amortized, never a scan): the velocity store, the timed-out requests a late answer is
 * matched to, the per-transaction mutex. (The orphan-reversal set is gone: the decline is filed in the database.)
 */
import t from 'tap';
import { MemoryVelocityStore } from '../../src/risk/velocity.js';
import { ExpiringMap } from '../../src/switch/expiring-map.js';
import { KeyedMutex } from '../../src/switch/mutex.js';

const N = 1_000_000;
const WEEK = 7 * 86_400_000;
const STEP = WEEK / N; // one event every ~605 ms of simulated time
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** ns per operation of `op` over indexes [from, to). */
function timed(from: number, to: number, op: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = from; i < to; i++) op(i);
  return Number(process.hrtime.bigint() - t0) / (to - from);
}

/** Runs `op` for i in [0, N): returns ns/op of the first and the last 100,000, and the largest size seen. */
function week(op: (i: number) => void, size: () => number): { early: number; late: number; maxSize: number } {
  let maxSize = 0;
  const sample = (i: number) => {
    op(i);
    if (i % 1000 === 0) maxSize = Math.max(maxSize, size());
  };
  timed(0, 20_000, sample); // warm-up
  const early = timed(20_000, 120_000, sample);
  timed(120_000, N - 100_000, sample);
  const late = timed(N - 100_000, N, sample);
  return { early, late, maxSize };
}

const card = (i: number) => `card-${i}`;

t.test('velocity store: a million cards over a week, 1 h and 24 h windows', async (t) => {
  const v = new MemoryVelocityStore();
  const r = week(
    (i) => v.hitSync(card(i), [HOUR, DAY], i * STEP),
    () => v.size,
  );
  const perDay = Math.ceil(DAY / STEP) + 1;
  t.ok(r.maxSize <= perDay, `at most a day's cards held: ${r.maxSize} ≤ ${perDay}`);
  t.ok(v.size <= perDay);
  // a liveness bound, not a benchmark: a scan of the ~143,000 live cards per hit would cost a thousand times more;
  // ten times (and 1 µs) leaves room for a loaded machine (bench/ measures the figures)
  t.ok(r.late < 10 * r.early + 1000, `a hit late in the week costs what an early one did: ${r.early.toFixed(0)} → ${r.late.toFixed(0)} ns`);
  // a card seen again within the day still counts both events: eviction never drops a live key
  const at = N * STEP;
  t.same(v.hitSync('again', [HOUR, DAY], at), [1, 1]);
  t.same(v.hitSync('again', [HOUR, DAY], at + 2 * HOUR), [1, 2]);
});

t.test('velocity store: the key cap holds even when every key is still inside its window', async (t) => {
  const v = new MemoryVelocityStore(10_000);
  for (let i = 0; i < 200_000; i++) v.hitSync(card(i), [HOUR], i); // 200,000 cards within 200 ms
  t.equal(v.size, 10_000, 'held at maxKeys: the least recently seen go first');
  t.same(v.hitSync(card(199_999), [HOUR], 200_000), [2], 'the recent ones keep their counts');
});

t.test('timed-out requests: kept 10 minutes, at most 100,000', async (t) => {
  const m = new ExpiringMap<string, { txnId: string; day: string }>(600_000, 100_000);
  const r = week(
    (i) => m.set(`acq-a|T0000001|${i}`, { txnId: `t${i}`, day: '2026-12-02' }, i * STEP),
    () => m.size,
  );
  const perTtl = Math.ceil(600_000 / STEP) + 1;
  t.ok(r.maxSize <= perTtl, `${r.maxSize} ≤ ${perTtl} held`);
  t.ok(r.late < 10 * r.early + 1000, `${r.early.toFixed(0)} → ${r.late.toFixed(0)} ns per set (a liveness bound, as above)`);
  const now = (N - 1) * STEP;
  t.same(m.get(`acq-a|T0000001|${N - 1}`, now), { txnId: `t${N - 1}`, day: '2026-12-02' }, 'a recent one is found');
  t.equal(m.get(`acq-a|T0000001|${N - 1}`, now + 600_000), undefined, 'gone after 10 minutes');
  const capped = new ExpiringMap<number, number>(WEEK, 1_000);
  for (let i = 0; i < 100_000; i++) capped.set(i, i, 0);
  t.equal(capped.size, 1_000, 'the size cap holds within the time to live');
  t.equal(capped.get(99_999, 0), 99_999);
  t.equal(capped.get(0, 0), undefined, 'the oldest went first');
});

t.test('the per-transaction mutex forgets every key once its work is done', async (t) => {
  const mx = new KeyedMutex();
  const batch = 10_000;
  for (let b = 0; b < 20; b++) await Promise.all(Array.from({ length: batch }, (_, i) => mx.run(`psp|${b * batch + i}|T|M`, async () => i)));
  t.equal(mx.size, 0);
});
