/**
 * The stored explanation (src/routing/explanation-codec.ts): what is encoded decodes to the same decision
 * (scores to 4 decimals, the rules hash to 16 hex digits), for any text the rules could hold, and the encoding
 * never holds a character a record parameter would have to escape.
 */
import t from 'tap';
import fc from 'fast-check';
import { decodeExplanation, encodeExplanation } from '../../src/routing/explanation-codec.js';
import type { Explanation } from '../../src/routing/types.js';

const text = fc.oneof(fc.string(), fc.constantFrom('', '~', '%', '|', ':', ';', 'a,b', '(x)', 'q"uote', 'back\\slash', 'Test Bank', 'Zürich €', '%41'));
const score = fc.double({ min: 0, max: 1, noNaN: true });
const explanation: fc.Arbitrary<Explanation> = fc.record({
  rulesVersion: fc.option(fc.nat(), { nil: null }),
  rulesHash: fc.stringMatching(/^[0-9a-f]{64}$/),
  ruleId: fc.option(text, { nil: null }),
  risk: fc.record({ level: fc.constantFrom('trusted', 'low', 'high', 'fatal'), reasons: fc.array(text, { maxLength: 3 }) }),
  bin: fc.option(fc.record({ brand: text, card_type: fc.constantFrom('credit', 'debit', 'prepaid'), country: text, issuer: text }), { nil: null }),
  candidates: fc.array(
    fc.record(
      {
        terminal: text,
        acquirer: text,
        priority: fc.nat(9),
        weight: fc.nat(100),
        alive: fc.boolean(),
        failureScore: score,
        successRate: score,
        lotteryWinner: fc.boolean(),
        pinned: fc.boolean(),
        probe: fc.constant(true),
        forcedUp: fc.constant(true),
        lacking: fc.constant(true),
      },
      { requiredKeys: ['terminal', 'acquirer', 'priority', 'weight', 'alive', 'failureScore', 'successRate', 'lotteryWinner', 'pinned'] },
    ),
    { maxLength: 4 },
  ),
  rejected: fc.array(
    fc.record({ terminal: text, reason: fc.constantFrom('currency', 'mcc', 'dead', 'risk_coverage', 'drained', 'forced_down'), detail: text }),
    { maxLength: 3 },
  ),
  ideal: fc.option(text, { nil: null }),
}) as fc.Arbitrary<Explanation>;

const round = (x: number) => Math.round(x * 10_000) / 10_000;

t.test('round trip for any explanation; nothing to escape in a record', async (t) => {
  fc.assert(
    fc.property(explanation, (e) => {
      const s = encodeExplanation(e);
      if (/[,()"\\\s]/.test(s)) throw new Error(`needs escaping: ${s}`);
      const d = decodeExplanation(s)!;
      const want = {
        ...e,
        rulesHash: e.rulesHash.slice(0, 16),
        candidates: e.candidates.map((c) => ({ ...c, failureScore: round(c.failureScore), successRate: round(c.successRate) })),
      };
      t.same(d, want);
    }),
    { numRuns: 500, seed: 42 },
  );
});

t.test('a three-candidate decision stays small; the object form of older rows decodes', async (t) => {
  const e: Explanation = {
    rulesVersion: 1,
    rulesHash: '88d16c62a7f3fd032b5ddaa98a822681eeda184b7ee4036f0a2934d6ccbf6d61',
    ruleId: 'eur',
    risk: { level: 'high', reasons: ['country_mismatch'] },
    bin: { brand: 'visa', card_type: 'credit', country: 'US', issuer: 'Test Bank' },
    candidates: [
      { terminal: 'b-eur-1', acquirer: 'acq-b', priority: 1, weight: 50, alive: true, failureScore: 0, successRate: 1, lotteryWinner: true, pinned: false },
      { terminal: 'a-eur-1', acquirer: 'acq-a', priority: 1, weight: 50, alive: true, failureScore: 0, successRate: 1, lotteryWinner: false, pinned: false },
      { terminal: 'c-eur-1', acquirer: 'acq-c', priority: 2, weight: 1, alive: true, failureScore: 0, successRate: 1, lotteryWinner: true, pinned: false },
    ],
    rejected: [],
    ideal: 'b-eur-1',
  };
  const s = encodeExplanation(e);
  t.ok(s.length < 250, `${s.length} characters (the object is ${JSON.stringify(e).length})`);
  t.same(decodeExplanation(JSON.stringify(e)), e, 'rows of the first layout keep the object');
  t.equal(decodeExplanation(null), null);
  t.throws(() => decodeExplanation('9|x'), /format 9/);
});
