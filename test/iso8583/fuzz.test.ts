import t from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import { fuzzCodec } from '../helpers/fuzz-engine.js';

const DIALECTS = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic'];
const CASES = Number(process.env.FUZZ_CASES ?? 30000);

t.test(`decoder fuzz: ${CASES * DIALECTS.length} mutated and random frames give only registry errors`, async (t) => {
  // fuzzCodec throws a FuzzFailure (input and seed in the message) on anything but a SwitchError, or on a decoded
  // frame that does not pack back to the same view; what is left to check is which refusals the decoder gave.
  for (const [i, name] of DIALECTS.entries()) {
    const seed = 0xf00d + i;
    const res = fuzzCodec(loadDialect(name), CASES, seed);
    t.comment(`${name} (seed ${seed}): ${res.decoded} decoded, ${res.rejected} rejected ${JSON.stringify(res.byCode)}`);
    t.ok(res.rejected > 0 && res.decoded > 0, `${name}: both outcomes exercised`);
    const codes = Object.keys(res.byCode);
    t.same(
      codes.filter((c) => !c.startsWith('SW_ERR_CODEC_')),
      [],
      `${name}: every refusal is a codec error, not another module's`,
    );
    // bitmap, MTI, charset, length prefix, truncation, trailing bytes...: one catch-all code would hide which check refused
    t.ok(codes.length >= 5, `${name}: refused for ${codes.length} distinct reasons`);
  }
});

t.test('a fuzz run is replayed by its seed, and another seed is another run', async (t) => {
  const codec = loadDialect('iso87-binary');
  const a = fuzzCodec(codec, 3000, 1234);
  t.same(fuzzCodec(codec, 3000, 1234), a, 'the same seed: the same cases, the same outcomes');
  t.not(JSON.stringify(fuzzCodec(codec, 3000, 4321).byCode), JSON.stringify(a.byCode), 'another seed: other cases');
});
