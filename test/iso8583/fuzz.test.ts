import t from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import { fuzzCodec } from '../helpers/fuzz-engine.js';

const DIALECTS = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic'];
const CASES = Number(process.env.FUZZ_CASES ?? 30000);

t.test(`decoder fuzz: ${CASES * DIALECTS.length} mutated and random frames give only registry errors`, async (t) => {
  let total = 0;
  for (const [i, name] of DIALECTS.entries()) {
    const res = fuzzCodec(loadDialect(name), CASES, 0xf00d + i);
    t.equal(res.cases, CASES, `${name}: ${res.cases} cases, ${res.decoded} decoded, ${res.rejected} rejected`);
    t.ok(res.rejected > 0 && res.decoded > 0, `${name}: both outcomes exercised`);
    total += res.cases;
  }
  t.ok(total >= 100000, `${total} cases in all`);
});
