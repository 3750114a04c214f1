import t from 'tap';
import fc from 'fast-check';
import { loadDialect } from '../../src/iso8583/index.js';
import { messageArb, view } from '../helpers/arbitrary.js';

const DIALECTS = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic'];
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1500);

for (const name of DIALECTS) {
  t.test(`${name}: unpack(pack(m)) equals m and pack(unpack(bytes)) equals bytes`, async (t) => {
    const codec = loadDialect(name);
    let checked = 0;
    fc.assert(
      fc.property(messageArb(codec), (m) => {
        const bytes = codec.pack(m);
        const back = codec.unpack(bytes);
        t.same(view(back), view(m), 'round trip', { diagnostic: false });
        const again = codec.pack(back);
        if (!again.equals(bytes)) throw new Error('re-pack differs');
        checked++;
        return true;
      }),
      { numRuns: RUNS, seed: 8583 },
    );
    t.equal(checked, RUNS, `${RUNS} random messages checked`);
  });
}

t.test('every dialect covers DE55 TLV with unknown tags kept, and tertiary bitmap fields', async (t) => {
  for (const name of DIALECTS) {
    const codec = loadDialect(name);
    fc.assert(
      fc.property(messageArb(codec, { fields: [2, 55, 70, 130, 192] }), (m) => {
        const back = codec.unpack(codec.pack(m));
        return JSON.stringify(view(back)) === JSON.stringify(view(m));
      }),
      { numRuns: 300, seed: 55 },
    );
    t.pass(name);
  }
});
