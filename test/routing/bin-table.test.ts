import t from 'tap';
import fc from 'fast-check';
import { BinTable, binKey, type BinRange } from '../../src/routing/bin-table.js';
import type { BinDef, BinInfo } from '../../src/routing/types.js';
import { propertyHolds } from '../helpers/seed.js';

const info = (brand: string): BinInfo => ({ brand, card_type: 'credit', country: 'US' });

t.test('most specific range wins', async (t) => {
  const defs: BinDef[] = [
    { prefix: '4', brand: 'p4', card_type: 'credit', country: 'US' },
    { prefix: '4111', brand: 'p4111', card_type: 'credit', country: 'US' },
    { prefix: '411111', brand: 'p411111', card_type: 'debit', country: 'US' },
    { range: ['41111100', '41111109'], brand: 'r8', card_type: 'prepaid', country: 'DE' },
    { range: ['51', '55'], brand: 'mc', card_type: 'credit', country: 'US' },
    { prefix: '5555', brand: 'mc5555', card_type: 'credit', country: 'GB' },
    { range: ['2221', '2720'], brand: 'mc2', card_type: 'credit', country: 'US' },
  ];
  const bt = BinTable.fromDefs(defs);
  const table: [string, string | null][] = [
    ['4', 'p4'],
    ['40000000', 'p4'],
    ['49999999', 'p4'],
    ['4111', 'p4111'],
    ['41119999', 'p4111'],
    ['411111', 'r8'], // padded to 41111100: the 8-digit range is the narrowest
    ['41111110', 'p411111'],
    ['41111105', 'r8'],
    ['4111111111111111', 'p411111'],
    ['41101234', 'p4'],
    ['50999999', null],
    ['51000000', 'mc'],
    ['53123456', 'mc'],
    ['55559999', 'mc5555'],
    ['55999999', 'mc'],
    ['56000000', null],
    ['22210000', 'mc2'],
    ['27209999', 'mc2'],
    ['27210000', null],
    ['3', null],
    ['', null],
    ['4x11', null],
    ['99999999', null],
    ['00000000', null],
  ];
  for (const [bin, want] of table) t.equal(bt.lookup(bin)?.brand ?? null, want, `lookup ${bin || '(empty)'}`);
  t.same(bt.lookup('41111105'), { brand: 'r8', card_type: 'prepaid', country: 'DE' });
});

t.test('binKey pads to 8 digits and rejects non-digits', async (t) => {
  t.equal(binKey('4'), 40000000);
  t.equal(binKey('123456789012'), 12345678);
  t.equal(binKey('12a4'), -1);
  t.equal(binKey(''), -1);
});

t.test('equal width: the earlier entry wins; adjacent and touching ranges', async (t) => {
  const ranges: BinRange[] = [
    { lo: 10, hi: 19, info: info('first') },
    { lo: 10, hi: 19, info: info('second') },
    { lo: 20, hi: 29, info: info('next') },
    { lo: 15, hi: 24, info: info('overlap') },
  ];
  const bt = new BinTable(ranges);
  t.equal(bt.lookupKey(9), null);
  t.equal(bt.lookupKey(10)?.brand, 'first');
  t.equal(bt.lookupKey(19)?.brand, 'first');
  t.equal(bt.lookupKey(20)?.brand, 'next');
  t.equal(bt.lookupKey(29)?.brand, 'next');
  t.equal(bt.lookupKey(30), null);
  t.equal(new BinTable([]).lookupKey(5), null);
});

t.test('matches a brute-force most-specific search (10,000 random ranges)', async (t) => {
  await propertyHolds(
    t,
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
      let s = seed;
      const rnd = (): number => (s = (Math.imul(s, 48271) % 2147483647) >>> 0) / 2147483647;
      const n = 200 + Math.floor(rnd() * 300);
      const ranges: BinRange[] = [];
      for (let i = 0; i < n; i++) {
        const lo = Math.floor(rnd() * 1e6);
        const width = Math.floor(rnd() ** 3 * 2e5);
        ranges.push({ lo, hi: Math.min(lo + width, 99_999_999), info: info(`r${i}`) });
      }
      const bt = new BinTable(ranges);
      for (let q = 0; q < 300; q++) {
        const k = Math.floor(rnd() * 1.3e6);
        let best = -1;
        ranges.forEach((r, i) => {
          if (k >= r.lo && k <= r.hi && (best < 0 || r.hi - r.lo < ranges[best]!.hi - ranges[best]!.lo)) best = i;
        });
        const got = bt.lookupKey(k)?.brand ?? null;
        const want = best < 0 ? null : `r${best}`;
        if (got !== want) throw new Error(`key ${k}: got ${got} want ${want}`);
      }
    }),
    { numRuns: 20, seed: 10_000 },
    'the most specific range, as a brute-force search finds it',
  );
  // The full-size table builds and answers.
  const big: BinRange[] = [];
  for (let i = 0; i < 10_000; i++) {
    const lo = 40_000_000 + i * 1000;
    big.push({ lo, hi: lo + (i % 3 === 0 ? 9999 : 999), info: info(`b${i}`) });
  }
  const bt = new BinTable(big);
  t.equal(bt.rangeCount, 10_000);
  t.equal(bt.lookupKey(40_000_500)?.brand, 'b0');
  t.equal(bt.lookupKey(40_003_500)?.brand, 'b0', 'equal width: earlier wins');
  t.equal(bt.lookupKey(40_002_500)?.brand, 'b2');
  t.equal(bt.lookupKey(40_001_500)?.brand, 'b1');
});
