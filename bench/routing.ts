/**
 * Routing decision time with 1,000 rules, 50 terminals and 10,000 BIN ranges (issue 6: median ≤ 10 µs).
 * The rule set is generated, then validated and compiled like any other; the input is checked (every decision
 * must come out, rules across the whole list must be hit) before timing. Timed: `select` with a live
 * in-memory failure detector, success-rate tracker and breakers (the synchronous hot path), and the full
 * `RoutingEngine.decide` (risk scoring with in-memory velocity + select).
 * Prints a table, then a last line of JSON.
 */
import { ruleSetFromContent } from '../src/routing/rules-loader.js';
import { compileRuleSet, factsOf, matchRule } from '../src/routing/compiler.js';
import { select } from '../src/routing/selector.js';
import { MemoryFailureDetector } from '../src/routing/detector.js';
import { SuccessRateTracker } from '../src/routing/success-rate.js';
import { LinkBreakers } from '../src/routing/breakers.js';
import { RoutingEngine } from '../src/routing/engine.js';
import { seededRandom } from '../src/routing/backtest.js';
import type { AuthContext, RiskResult } from '../src/routing/types.js';
import { parseCli } from '../src/cli/args.js';

parseCli({
  name: 'bench:routing',
  usage: `usage: npm run bench:routing

Routing decision time with 1,000 rules, 50 terminals and 10,000 BIN ranges; a table, then one JSON line.
environment: BENCH_RULES (1000) rules, BENCH_N (200000) decisions timed
options: -h, --help   this text`,
  options: {},
});

const RULES = Number(process.env.BENCH_RULES ?? 1000);
const TERMINALS = 50;
const BINS = 10_000;
const N = Number(process.env.BENCH_N ?? 200_000);

const rnd = seededRandom(42);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
const CURRENCIES = ['978', '840', '826', '756', '752'];
const BRANDS = ['visa', 'mastercard', 'amex', 'discover', 'maestro'];
const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'IT', 'ES', 'NL', 'PL'];
const MCCS = ['5411', '5812', '5999', '4121', '4111', '5732', '4722', '5816'];
const PSPS = ['psp-1', 'psp-2', 'psp-3', 'psp-4'];
const link = { dialect: 'iso87-ascii', framer: 'ascii4', connections: 1, timeouts_ms: { connect: 1000, response: 5000 } };

function generate(): unknown {
  const acquirers = Array.from({ length: 5 }, (_, i) => ({ id: `acq-${i}`, link }));
  const terminals = Array.from({ length: TERMINALS }, (_, i) => ({
    id: `t-${i}`,
    acquirer: `acq-${i % 5}`,
    terminal_id: `T${String(i).padStart(7, '0')}`,
    merchant_id: `M${String(i).padStart(14, '0')}`,
    currencies: i % 3 === 0 ? CURRENCIES : [CURRENCIES[i % 5]!, CURRENCIES[(i + 1) % 5]!],
    ...(i % 4 === 0 ? { mccs: MCCS.slice(0, 5) } : {}),
    limits: { min_minor: 1, max_minor: 100_000 + i * 50_000 },
    fee_plan: 'std',
    three_ds: i % 2 === 0,
    risk_coverage: i % 3 === 0 ? 'low' : 'high',
  }));
  const merchants = Array.from({ length: 200 }, (_, i) => ({
    id: `SHOP${String(i).padStart(11, '0')}`,
    name: `m${i}`,
    mcc: pick(MCCS),
    country: pick(COUNTRIES),
    psps: [pick(PSPS)],
  }));
  const bins: unknown[] = [];
  for (let i = 0; i < BINS; i++) {
    const first = pick(['4', '5', '3', '6', '2']);
    if (i % 10 === 0)
      bins.push({
        prefix: first + String(Math.floor(rnd() * 100)).padStart(2, '0'),
        brand: pick(BRANDS),
        card_type: pick(['credit', 'debit', 'prepaid']),
        country: pick(COUNTRIES),
      });
    else {
      const lo = Math.floor(rnd() * 9_000_000);
      bins.push({
        range: [first + String(lo).padStart(7, '0'), first + String(lo + Math.floor(rnd() * 5000)).padStart(7, '0')],
        brand: pick(BRANDS),
        card_type: pick(['credit', 'debit', 'prepaid']),
        country: pick(COUNTRIES),
      });
    }
  }
  const rules: unknown[] = [];
  for (let i = 0; i < RULES - 1; i++) {
    const when: Record<string, unknown> = { currency: [pick(CURRENCIES)] };
    const kinds = ['amount', 'brand', 'bin_prefix', 'issuer_country', 'card_type', 'mcc', 'merchant', 'psp', 'time', 'metadata'];
    const nConds = 1 + Math.floor(rnd() * 3);
    for (let k = 0; k < nConds; k++) {
      switch (pick(kinds)) {
        case 'amount':
          when.amount = { min: Math.floor(rnd() * 5000), max: 5000 + Math.floor(rnd() * 500_000) };
          break;
        case 'brand':
          when.brand = [pick(BRANDS)];
          break;
        case 'bin_prefix':
          when.bin_prefix = [pick(['4', '5', '41', '52', '37'])];
          break;
        case 'issuer_country':
          when.issuer_country = [pick(COUNTRIES), pick(COUNTRIES)];
          break;
        case 'card_type':
          when.card_type = [pick(['credit', 'debit', 'prepaid'])];
          break;
        case 'mcc':
          when.mcc = [pick(MCCS), pick(MCCS)];
          break;
        case 'merchant':
          when.merchant = [pick(merchants).id];
          break;
        case 'psp':
          when.psp = [pick(PSPS)];
          break;
        case 'time':
          when.time = { from: '08:00', to: '20:00' };
          break;
        case 'metadata':
          when.metadata = { channel: pick(['ecom', 'pos', 'moto']) };
          break;
      }
    }
    const cands = Array.from({ length: 2 + Math.floor(rnd() * 3) }, (_, j) => ({
      terminal: `t-${Math.floor(rnd() * TERMINALS)}`,
      priority: 1 + (j >> 1),
      weight: 1 + Math.floor(rnd() * 9),
    }));
    const uniq = [...new Map(cands.map((c) => [c.terminal, c])).values()];
    rules.push(
      i % 97 === 0
        ? { id: `r${i}`, when, then: { decline: '57' } }
        : { id: `r${i}`, when, then: { terminals: uniq, ...(i % 5 === 0 ? { sticky: true } : {}) } },
    );
  }
  rules.push({
    id: 'default',
    default: true,
    then: {
      terminals: [
        { terminal: 't-0', priority: 1 },
        { terminal: 't-3', priority: 2 },
      ],
    },
  });
  return {
    acquirers: { acquirers },
    terminals: { terminals },
    merchants: { merchants },
    bins: { bins },
    routing: { rules },
    risk: { velocity: [{ key: 'card', window_s: 60, max_count: 10, level: 'high' }] },
  };
}

const content = generate();
const t0 = performance.now();
const ruleSet = ruleSetFromContent(content);
const tValidate = performance.now() - t0;
const t1 = performance.now();
const compiled = compileRuleSet(ruleSet);
const tCompile = performance.now() - t1;

const merchants = ruleSet.files.merchants.merchants;
const contexts: AuthContext[] = Array.from({ length: 4096 }, (_, i) => {
  const m = pick(merchants);
  return {
    bin: pick(['4', '5', '3', '6', '2']) + String(Math.floor(rnd() * 9_999_999)).padStart(7, '0'),
    cardToken: `card-${Math.floor(rnd() * 100_000)}`,
    amountMinor: Math.floor(rnd() * 200_000),
    currency: pick(CURRENCIES),
    merchantId: m.id,
    psp: m.psps[0]!,
    at: new Date(Date.UTC(2026, 0, 7, Math.floor(rnd() * 24), 0, 0, i)),
    metadata: { channel: pick(['ecom', 'pos', 'moto']) },
  };
});

// Check the input before timing.
const ruleHits = new Set<number>();
let routed = 0;
let declined = 0;
let binHits = 0;
for (const c of contexts) {
  const f = factsOf(compiled, c);
  if (f.bin) binHits++;
  const r = matchRule(compiled, f);
  if (!r) throw new Error('no rule matched: the set has a default rule');
  ruleHits.add(r.index);
  const d = select(compiled, c, { level: 'low', reasons: [] });
  if (d.kind === 'route') routed++;
  else declined++;
}
if (ruleHits.size < 50) throw new Error(`input too narrow: only ${ruleHits.size} rules hit`);
const maxIdx = Math.max(...ruleHits);

const detector = new MemoryFailureDetector();
const sr = new SuccessRateTracker();
const breakers = new LinkBreakers();
for (let i = 0; i < TERMINALS; i++) {
  for (let k = 0; k < 50; k++) {
    const tok = detector.start([`acq-${i % 5}`, `t-${i}`]);
    detector.finish(tok);
    sr.record(`t-${i}`, k % 10 !== 0);
  }
}
const deps = { health: detector, successRate: sr, breakers };
const RISK: RiskResult = { level: 'low', reasons: [] };

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function timeSync(fn: (i: number) => unknown, n: number): Float64Array {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    fn(i);
    out[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  return out.sort();
}

async function timeAsync(fn: (i: number) => Promise<unknown>, n: number): Promise<Float64Array> {
  for (let i = 0; i < 5000; i++) await fn(i);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    await fn(i);
    out[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  return out.sort();
}

const mask = contexts.length - 1;
const sel = timeSync((i) => select(compiled, contexts[i & mask]!, RISK, deps), N);
const bare = timeSync((i) => select(compiled, contexts[i & mask]!, RISK), N);
// Worst case: nothing but the default rule matches, so every rule listed for the currency is tried.
const nomatch: AuthContext = {
  bin: '99999999',
  cardToken: 'x',
  amountMinor: 999_999_999,
  currency: '978',
  merchantId: 'NONE',
  psp: 'psp-none',
  at: new Date(Date.UTC(2026, 0, 7, 3)),
  metadata: { channel: 'none' },
};
if (matchRule(compiled, factsOf(compiled, nomatch))!.id !== 'default') throw new Error('worst-case context should reach the default rule');
const worst = timeSync(() => select(compiled, nomatch, RISK, deps), Math.min(N, 50_000));
const binT = timeSync((i) => compiled.bins.lookup(contexts[i & mask]!.bin), N);
const engine = new RoutingEngine({ rules: compiled, ...deps });
const eng = await timeAsync((i) => engine.decide(contexts[i & mask]!), Math.min(N, 50_000));
breakers.shutdown();

const row = (name: string, s: Float64Array): string =>
  `${name.padEnd(44)} ${percentile(s, 0.5).toFixed(2).padStart(8)} ${percentile(s, 0.99).toFixed(2).padStart(8)} ${percentile(s, 0.999).toFixed(2).padStart(8)}`;
console.log(
  `rules ${RULES} (deepest hit #${maxIdx}, ${ruleHits.size} distinct), terminals ${TERMINALS}, BIN ranges ${BINS} (${compiled.bins.segmentCount} segments), contexts ${contexts.length}: ${routed} routed, ${declined} declined, ${binHits} BIN hits`,
);
console.log(`validate ${tValidate.toFixed(1)} ms, compile ${tCompile.toFixed(1)} ms`);
console.log(`${'µs per call'.padEnd(44)} ${'median'.padStart(8)} ${'p99'.padStart(8)} ${'p99.9'.padStart(8)}`);
console.log(row('select (detector + success rate + breakers)', sel));
console.log(row('select (perfect health)', bare));
console.log(row('select, only the default rule matches', worst));
console.log(row('BIN lookup', binT));
console.log(row('engine.decide (risk + select, async)', eng));
console.log(
  JSON.stringify({
    decision_median_us: Number(percentile(sel, 0.5).toFixed(3)),
    decision_p99_us: Number(percentile(sel, 0.99).toFixed(3)),
    engine_median_us: Number(percentile(eng, 0.5).toFixed(3)),
    engine_p99_us: Number(percentile(eng, 0.99).toFixed(3)),
    worst_case_median_us: Number(percentile(worst, 0.5).toFixed(3)),
    bin_lookup_median_us: Number(percentile(binT, 0.5).toFixed(3)),
    target_median_us: 10,
    median_vs_target: Number((percentile(sel, 0.5) / 10).toFixed(3)),
    rules: RULES,
    terminals: TERMINALS,
    bin_ranges: BINS,
  }),
);
