/** MinHeap (src/routing/min-heap.ts): pops in order, and removes from anywhere by the index it reports. */
import t from 'tap';
import fc from 'fast-check';
import { MinHeap } from '../../src/routing/min-heap.js';
import { propertyHolds } from '../helpers/seed.js';

t.test('pops in order; removeAt keeps the heap in order, and every index it reports is right', async (t) => {
  await propertyHolds(
    t,
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.boolean()), { maxLength: 300 }), (ops) => {
      type Item = { v: number; at: number };
      const h = new MinHeap<Item>(
        (x, y) => x.v < y.v,
        (x, i) => (x.at = i),
      );
      const live = new Set<Item>();
      for (const [v, remove] of ops) {
        const it: Item = { v, at: -1 };
        h.push(it);
        live.add(it);
        if (remove && live.size > 0) {
          const victim = [...live][v % live.size]!;
          if (h.removeAt(victim.at) !== victim) throw new Error('removed the wrong item');
          if (victim.at !== -1) throw new Error('a removed item keeps an index');
          live.delete(victim);
        }
      }
      const out: number[] = [];
      for (let x = h.pop(); x; x = h.pop()) out.push(x.v);
      const want = [...live].map((x) => x.v).sort((a, b) => a - b);
      if (JSON.stringify(out) !== JSON.stringify(want)) throw new Error(`${out} vs ${want}`);
      return true;
    }),
    { numRuns: 300, seed: 7 },
    'pops in order after random pushes and removals',
  );
  const h = new MinHeap<number>((x, y) => x < y);
  t.equal(h.removeAt(0), undefined, 'nothing to remove');
  t.equal(h.pop(), undefined);
});
