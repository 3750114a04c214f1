import t from 'tap';
import fc from 'fast-check';
import { select, type HealthView } from '../../src/routing/selector.js';
import { RISK_ORDER, COVERAGE_MAX, type RiskLevel } from '../../src/routing/types.js';
import { fixture, ctx } from './fixtures/rules.js';
import { propertyHolds } from '../helpers/seed.js';

const TERMS = ['t1', 't2', 't3', 't4', 't5', 't-default'];

t.test('invariants: routes pass the terms, are unique, live ones by priority before dead ones; decisions are total', async (t) => {
  const arbCandidates = fc.uniqueArray(
    fc.record({ terminal: fc.constantFrom(...TERMS), priority: fc.integer({ min: 1, max: 3 }), weight: fc.integer({ min: 0, max: 5 }) }),
    { minLength: 1, maxLength: 6, selector: (c) => c.terminal },
  );
  await propertyHolds(
    t,
    fc.property(
      arbCandidates,
      fc.boolean(),
      fc.constantFrom<RiskLevel>('trusted', 'low', 'high', 'fatal'),
      fc.integer({ min: 0, max: 200_000 }),
      fc.constantFrom('978', '840', '826'),
      fc.constantFrom(undefined, '5411', '5812'),
      fc.subarray(['acq-a', 'acq-b', 'acq-c', ...TERMS]),
      fc.string({ minLength: 1, maxLength: 12 }),
      (cands, sticky, level, amount, currency, mcc, dead, token) => {
        const rules = fixture([{ id: 'r', when: { psp: ['psp1'] }, then: sticky ? { sticky, terminals: cands } : { terminals: cands } }]);
        const health: HealthView = { isAlive: (id) => !dead.includes(id), failureScore: (id) => (dead.includes(id) ? 1 : 0), tryProbe: () => false };
        const c = ctx({ amountMinor: amount, currency, cardToken: token, ...(mcc ? { mcc } : {}) });
        const d = select(rules, c, { level, reasons: [] }, { health });
        if (level === 'fatal') return d.kind === 'decline';
        const e = d.explanation;
        if (e.ruleId !== 'r') return false;
        const seen = new Set<string>();
        if (d.kind === 'route') {
          const isDead = (r: { terminal: string; acquirer: string }): boolean => dead.includes(r.terminal) || dead.includes(r.acquirer);
          const anyAlive = d.routes.some((r) => !isDead(r));
          let lastPriority = 0;
          let inDeadTail = false;
          for (const r of d.routes) {
            // with a live route, the dead ones come after every live one, never before (by health, not priority)
            if (anyAlive && isDead(r)) inDeadTail = true;
            else if (inDeadTail) return false;
            if (seen.has(r.terminal)) return false;
            seen.add(r.terminal);
            const term = rules.terminals.get(r.terminal)!;
            if (!term.enabled || !term.currencies.has(currency)) return false;
            if (amount < term.min || amount > term.max) return false;
            if (RISK_ORDER[level] > COVERAGE_MAX[term.def.risk_coverage]) return false;
            if (inDeadTail) continue;
            const p = cands.find((x) => x.terminal === r.terminal)!.priority;
            if (p < lastPriority) return false;
            lastPriority = p;
          }
          if (!e.ideal) return false;
        }
        // Every candidate is either routed or rejected with a reason.
        const accounted = new Set([...seen, ...e.rejected.map((r) => r.terminal)]);
        return cands.every((x) => accounted.has(x.terminal)) && (d.kind === 'route' || d.code === '92');
      },
    ),
    { numRuns: 2000, seed: 2000 },
    'routes pass the terms, unique, live by priority then the dead; every candidate accounted for',
  );
});

t.test('the rule index finds the same first match as a linear scan (random rule sets)', async (t) => {
  const { matchRuleLinear, factsOf } = await import('../../src/routing/compiler.js');
  const cond = fc.record(
    {
      currency: fc.subarray(['978', '840', '826'], { minLength: 1 }),
      brand: fc.subarray(['visa', 'mastercard', 'discover'], { minLength: 1 }),
      card_type: fc.subarray(['credit', 'debit', 'prepaid'] as const, { minLength: 1 }),
      issuer_country: fc.subarray(['US', 'DE', 'GB'], { minLength: 1 }),
      mcc: fc.subarray(['5411', '4121', '5812'], { minLength: 1 }),
      merchant: fc.subarray(['SHOP1', 'SHOP2'], { minLength: 1 }),
      psp: fc.subarray(['psp1', 'psp2'], { minLength: 1 }),
      amount: fc.record({ min: fc.integer({ min: 0, max: 500 }), max: fc.integer({ min: 500, max: 2000 }) }),
      bin_prefix: fc.subarray(['4', '4000', '5', '6011'], { minLength: 1 }),
    },
    { requiredKeys: [] },
  );
  const arbRules = fc.array(fc.record({ when: cond, unless: fc.option(cond, { nil: undefined }) }), { minLength: 1, maxLength: 80 });
  const arbCtx = fc.record({
    currency: fc.constantFrom('978', '840', '826', '752'),
    bin: fc.constantFrom('40000012', '41111111', '52000000', '60110000', '99999999'),
    mcc: fc.constantFrom(undefined, '5411', '4121', '7995'),
    merchantId: fc.constantFrom('SHOP1', 'SHOP2', 'OTHER'),
    psp: fc.constantFrom('psp1', 'psp2', 'psp3'),
    amountMinor: fc.integer({ min: 0, max: 3000 }),
  });
  await propertyHolds(
    t,
    fc.property(arbRules, fc.array(arbCtx, { minLength: 1, maxLength: 20 }), (rs, cs) => {
      const rules = fixture(
        rs.map((r, i) => {
          const when = Object.keys(r.when).length > 0 ? r.when : { psp: ['psp1', 'psp2', 'psp3'] };
          return { id: `r${i}`, when, ...(r.unless && Object.keys(r.unless).length > 0 ? { unless: r.unless } : {}), then: { decline: '05' } };
        }),
      );
      for (const c of cs) {
        const f = factsOf(rules, ctx(c.mcc === undefined ? { ...c, mcc: undefined } : c));
        if (rules.match(f)?.id !== matchRuleLinear(rules, f)?.id) return false;
      }
      return true;
    }),
    { numRuns: 300, seed: 300 },
    'index ≡ linear scan',
  );
});
