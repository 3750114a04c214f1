import t from 'tap';
import fc from 'fast-check';
import { MemoryVelocityStore } from '../../src/risk/velocity.js';
import { propertyHolds } from '../helpers/seed.js';

t.test('memory velocity counts equal a brute-force count over random, partly out-of-order events', async (t) => {
  const windows = [1000, 10_000, 60_000];
  await propertyHolds(
    t,
    fc.property(
      fc.array(fc.record({ key: fc.constantFrom('card:a', 'card:b', 'merchant:m'), dt: fc.integer({ min: -500, max: 3000 }) }), {
        minLength: 1,
        maxLength: 3000,
      }),
      (steps) => {
        const store = new MemoryVelocityStore();
        const seen = new Map<string, number[]>();
        let now = 1_700_000_000_000;
        for (const { key, dt } of steps) {
          now += Math.max(0, dt); // mostly forward in time
          const at = dt < 0 ? now + dt : now; // sometimes an event a little in the past
          const got = store.hitSync(key, windows, at);
          const list = seen.get(key) ?? [];
          list.push(at);
          seen.set(key, list);
          const maxW = Math.max(...windows);
          const want = windows.map((w) => list.filter((v) => v > at - w && v <= at && v > at - maxW).length);
          if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${key} at ${at}: got ${got} want ${want}`);
        }
        return true;
      },
    ),
    { numRuns: 200, seed: 4242 },
    'counts agree with the brute-force count',
  );
});

t.test('a busy key stays cheap: 200,000 hits in a 10 s window at 10,000/s', async (t) => {
  const store = new MemoryVelocityStore();
  let n = 0;
  for (let i = 0; i < 200_000; i++) n = store.hitSync('merchant:busy', [10_000], 1_700_000_000_000 + i / 10)[0]!;
  t.equal(n, 100_000, 'the window holds the last 10 s of events');
});

t.test('a key seen once holds only its time; a second event, or the first falling out of every window, counts right', async (t) => {
  const store = new MemoryVelocityStore();
  const w = [10_000, 3_600_000];
  t.same(store.hitSync('card:x', w, 1_000_000), [1, 1]);
  t.same(store.hitSync('card:x', w, 1_005_000), [2, 2], 'the second event within both windows');
  t.same(store.hitSync('card:x', w, 1_020_000), [1, 3], 'the first two left the short window');
  t.same(store.hitSync('card:y', w, 1_000_000), [1, 1]);
  t.same(store.hitSync('card:y', w, 1_000_000 + 3_600_001), [1, 1], 'a lone event older than every window is replaced');
  t.same(store.hitSync('card:y', w, 1_000_000 + 3_599_000), [1, 1], 'an event a little in the past: the later one is not before it');
  t.same(store.hitSync('card:y', w, 1_000_000 + 3_605_000), [3, 3], 'and both are counted by the next one');
});
