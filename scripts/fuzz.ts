/** `npm run fuzz`: the decoder fuzz at scale (default 10,000,000 cases over the four dialects). */
import { loadDialect } from '../src/iso8583/index.js';
import { fuzzCodec, FuzzFailure } from '../test/helpers/fuzz-engine.js';
import { parseCli } from '../src/cli/args.js';

parseCli({
  name: 'fuzz',
  usage: `usage: npm run fuzz

The decoder fuzz at scale over the four dialects: every input must decode or be refused with a SW_ERR_* code.
Exit 1 on the first failure, printing the seed and the input.
environment: FUZZ_CASES (10000000) cases in all, FUZZ_SEED (from the clock) the seed
options: -h, --help   this text`,
  options: {},
});

const total = Number(process.env.FUZZ_CASES ?? 10_000_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
const dialects = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic'];
const per = Math.ceil(total / dialects.length);
const t0 = performance.now();
let cases = 0;
const byCode: Record<string, number> = {};
try {
  for (const [i, name] of dialects.entries()) {
    const res = fuzzCodec(loadDialect(name), per, seed + i, (done) =>
      process.stderr.write(`\r${name}: ${done.toLocaleString('en-US')} / ${per.toLocaleString('en-US')}   `),
    );
    cases += res.cases;
    for (const [k, v] of Object.entries(res.byCode)) byCode[k] = (byCode[k] ?? 0) + v;
    process.stderr.write(
      `\r${name}: ${res.cases.toLocaleString('en-US')} cases, ${res.decoded.toLocaleString('en-US')} decoded, ${res.rejected.toLocaleString('en-US')} rejected\n`,
    );
  }
} catch (e) {
  if (e instanceof FuzzFailure) {
    console.error(`FAILED (seed ${seed}): ${e.message}\ninput hex: ${e.input.toString('hex')}`);
    process.exit(1);
  }
  throw e;
}
const secs = (performance.now() - t0) / 1000;
for (const [k, v] of Object.entries(byCode).sort((a, b) => b[1] - a[1])) console.log(`${k.padEnd(34)} ${v.toLocaleString('en-US')}`);
console.log(JSON.stringify({ cases, seed, seconds: Number(secs.toFixed(1)), cases_per_s: Math.round(cases / secs), failures: 0 }));
