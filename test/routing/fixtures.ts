import { ruleSetFromContent } from '../../src/routing/rules-loader.js';
import { compileRuleSet, type CompiledRules } from '../../src/routing/compiler.js';
import type { AuthContext, RoutingRule, RuleFiles } from '../../src/routing/types.js';

const link = (dialect: string, framer: string) => ({ dialect, framer, connections: 1, timeouts_ms: { connect: 1000, response: 2000 } });

/** A small rule set for table tests; `rules` come before the default rule (→ t-default). */
export function fixtureFiles(rules: RoutingRule[], patch?: (f: RuleFiles) => void): RuleFiles {
  const f = {
    acquirers: {
      acquirers: [
        { id: 'acq-a', link: link('iso87-ascii', 'ascii4') },
        { id: 'acq-b', link: link('iso87-binary', 'binary2') },
        { id: 'acq-c', link: link('iso87-ebcdic', 'bcd2') },
      ],
    },
    terminals: {
      terminals: [
        { id: 't1', acquirer: 'acq-a', terminal_id: 'T0000001', merchant_id: 'M00000000000001', currencies: ['978', '840'], limits: { min_minor: 1, max_minor: 100000 }, fee_plan: 'std', three_ds: true, risk_coverage: 'high' },
        { id: 't2', acquirer: 'acq-b', terminal_id: 'T0000002', merchant_id: 'M00000000000002', currencies: ['978'], mccs: ['5411'], limits: { max_minor: 100000 }, fee_plan: 'std', three_ds: false, risk_coverage: 'low' },
        { id: 't3', acquirer: 'acq-b', terminal_id: 'T0000003', merchant_id: 'M00000000000003', currencies: ['978', '840'], limits: { min_minor: 500, max_minor: 1000 }, fee_plan: 'std', three_ds: false, risk_coverage: 'low' },
        { id: 't4', acquirer: 'acq-c', terminal_id: 'T0000004', merchant_id: 'M00000000000004', currencies: ['978'], limits: { max_minor: 100000 }, fee_plan: 'std', three_ds: false, risk_coverage: 'high', enabled: false },
        { id: 't5', acquirer: 'acq-c', terminal_id: 'T0000005', merchant_id: 'M00000000000005', currencies: ['978', '840'], limits: { max_minor: 100000 }, fee_plan: 'std', three_ds: true, risk_coverage: 'high' },
        { id: 't-default', acquirer: 'acq-a', terminal_id: 'T0000009', merchant_id: 'M00000000000009', currencies: ['978', '840', '826'], limits: { max_minor: 10000000 }, fee_plan: 'std', three_ds: true, risk_coverage: 'high' },
      ],
    },
    merchants: {
      merchants: [
        { id: 'SHOP1', name: 'Grocer', mcc: '5411', country: 'DE', psps: ['psp1'] },
        { id: 'SHOP2', name: 'Taxi', mcc: '4121', country: 'FR', psps: ['psp2'] },
      ],
    },
    bins: {
      bins: [
        { prefix: '4', brand: 'visa', card_type: 'credit', country: 'US' },
        { prefix: '4000', brand: 'visa', card_type: 'debit', issuer: 'Euro', country: 'DE' },
        { range: ['51', '55'], brand: 'mastercard', card_type: 'credit', country: 'GB' },
        { prefix: '6011', brand: 'discover', card_type: 'prepaid', country: 'US' },
      ],
    },
    routing: { rules: [...rules, { id: 'default', default: true, then: { terminals: [{ terminal: 't-default', priority: 1 }] } }] },
    risk: { fallback_level: 'high' },
  } as unknown as RuleFiles;
  patch?.(f);
  return f;
}

export function fixture(rules: RoutingRule[], patch?: (f: RuleFiles) => void): CompiledRules {
  return compileRuleSet(ruleSetFromContent(fixtureFiles(rules, patch)));
}

/** Wednesday 2026-01-07 12:00 UTC. */
export const NOON = new Date('2026-01-07T12:00:00Z');

export function ctx(over: Partial<AuthContext> = {}): AuthContext {
  return {
    bin: '40000012',
    cardToken: 'tok-1',
    amountMinor: 700,
    currency: '978',
    merchantId: 'SHOP1',
    psp: 'psp1',
    at: NOON,
    ...over,
  };
}
