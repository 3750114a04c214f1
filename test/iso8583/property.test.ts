import t from 'tap';
import fc from 'fast-check';
import { loadDialect } from '../../src/iso8583/index.js';
import { messageArb, view } from '../helpers/arbitrary.js';
import { propertyHolds } from '../helpers/seed.js';

const DIALECTS = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic'];
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1500);

for (const name of DIALECTS) {
  t.test(`${name}: unpack(pack(m)) equals m and pack(unpack(bytes)) equals bytes`, async (t) => {
    const codec = loadDialect(name);
    await propertyHolds(
      t,
      fc.property(messageArb(codec), (m) => {
        const bytes = codec.pack(m);
        const back = codec.unpack(bytes);
        t.same(view(back), view(m), 'round trip', { diagnostic: false });
        const again = codec.pack(back);
        if (!again.equals(bytes)) throw new Error('re-pack differs');
        return true;
      }),
      { numRuns: RUNS, seed: 8583 },
      `${RUNS} random messages round-trip both ways`,
    );
  });
}

t.test('every dialect covers DE55 TLV with unknown tags kept, and tertiary bitmap fields', async (t) => {
  for (const name of DIALECTS) {
    const codec = loadDialect(name);
    // what the runs exercised: the name's promise holds only if they met unknown tags and the tertiary bitmap
    let unknownTags = 0;
    let tertiary = 0;
    await propertyHolds(
      t,
      fc.property(messageArb(codec, { fields: [2, 55, 70, 130, 192] }), (m) => {
        const back = codec.unpack(codec.pack(m));
        const de55 = back.get(55);
        if (Array.isArray(de55) && de55.some((e) => e.tag.startsWith('DF'))) unknownTags++;
        if (back.fieldNumbers().some((n) => n > 128)) tertiary++;
        return JSON.stringify(view(back)) === JSON.stringify(view(m));
      }),
      { numRuns: 300, seed: 55 },
      `${name}: DE55 and fields 130/192 round-trip`,
    );
    t.ok(unknownTags > 0, `${name}: ${unknownTags} messages kept an unknown DE55 tag (DFxx)`);
    t.ok(tertiary > 0, `${name}: ${tertiary} messages carried a tertiary-bitmap field (130, 192)`);
  }
});
